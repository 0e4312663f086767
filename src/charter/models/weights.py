"""A registered model's weights, typed: what ``asset.notes["weights"]`` holds, parsed strictly.

The record stays a plain dict in the asset's notes (so registries written before this type, content
digests and verification read it unchanged); ``Weights.of`` parses it and ``Weights.to_json`` writes it.

    path          the weights folder (absolute)
    sha256        its folder digest (``folder-v2``), or the legacy folder hash when ``digest`` is absent
    digest        "folder-v2", or absent for registrations made before it
    files         [{path, sha256, bytes}] per file (folder-v2 only), so a failed check names the file
    format        "hf" (a model folder) or "peft-lora" (an adapter over its ``adapter-of`` parent)
    dtype, size   config.json's dtype and the total bytes (recorded from this version on)
    source        where the weights came from (free text; optional)
    base_path, base_adapter   a LoRA adapter's base folder and base adapter, as ``charter adapt`` recorded them

Nothing here imports torch: the gateway's gate and the registry's callers parse weights on the decision path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from charter.errors import InvalidInput

FORMATS = ("hf", "peft-lora")
Format = Literal["hf", "peft-lora"]
_KEYS = ("path", "sha256", "digest", "files", "format", "source", "base_path", "base_adapter", "dtype", "size")
_REGISTER = "register the weights again with `charter model add` (it records them)"


@dataclass(frozen=True)
class WeightsFile:
    path: str  # relative to the weights folder, POSIX
    sha256: str
    bytes: int

    def to_json(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True)
class Weights:
    path: str
    format: Format
    sha256: str
    digest: str | None = None  # "folder-v2"; None: a legacy registration (verified with the legacy folder hash)
    files: tuple[WeightsFile, ...] | None = None  # None: not recorded (legacy)
    dtype: str | None = None
    size: int | None = None  # total bytes of ``files``; None: not recorded (before dtype and size were)
    source: str | None = None
    base_path: str | None = None  # peft-lora only: stored together
    base_adapter: str | None = None

    @property
    def folder(self) -> Path:
        return Path(self.path)

    @property
    def is_adapter(self) -> bool:
        return self.format == "peft-lora"

    @classmethod
    def of(cls, asset) -> Weights | None:
        """The asset's registered weights, or None when it has none. A malformed record is an InvalidInput
        naming the asset and the field (``notes.weights.FIELD``)."""
        w = (asset.notes or {}).get("weights")
        if w is None:
            return None
        return cls.from_json(w, asset.id)

    @classmethod
    def from_json(cls, w, asset_id: str = "") -> Weights:
        def bad(field: str, what: str) -> InvalidInput:
            who = f"{asset_id}'s" if asset_id else "the"
            return InvalidInput(f"{who} registered weights {what}", field=f"notes.weights{'.' + field if field else ''}", hint=_REGISTER)

        if not isinstance(w, dict):
            raise bad("", f"are a {type(w).__name__}, not a mapping")
        unknown = sorted(set(w) - set(_KEYS), key=str)
        if unknown:
            raise bad(str(unknown[0]), "have a field charter does not know")

        def text(field: str, required: bool = False) -> str | None:
            v = w.get(field)
            if v is None:
                if required:
                    raise bad(field, "have no " + field)
                return None
            if not isinstance(v, str) or not v:
                raise bad(field, f"have a {field} that is not a non-empty string")
            return v

        path, sha256 = text("path", True), text("sha256", True)
        fmt = w.get("format", "hf")  # registrations older than formats are Hugging Face folders
        if fmt not in FORMATS:
            raise bad("format", f"have format {fmt!r}, not one of {', '.join(FORMATS)}")
        files = None
        if "files" in w:
            if not isinstance(w["files"], list):
                raise bad("files", "have files that are not a list")
            files = tuple(_file(f, i, bad) for i, f in enumerate(w["files"]))
        size = w.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise bad("size", "have a size that is not a whole number of bytes")
        base_path, base_adapter = text("base_path"), text("base_adapter")
        if (base_path is not None or "base_adapter" in w) and fmt != "peft-lora":
            raise bad("base_path" if base_path is not None else "base_adapter", "name a base but are not a peft-lora adapter")
        return cls(path=path, format=fmt, sha256=sha256, digest=text("digest"), files=files, dtype=text("dtype"), size=size,
                   source=text("source"), base_path=base_path, base_adapter=base_adapter)

    def to_json(self) -> dict:
        """The dict stored in ``notes["weights"]`` (``Weights.from_json(w.to_json()) == w``, and for every record
        charter writes, ``Weights.of(a).to_json() == a.notes["weights"]``)."""
        out: dict = {"path": self.path, "sha256": self.sha256}
        if self.digest is not None:
            out["digest"] = self.digest
        if self.files is not None:
            out["files"] = [f.to_json() for f in self.files]
        out["format"] = self.format
        if self.source is not None:
            out["source"] = self.source
        if self.base_path is not None or self.base_adapter is not None:
            out["base_path"] = self.base_path
            out["base_adapter"] = self.base_adapter
        if self.dtype is not None:
            out["dtype"] = self.dtype
        if self.size is not None:
            out["size"] = self.size
        return out

    @classmethod
    def register(cls, folder: Path, format: Format = "hf", source: str | None = None,
                 base_path: str | None = None, base_adapter: str | None = None) -> Weights:
        """What registering ``folder`` records: its ``folder-v2`` digest and files, its dtype (config.json's
        ``torch_dtype`` or ``dtype``, when it has one) and total size."""
        from charter.core.digests import weights_digest

        folder = Path(folder)
        d = weights_digest(folder)
        files = tuple(WeightsFile(f["path"], f["sha256"], f["bytes"]) for f in d["files"])
        return cls(path=str(folder.resolve()), format=format, sha256=d["sha256"], digest=d["digest"], files=files,
                   dtype=config_dtype(folder), size=sum(f.bytes for f in files), source=source,
                   base_path=base_path, base_adapter=base_adapter)


def _file(f, i: int, bad) -> WeightsFile:
    if not isinstance(f, dict) or set(f) != {"path", "sha256", "bytes"}:
        raise bad(f"files[{i}]", "list a file that is not {path, sha256, bytes}")
    if not isinstance(f["path"], str) or not f["path"] or not isinstance(f["sha256"], str) or not f["sha256"]:
        raise bad(f"files[{i}]", "list a file without a path or sha256")
    if isinstance(f["bytes"], bool) or not isinstance(f["bytes"], int) or f["bytes"] < 0:
        raise bad(f"files[{i}].bytes", "list a file whose bytes is not a whole number")
    return WeightsFile(f["path"], f["sha256"], f["bytes"])


def config_dtype(folder: Path) -> str | None:
    """config.json's ``torch_dtype`` (``dtype`` in newer transformers), or None (no config, or none recorded)."""
    try:
        cfg = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict):
        return None
    v = cfg.get("torch_dtype") or cfg.get("dtype")
    return v if isinstance(v, str) and v else None


__all__ = ["FORMATS", "Weights", "WeightsFile", "config_dtype"]
