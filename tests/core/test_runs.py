"""Run folders: the config and its hash, claim without writing, resume, metrics, atomic checkpoints."""

from __future__ import annotations

import json

import pytest

from charter.core.runs import RunFolder, config_hash
from charter.errors import Conflict


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1}) != config_hash({"a": 1, "b": [2, 1]})


def test_open_writes_config_and_refuses_another(tmp_path):
    run = RunFolder(tmp_path / "run", {"lr": 0.1, "steps": 3}).open()
    saved = json.loads((run.path / "config.json").read_text())
    assert saved == {"hash": run.hash, "config": {"lr": 0.1, "steps": 3}}
    RunFolder(tmp_path / "run", {"steps": 3, "lr": 0.1}).open()  # same config: resumable
    with pytest.raises(Conflict, match="another config") as e:
        RunFolder(tmp_path / "run", {"lr": 0.2, "steps": 3}).open()
    assert e.value.where == str(tmp_path / "run") and "new --out" in e.value.hint
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("")
    with pytest.raises(Conflict, match="other files"):
        RunFolder(tmp_path / "other", {}).open()
    RunFolder(tmp_path / "empty-but-there", {}).path.mkdir()
    assert RunFolder(tmp_path / "empty-but-there", {}).open().path.joinpath("config.json").exists()


def test_metrics_log_and_trim(tmp_path):
    run = RunFolder(tmp_path / "run", {}).open()
    for s in range(1, 6):
        run.log({"step": s, "loss": 1.0 / s})
    assert [r["step"] for r in run.metrics()] == [1, 2, 3, 4, 5]
    run.trim_metrics(3)
    assert [r["step"] for r in run.metrics()] == [1, 2, 3]
    run.log({"step": 4, "loss": 0.25})  # after a trim, rows go to the new file
    run.close()
    assert [r["step"] for r in RunFolder(tmp_path / "run", {}).metrics()] == [1, 2, 3, 4]
    assert RunFolder(tmp_path / "none", {}).metrics() == []


def test_checkpoint_replaced_atomically(tmp_path):
    run = RunFolder(tmp_path / "run", {}).open()
    run.save_checkpoint(lambda d: (d / "state").write_text("1"))
    run.save_checkpoint(lambda d: (d / "state").write_text("2"))
    assert (run.checkpoint / "state").read_text() == "2"

    def broken(d):
        (d / "state").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        run.save_checkpoint(broken)
    assert (run.checkpoint / "state").read_text() == "2"  # the last good checkpoint survives
    run.save_checkpoint(lambda d: (d / "state").write_text("3"))
    assert (run.checkpoint / "state").read_text() == "3" and not (run.path / "checkpoint.tmp").exists()


def test_claim_writes_nothing_and_stake_keeps_the_config_where_asked(tmp_path):
    """curate claims its folder, validates its inputs, and only then stakes it (under .charter/)."""
    run = RunFolder(tmp_path / "out", {"uses": ["research"]}, state=".charter/config.json")
    assert run.claim() is False and not (tmp_path / "out").exists()
    run.stake()
    assert json.loads((tmp_path / "out" / ".charter" / "config.json").read_text())["hash"] == run.hash
    assert RunFolder(tmp_path / "out", {"uses": ["research"]}, state=".charter/config.json").claim() is True  # a resume
    with pytest.raises(Conflict, match="another config"):
        RunFolder(tmp_path / "out", {"uses": ["training"]}, state=".charter/config.json").claim()


def test_a_state_file_written_before_runs_were_shared_still_resumes(tmp_path):
    """curate's state file said {"config_hash", "dataset"}: such an interrupted run still resumes."""
    cfg = {"uses": ["research"]}
    (tmp_path / "out" / ".charter").mkdir(parents=True)
    (tmp_path / "out" / ".charter" / "config.json").write_text(json.dumps({"config_hash": config_hash(cfg), "dataset": "dataset/x@1"}))
    assert RunFolder(tmp_path / "out", cfg, state=".charter/config.json").claim() is True
