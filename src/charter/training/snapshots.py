"""Snapshots of a training run's weights at chosen steps (``charter train|adapt --snapshot-every N``), and their
registration as models (``charter eval --sweep RUN_DIR``).

    RUN/snapshots/step-N/      the model's weights (safetensors) and config, with the run's tokenizer: a model folder
                               (a LoRA run's: the adapter, as its final/ holds it)
    RUN/snapshots/step-N.json  {step, tokens, loss, sha256, digest, files}: training tokens seen, and the folder's digest
    RUN/result.json            "snapshots": the same records, in step order, once the run has finished

Weights only (no optimizer state) and no pickle. Each folder is written beside its final place and moved
there whole, so a snapshot is complete or absent; a resumed run first deletes the snapshots past the step it
resumes from (they are written again, identically, as it passes them). ``snapshot_every`` is part of the run's
config, hashed with the rest, and recorded only when set, so runs without snapshots keep the hash they had.

Registering a run's snapshots (``register``) reads the finished run's ``result.json``, checks each folder
against the digest the run recorded (a tampered snapshot is refused, naming the file), and registers
``model/<final name>-step-<N>@<final version>`` with the final model's licences, lineage (a LoRA snapshot is an
``adapter-of`` the same base, its weights a ``peft-lora`` record over the same base folder) and declared uses,
so evaluating a snapshot is decided as evaluating the final model is, and with ``notes.run.metrics.tokens``
(training tokens seen) for ``charter eval --trend --x tokens``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.ids import make_id
from charter.core.runs import atomic_write
from charter.errors import CharterError, IntegrityError, InvalidInput

FOLDER = "snapshots"
KINDS = ("train", "adapt")  # the runs that keep snapshots


def folder(run: Path, step: int) -> Path:
    return Path(run) / FOLDER / f"step-{step}"


def due(step: int, every: int | None) -> bool:
    """Whether step ``step`` (1-based, after its update) is snapshotted: every ``every``-th step."""
    return bool(every) and step % every == 0


def write(run: Path, step: int, tokens: int, loss: float | None, model, tok=None) -> dict:
    """Save ``model``'s weights (safetensors) and ``tok`` (when given) as ``RUN/snapshots/step-N`` and its record beside it."""
    from charter.core.digests import weights_digest

    final = folder(run, step)
    tmp = final.with_name(f".{final.name}.tmp")  # a dot-folder: never mistaken for a snapshot
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    if tok is not None:
        tok.save_pretrained(tmp)
    d = weights_digest(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    record = {"step": step, "tokens": tokens, "loss": loss, "path": f"{FOLDER}/{final.name}", **d}
    atomic_write(final.with_suffix(".json"), json.dumps(record, indent=2, sort_keys=True))
    return record


def trim(run: Path, step: int) -> None:
    """Delete the snapshots past ``step`` (a resumed run writes them again) and any half-written one."""
    root = Path(run) / FOLDER
    if not root.is_dir():
        return
    for p in root.iterdir():
        if p.name.startswith("."):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            continue
        n = _step_of(p)
        if n is not None and n > step:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def records(run: Path) -> list[dict]:
    """The snapshot records on disk, in step order (what the run's result.json lists once it finishes)."""
    root = Path(run) / FOLDER
    if not root.is_dir():
        return []
    out = [json.loads(p.read_text()) for p in root.glob("step-*.json") if _step_of(p) is not None]
    return sorted(out, key=lambda r: r["step"])


def _step_of(p: Path) -> int | None:
    name = p.name[:-5] if p.name.endswith(".json") else p.name
    n = name.removeprefix("step-")
    return int(n) if name.startswith("step-") and n.isdigit() else None


# --- a run folder's snapshots as models ----------------------------------------------------------------
def is_run_folder(p) -> bool:
    """A folder a run staked (its config.json holds {hash, config})."""
    try:
        doc = json.loads((Path(p) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "hash" in doc and isinstance(doc.get("config"), dict)


def read(run: Path) -> tuple[dict, list[dict]]:
    """(the finished run's result, its snapshot records): refused, with the fix, when the folder is not a
    finished ``charter train`` run that kept snapshots."""
    run = Path(run)
    if not run.is_dir():
        raise InvalidInput("not a folder", hint="pass the --out folder of a `charter train --snapshot-every N` run", where=str(run))
    if not is_run_folder(run):
        raise InvalidInput("not a run folder (no run config.json)", hint="pass the --out folder of a `charter train --snapshot-every N` run",
                           where=str(run))
    config = json.loads((run / "config.json").read_text())["config"]
    kind = config.get("kind")
    if kind not in KINDS:
        raise InvalidInput(f"holds a `charter {kind or '?'}` run, not a `charter train` or `charter adapt` run",
                           hint="pass the --out folder of a `charter train --snapshot-every N` run", where=str(run))
    if not (run / "result.json").exists():
        raise InvalidInput("the run has not finished (no result.json)", hint=f"finish it: re-run the same `charter {kind}` command (it resumes)",
                           where=str(run))
    result = json.loads((run / "result.json").read_text())
    snaps = result.get("snapshots") or []
    if not snaps:
        raise InvalidInput("the run kept no snapshots", where=str(run),
                           hint="train again into a new --out folder with --snapshot-every N (the option is part of a run's config)")
    if not result.get("model"):
        raise InvalidInput("the run's result.json names no registered model", hint="train again with this version of charter", where=str(run))
    return result, snaps


def verify(run: Path, rec: dict) -> Path:
    """The snapshot's folder, after checking it still has the digest the run recorded (IntegrityError naming the file)."""
    from charter.core.digests import weights_digest

    f = Path(run) / rec["path"]
    fix = "restore the run folder as training wrote it, or train again into a new --out folder"
    if not f.is_dir():
        raise IntegrityError(f"snapshot step {rec['step']} is missing", hint=fix, where=str(f))
    now = weights_digest(f)
    if now["sha256"] == rec["sha256"]:
        return f
    found = {x["path"]: x["sha256"] for x in now["files"]}
    for x in rec["files"]:
        got = found.pop(x["path"], None)
        if got != x["sha256"]:
            what = "is missing" if got is None else f"changed since training wrote it (recorded sha256 {x['sha256']}, found {got})"
            raise IntegrityError(f"snapshot step {rec['step']}: {x['path']} {what}", hint=fix, where=str(f / x["path"]))
    raise IntegrityError(f"snapshot step {rec['step']}: {min(found)} was added since training wrote it", hint=fix, where=str(f / min(found)))


def snapshot_id(final: str, step: int) -> str:
    kind_name, version = final.rsplit("@", 1)
    return make_id("model", f"{kind_name.split('/', 1)[1]}-step-{step}", version)


def ids(run: Path) -> list[str]:
    """The ids ``register`` gives the run's snapshots, in step order (nothing is verified or registered)."""
    result, snaps = read(run)
    return [snapshot_id(result["model"], r["step"]) for r in snaps]


def register(reg, run: Path) -> list[Asset]:
    """Each snapshot of the finished run ``run`` registered as a model, in step order (already registered ones
    unchanged). Its lineage, licences and declared uses are the run's final model's."""
    from charter.models.weights import Weights, WeightsFile, config_dtype

    run = Path(run)
    result, snaps = read(run)
    try:
        final = reg.get(result["model"])
    except CharterError as e:
        raise InvalidInput(f"the run trained {result['model']}, which this registry does not hold ({e})",
                           hint="pass the --registry that `charter train` registered it in", where=str(run)) from None
    steps = (final.notes.get("run") or {}).get("metrics", {}).get("steps")
    params = (final.notes.get("run") or {}).get("metrics", {}).get("parameters")
    fw = Weights.of(final)
    adapter = {"format": "peft-lora", "base_path": fw.base_path, "base_adapter": fw.base_adapter} if fw and fw.is_adapter else {}
    out = []
    for rec in snaps:
        f = verify(run, rec)
        files = tuple(WeightsFile(x["path"], x["sha256"], x["bytes"]) for x in rec["files"])
        w = Weights(path=str(f.resolve()), sha256=rec["sha256"], digest=rec["digest"], files=files,
                    dtype=config_dtype(f), size=sum(x.bytes for x in files), **({"format": "hf"} | adapter))
        aid = snapshot_id(final.id, rec["step"])
        metrics = {"steps": rec["step"], "tokens": rec["tokens"], **({"parameters": params} if params else {})}
        out.append(Asset(id=aid, kind="model", name=aid.split("/", 1)[1].rsplit("@", 1)[0], version=final.version,
                         description=f"Step {rec['step']}{f' of {steps}' if steps else ''} ({rec['tokens']:,} training tokens) of the run that trained {final.id}",
                         licenses=final.licenses, allow=final.allow, deny=final.deny, duties=final.duties, requires=final.requires,
                         derived_from=tuple(Edge(aid, e.parent, e.relation) for e in final.derived_from),
                         notes={"weights": w.to_json(), "declared_uses": list(final.notes.get("declared_uses") or ()),
                                "snapshot_of": final.id,
                                "run": {"folder": str(run.resolve()), "config_hash": result.get("config_hash"), "step": rec["step"],
                                        "metrics": metrics}}))
    reg.add(out)
    return out
