"""Shared helpers for the data tests: a SQLite registry and datasets registered from files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.registry import Registry


@pytest.fixture
def reg(tmp_path):
    r = Registry.open(str(tmp_path / "registry.db"))
    yield r
    r.close()


def write_jsonl(path: Path, rows: list) -> Path:
    """One JSON document per row; a str row is written as is (for malformed or blank lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def register_dataset(reg: Registry, folder: Path, name: str, files: list[str], fields: dict | None = None,
                     license: str = "CC0-1.0", extra: str = "") -> str:
    """Write a charter for dataset/<name>@1 in ``folder`` (files relative to it), register it, return its id."""
    data = {"files": files, **({"fields": fields} if fields else {})}
    charter = folder / f"{name}.yaml"
    charter.write_text(f"id: dataset/{name}@1\nlicense: {license}\ndata: {json.dumps(data)}\n{extra}")
    reg.add_files([charter])
    return f"dataset/{name}@1"
