"""``--nproc N``: adapt (and train) on N processes with torch.distributed DDP under torchrun.

Decided once in the parent before torchrun starts; rank r takes samples r, r+N, ... of each global batch and DDP
averages the gradients, so the per-step losses equal a one-process run's (measured on 2 CPU ranks, gloo, float32:
max |difference| 1e-6 over the steps here, one unit of the logged losses' 6-decimal rounding; asserted within 1e-5).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from charter.cli.main import main
from charter.errors import CharterError
from charter.core import runs
from charter.training import ddp
from charter.training.adapt import AdaptConfig, adapt
from charter.core.runs import RunFolder
from tests.conftest import BASE, CURATED, MT

LOSS_TOL = 1e-5
KW = {"steps": 4, "batch_size": 4, "seq_len": 32, "lr": 1e-2, "checkpoint_every": 2}


def rows(run) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def adapt_args(work, out: str, *extra: str) -> list[str]:
    return ["adapt", BASE, "--data", CURATED, "--for", *MT, "--out", str(work.dir / out), "--registry", work.db,
            "--steps", "2", "--batch-size", "4", "--seq-len", "32", *extra]


class Interrupted(Exception):
    pass


def test_two_ranks_step_as_one_process_register_the_same_way_and_resume(work, monkeypatch):
    from safetensors.torch import load_file

    one = adapt(work.reg, AdaptConfig(BASE, CURATED, MT, work.dir / "one", **KW))
    two = adapt(work.reg, AdaptConfig(BASE, CURATED, MT, work.dir / "two", **KW, nproc=2))
    # the same samples per step, gradients averaged: the same losses
    a, b = rows(one.run), rows(two.run)
    assert [r["step"] for r in b] == [1, 2, 3, 4] and [r["tokens"] for r in b] == [r["tokens"] for r in a] == [4 * 32] * 4
    diff = max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b))
    print(f"adapt: max per-step loss difference, 2 ranks vs 1 process: {diff:.2e}")
    assert diff <= LOSS_TOL
    assert a[-1]["loss"] < a[0]["loss"] - 1e-3  # it trained (the comparison is not of untouched weights)
    # registered as the one-process path registers
    m = work.reg.get(two.asset.id)
    assert {(e.parent, e.relation) for e in m.derived_from} == {(e.parent, e.relation) for e in one.asset.derived_from} \
        == {(BASE, "adapter-of"), (CURATED, "trained-on")}
    assert m.notes["run"]["config"]["nproc"] == 2 and "nproc" not in one.asset.notes["run"]["config"]
    assert {k: v for k, v in m.notes["run"]["config"].items() if k != "nproc"} == one.asset.notes["run"]["config"]
    w = m.notes["weights"]
    assert w["format"] == "peft-lora" and w["path"] == str((two.run / "final").resolve()) and w["base_path"] == str(work.ws.tiny.resolve())
    assert json.loads((two.run / "result.json").read_text())["weights"] == w and m.notes["declared_uses"] == list(MT)
    assert m.notes["run"]["metrics"]["steps"] == 4 and two.resumed_from == 0
    assert (two.run / "checkpoint" / "state.json").is_file() and (two.run / "ddp.log").is_file()
    x, y = load_file(one.run / "final" / "adapter_model.safetensors"), load_file(two.run / "final" / "adapter_model.safetensors")
    assert x.keys() == y.keys() and max(float((x[k] - y[k]).abs().max()) for k in x) < 1e-4
    assert not work.reg.check(m.id, ["inference", "face-recognition"]).allowed  # it inherits the base's restrictions

    # resume: a run interrupted after step 3 (checkpoint at step 2), continued on 2 ranks
    log = runs.RunFolder.log

    def crash_at_4(self, row):
        if row["step"] == 4:
            raise Interrupted
        log(self, row)

    monkeypatch.setattr(runs.RunFolder, "log", crash_at_4)
    with pytest.raises(Interrupted):
        adapt(work.reg, AdaptConfig(BASE, CURATED, MT, work.dir / "cut", **KW))
    monkeypatch.setattr(runs.RunFolder, "log", log)
    resumed = work.dir / "resumed"  # that state, in a 2-rank run folder (the checkpoint is the same whatever N)
    resumed.mkdir()
    shutil.copy(two.run / "config.json", resumed / "config.json")
    shutil.copy(work.dir / "cut" / "metrics.jsonl", resumed / "metrics.jsonl")
    shutil.copytree(work.dir / "cut" / "checkpoint", resumed / "checkpoint")
    r = adapt(work.reg, AdaptConfig(BASE, CURATED, MT, resumed, **KW, nproc=2))
    assert r.resumed_from == 2 and [x["step"] for x in rows(resumed)] == [1, 2, 3, 4]
    assert max(abs(x["loss"] - y["loss"]) for x, y in zip(a, rows(resumed))) <= LOSS_TOL
    z = load_file(resumed / "final" / "adapter_model.safetensors")
    assert max(float((x[k] - z[k]).abs().max()) for k in x) < 1e-4 and r.asset.id.split("@")[1] == m.id.split("@")[1]


def test_denied_with_nproc_exits_3_and_starts_no_worker(work, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(ddp, "launch", boom)
    monkeypatch.setattr(subprocess, "Popen", boom)
    out = work.dir / "creep"
    rc = main(["adapt", BASE, "--data", CURATED, "--for", "fine-tuning", "face-recognition", "--out", str(out),
               "--registry", work.db, "--nproc", "2"])
    assert rc == 3 and not out.exists()


@pytest.mark.parametrize("extra", [["--nproc", "0"], ["--nproc", "-1"], ["--nproc", "3"]])  # 3 does not divide the batch of 4
def test_bad_nproc_is_a_usage_error(work, extra, capsys):
    out = work.dir / "bad"
    assert main(adapt_args(work, "bad", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("charter: error: ") and "--nproc" in err
    assert not out.exists()


def test_with_cuda_one_gpu_per_process(work, monkeypatch):
    import torch

    from charter.errors import UsageError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(subprocess, "Popen", None)
    cfg = AdaptConfig(BASE, CURATED, MT, work.dir / "gpus", **KW, nproc=2)
    with pytest.raises(UsageError, match="--nproc 2 needs 2 GPUs"):
        adapt(work.reg, cfg)
    assert not cfg.out.exists()


def test_a_failing_worker_fails_the_command_naming_the_log(work):
    run = RunFolder(work.dir / "failing", {"kind": "test"}).open()
    with pytest.raises(CharterError) as e:
        ddp.launch(run, {"kind": "no-such-kind", "assets": []}, 2, 1, 1)
    log = run.path / "ddp.log"
    assert e.value.where == str(log) and e.value.exit_code == 1 and "2-process training failed" in e.value.message
    assert "unknown kind 'no-such-kind'" in log.read_text()


def test_train_on_two_ranks_steps_as_one_process(work, capsys):
    from charter.training.pretrain import TrainConfig, train

    conf = work.dir / "fast.yaml"
    conf.write_text("{vocab: 300, hidden: 32, layers: 1, heads: 2, intermediate: 64, seq_len: 32, steps: 4, batch_size: 8, lr: 0.01}\n")
    uses = ("pretraining", *MT[1:])
    one = train(work.reg, TrainConfig(CURATED, work.dir / "pre-one", str(conf), uses))
    assert main(["train", "--data", CURATED, "--config", str(conf), "--for", *uses, "--out", str(work.dir / "pre-two"),
                 "--registry", work.db, "--nproc", "2", "--snapshot-every", "2", "--json"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert [(s["step"], s["tokens"]) for s in two["snapshots"]] == [(2, 2 * 8 * 32), (4, 4 * 8 * 32)]  # rank 0 keeps them, global tokens
    a, b = rows(work.dir / "pre-one"), rows(work.dir / "pre-two")
    assert [r["step"] for r in b] == [1, 2, 3, 4] and [r["tokens"] for r in b] == [r["tokens"] for r in a]
    diff = max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b))
    print(f"train: max per-step loss difference, 2 ranks vs 1 process: {diff:.2e}")
    assert diff <= LOSS_TOL
    assert two["metrics"]["held_out_perplexity"] == pytest.approx(one["metrics"]["held_out_perplexity"], rel=1e-4)
    from charter.registry import Registry

    work.reg.close()
    reg = work.reg = Registry.open(work.db)
    m = reg.get(two["model"])
    assert [(e.parent, e.relation) for e in m.derived_from] == [(CURATED, "trained-on")]
    assert m.notes["run"]["config"]["nproc"] == 2 and m.notes["weights"]["path"] == str((work.dir / "pre-two" / "final").resolve())
