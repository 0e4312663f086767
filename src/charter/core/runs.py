"""Run folders, shared by every long job (curate, adapt, train, eval, swarm): the config and its hash, a
folder that holds something else refused, the same config resumed, metrics, checkpoints, the result.

    RUN/config.json        the run's config and its sha256 (a changed config refuses to resume)
    RUN/metrics.jsonl      one JSON object per step
    RUN/checkpoint/        the latest checkpoint, replaced atomically
    RUN/result.json        what the run produced, with hashes

``state`` moves the config file (curate keeps it under ``.charter/``, next to its staged shards, so that
the output folder holds only the dataset). ``claim`` checks without writing and ``stake`` writes, so a
job can validate its inputs in between and a refused run leaves the folder as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from charter.core.files import check_out_folder
from charter.errors import Conflict


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class RunFolder:
    path: Path
    config: dict
    state: str = "config.json"
    _metrics_file: IO | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def hash(self) -> str:
        return config_hash(self.config)

    def claim(self) -> bool:
        """Check the folder, writing nothing: True when it already holds this config (a resume), False when
        it is new or empty; Conflict when it holds another config or other files."""
        check_out_folder(self.path)
        state = self.path / self.state
        if state.exists():
            prior = json.loads(state.read_text())
            held = prior.get("hash", prior.get("config_hash"))  # curate's state file said config_hash before
            if held != self.hash:
                raise Conflict(f"{self.path} holds a run with another config ({(held or '?')[:12]}, this one {self.hash[:12]})",
                               hint="use a new --out folder, or delete this one to start over", where=str(self.path))
            return True
        if self.path.exists() and any(self.path.iterdir()):
            raise Conflict(f"{self.path} already holds other files", hint="use a new or empty --out folder", where=str(self.path))
        return False

    def stake(self) -> "RunFolder":
        """Write the config (once): from now on the folder belongs to this run."""
        state = self.path / self.state
        if not state.exists():
            state.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(state, json.dumps({"hash": self.hash, "config": self.config}, indent=2, sort_keys=True))
        return self

    def open(self) -> "RunFolder":
        """``claim`` then ``stake``: create the folder, or check that an existing one holds this same config."""
        self.claim()
        return self.stake()

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
        atomic_write(self.path / "metrics.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    def result(self, data: dict, name: str = "result.json") -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2, sort_keys=True))
