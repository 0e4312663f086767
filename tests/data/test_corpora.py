"""The demo's real text (data/corpora.py): its charter file registers from any working directory."""

from __future__ import annotations

import json

from charter.cli.main import main
from charter.data.corpora import write_python_reference
from charter.registry import Registry


def test_the_python_reference_registers_from_a_relative_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    charter = write_python_reference(tmp_path.joinpath("out", "corpus").relative_to(tmp_path))  # a relative path, as `charter demo` passes
    assert not charter.is_absolute()
    assert main(["add", str(charter), "--registry", "reg.db"]) == 0
    reg = Registry.open("reg.db")
    try:
        train, held = reg.get("dataset/python-reference@1"), reg.get("dataset/python-reference-heldout@1")
        assert train is not None and held is not None
    finally:
        reg.close()
    rows = [json.loads(line)["id"] for line in (tmp_path / "out/corpus/train.jsonl").read_text(encoding="utf-8").splitlines()]
    held_ids = [json.loads(line)["id"] for line in (tmp_path / "out/corpus/heldout.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and held_ids and not set(rows) & set(held_ids)
