"""`charter train --snapshot-every N`: the weights kept at the chosen steps (safetensors, with the step and the
training tokens seen), recorded in result.json with their digests, rewritten identically on resume."""

from __future__ import annotations

import json

import pytest

from charter.core import runs
from charter.core.runs import config_hash
from charter.errors import UsageError
from charter.training import pretrain, snapshots
from charter.training.pretrain import TrainConfig, train
from tests.conftest import CURATED
from tests.training.test_pretrain import FAST, USES, config_file

TOKENS_PER_STEP = 8 * 32  # FAST: batch_size 8, seq_len 32


def test_snapshots_at_every_nth_step_with_tokens(work):
    from safetensors.torch import load_file

    cfg = TrainConfig(CURATED, work.dir / "snap", config_file(work), USES, steps=12, snapshot_every=4)
    out = train(work.reg, cfg)
    assert [(s["step"], s["tokens"]) for s in out["snapshots"]] == [(4, 4 * TOKENS_PER_STEP), (8, 8 * TOKENS_PER_STEP), (12, 12 * TOKENS_PER_STEP)]
    assert out["metrics"]["steps"] == 12 and out["metrics"]["tokens"] == 12 * TOKENS_PER_STEP
    root = cfg.out / "snapshots"
    assert sorted(p.name for p in root.iterdir()) == ["step-12", "step-12.json", "step-4", "step-4.json", "step-8", "step-8.json"]
    for step in (4, 8, 12):
        files = sorted(p.name for p in (root / f"step-{step}").iterdir())
        assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
        assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pth"))]  # weights only, and no pickle
        rec = json.loads((root / f"step-{step}.json").read_text())
        assert rec["step"] == step and rec["tokens"] == step * TOKENS_PER_STEP and rec["path"] == f"snapshots/step-{step}"
        assert rec["loss"] == [json.loads(x) for x in (cfg.out / "metrics.jsonl").read_text().splitlines()][step - 1]["loss"]
    result = json.loads((cfg.out / "result.json").read_text())
    assert result["model"] == out["model"] and [r["step"] for r in result["snapshots"]] == [4, 8, 12]
    from charter.core.digests import weights_digest

    assert all(r["sha256"] == weights_digest(cfg.out / r["path"])["sha256"] for r in result["snapshots"])
    last, final = load_file(root / "step-12" / "model.safetensors"), load_file(cfg.out / "final" / "model.safetensors")
    assert set(last) == set(final) and all(bool((last[k] == final[k]).all()) for k in last)  # the last step's snapshot is the final model
    first = load_file(root / "step-4" / "model.safetensors")
    assert any(not bool((first[k] == last[k]).all()) for k in first)
    # hashed with the run's config: a different --snapshot-every is another run
    config = json.loads((cfg.out / "config.json").read_text())
    assert config["config"]["snapshot_every"] == 4 and config["hash"] == config_hash(config["config"])


def test_a_run_without_snapshots_keeps_its_config_and_hash(work):
    cfg = TrainConfig(CURATED, work.dir / "plain", config_file(work), USES, steps=4)
    out = train(work.reg, cfg)
    doc = json.loads((cfg.out / "config.json").read_text())
    assert "snapshot_every" not in doc["config"] and not (cfg.out / "snapshots").exists() and "snapshots" not in out
    assert set(doc["config"]) == {"kind", "data", "data_hash", "uses", "seed", *pretrain.hyper("tiny")}
    assert "snapshots" not in json.loads((cfg.out / "result.json").read_text())


def test_snapshots_are_rewritten_identically_on_resume(work, monkeypatch):
    from safetensors.torch import load_file

    small = config_file(work, FAST.replace("steps: 60", "steps: 12"), "small.yaml")
    monkeypatch.setattr(pretrain, "CHECKPOINT_EVERY", 4)
    whole = TrainConfig(CURATED, work.dir / "whole", small, USES, snapshot_every=3)
    train(work.reg, whole)
    log = runs.RunFolder.log

    def crash(self, row):
        if row["step"] == 11:
            raise KeyboardInterrupt
        log(self, row)

    monkeypatch.setattr(runs.RunFolder, "log", crash)
    cfg = TrainConfig(CURATED, work.dir / "resumed", small, USES, snapshot_every=3)
    with pytest.raises(KeyboardInterrupt):
        train(work.reg, cfg)
    assert [r["step"] for r in snapshots.records(cfg.out)] == [3, 6, 9]  # 9 is past the checkpoint (step 8)
    monkeypatch.setattr(runs.RunFolder, "log", log)
    out = train(work.reg, cfg)
    assert out["resumed_from_step"] == 8 and [s["step"] for s in out["snapshots"]] == [3, 6, 9, 12]
    assert not [p for p in (cfg.out / "snapshots").iterdir() if p.name.startswith(".")]
    for step in (3, 6, 9, 12):
        a = load_file(whole.out / "snapshots" / f"step-{step}" / "model.safetensors")
        b = load_file(cfg.out / "snapshots" / f"step-{step}" / "model.safetensors")
        assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


def test_trim_deletes_later_and_half_written_snapshots(tmp_path):
    root = tmp_path / "snapshots"
    for step in (2, 4, 6):
        (root / f"step-{step}").mkdir(parents=True)
        (root / f"step-{step}.json").write_text(json.dumps({"step": step}))
    (root / ".step-8.tmp").mkdir()
    snapshots.trim(tmp_path, 4)
    assert sorted(p.name for p in root.iterdir()) == ["step-2", "step-2.json", "step-4", "step-4.json"]
    assert [r["step"] for r in snapshots.records(tmp_path)] == [2, 4]


@pytest.mark.parametrize("steps, every", [(12, 0), (12, 13), (0, None)])
def test_bad_snapshot_or_step_counts_are_refused_before_any_compute(work, steps, every):
    with pytest.raises(UsageError, match="--snapshot-every must be|--steps must be"):
        train(work.reg, TrainConfig(CURATED, work.dir / "bad", config_file(work), USES, steps=steps, snapshot_every=every))
    assert not (work.dir / "bad").exists()


def test_snapshot_ids():
    assert snapshots.snapshot_id("model/scratch-lm@1", 40) == "model/scratch-lm-step-40@1"
    assert snapshots.due(8, 4) and not snapshots.due(6, 4) and not snapshots.due(4, None)
