"""Run folders: config + hash, metrics per step (JSONL), checkpoints, final hashes; resume.

    run/config.json        the run's config and its sha256 (a changed config refuses to resume)
    run/metrics.jsonl      one JSON object per step: step, loss, tokens, tokens_per_s, lr
    run/checkpoint/        the latest checkpoint (weights + optimizer + step), replaced atomically
    run/final/             the final model (safetensors), with hashes in run/result.json
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from charter.core import files

from charter.errors import Conflict


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


@dataclass
class RunFolder:
    path: Path
    config: dict
    _metrics_file: IO | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def hash(self) -> str:
        return config_hash(self.config)

    def open(self) -> "RunFolder":
        """Create the folder, or check that an existing one holds this same config."""
        files.check_out_folder(self.path)
        cfg = self.path / "config.json"
        if cfg.exists():
            prior = json.loads(cfg.read_text())
            if prior.get("hash") != self.hash:
                raise Conflict(f"{self.path} holds a run with another config ({prior.get('hash', '?')[:12]}, this one {self.hash[:12]})",
                               hint="use a new --out folder, or delete this one to start over", where=str(self.path))
        elif self.path.exists() and any(self.path.iterdir()):
            raise Conflict(f"{self.path} already holds other files", hint="use a new or empty --out folder", where=str(self.path))
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            _atomic(cfg, json.dumps({"hash": self.hash, "config": self.config}, indent=2, sort_keys=True))
        return self

    def log(self, row: dict) -> None:
        f = self._metrics_file
        if f is None or f.closed:  # opened once: an open per row costs ~0.4 ms where syscalls are slow
            f = self._metrics_file = open(self.path / "metrics.jsonl", "a")
        f.write(json.dumps(row, sort_keys=True) + "\n")
        f.flush()  # every row is in the file before the next step (an interrupted run keeps it)

    def close(self) -> None:
        if self._metrics_file is not None:
            self._metrics_file.close()

    def metrics(self) -> list[dict]:
        p = self.path / "metrics.jsonl"
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    def save_checkpoint(self, write) -> None:
        """``write(folder)`` fills a temporary folder, which then replaces the checkpoint."""
        tmp = self.path / "checkpoint.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        write(tmp)
        old = self.path / "checkpoint.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.checkpoint.exists():
            os.replace(self.checkpoint, old)
        os.replace(tmp, self.checkpoint)
        shutil.rmtree(old, ignore_errors=True)

    def trim_metrics(self, step: int) -> None:
        """Drop metric rows past the checkpoint's step (they will be recomputed on resume)."""
        self.close()  # the file is replaced: an open handle would write to the old one
        rows = [r for r in self.metrics() if r.get("step", 0) <= step]
        _atomic(self.path / "metrics.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    def result(self, data: dict) -> None:
        _atomic(self.path / "result.json", json.dumps(data, indent=2, sort_keys=True))


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- checkpoints without pickle --------------------------------------------------------------
# A checkpoint is tensors (safetensors) plus a JSON skeleton of everything else: loading it can
# never run code, unlike torch.load of a pickle, which a crafted checkpoint turns into code execution.
STATE_TENSORS, STATE_JSON = "state.safetensors", "state.json"


def save_state(folder: Path, state) -> None:
    """Write a nested state (dicts with any JSON-able keys, lists, tuples, tensors, numbers, strings)."""
    from safetensors.torch import save_file

    tensors: dict = {}
    skeleton = _flatten(state, tensors)
    save_file(tensors, str(Path(folder) / STATE_TENSORS))
    (Path(folder) / STATE_JSON).write_text(json.dumps(skeleton))


def load_state(folder: Path):
    """The state ``save_state`` wrote, or None when the folder has none. A pickled checkpoint
    (``state.pt``, older runs) is refused, never loaded."""
    from safetensors.torch import load_file

    from charter.errors import InvalidInput

    folder = Path(folder)
    if (folder / "state.pt").exists() and not (folder / STATE_JSON).exists():
        raise InvalidInput("the checkpoint is a pickle (state.pt), which Charter does not load: unpickling can run code",
                           hint="delete the run's checkpoint/ folder to restart the run from step 0", where=str(folder / "state.pt"))
    if not (folder / STATE_JSON).exists():
        return None
    try:
        tensors = load_file(str(folder / STATE_TENSORS))
        return _unflatten(json.loads((folder / STATE_JSON).read_text()), tensors)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InvalidInput(f"unreadable checkpoint ({e})", hint="delete the run's checkpoint/ folder to restart the run", where=str(folder)) from None


def _flatten(x, tensors: dict):
    import torch

    if torch.is_tensor(x):
        name = f"t{len(tensors)}"
        tensors[name] = x.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(x, dict):
        return {"__dict__": [[_flatten(k, tensors), _flatten(v, tensors)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"__tuple__": [_flatten(v, tensors) for v in x]}
    if isinstance(x, list):
        return [_flatten(v, tensors) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"cannot checkpoint a {type(x).__name__}")


def _unflatten(x, tensors: dict):
    if isinstance(x, list):
        return [_unflatten(v, tensors) for v in x]
    if isinstance(x, dict):
        if "__tensor__" in x:
            return tensors[x["__tensor__"]]
        if "__tuple__" in x:
            return tuple(_unflatten(v, tensors) for v in x["__tuple__"])
        return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in x["__dict__"]}
    return x

