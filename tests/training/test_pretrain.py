"""`charter train`: a small LM pretrained from scratch beats a unigram baseline; decided first; resumes."""

from __future__ import annotations

import json
import math

import pytest

from charter.errors import Denied, InvalidInput
from charter.core import runs
from charter.training import pretrain
from charter.training.pretrain import TrainConfig, train
from tests.conftest import CURATED, MT

USES = ("pretraining", *MT[1:])  # the curated data binds its purpose and context
FAST = "{vocab: 300, hidden: 32, layers: 1, heads: 2, intermediate: 64, seq_len: 32, steps: 60, batch_size: 8, lr: 0.01}\n"


def config_file(work, text: str = FAST, name: str = "fast.yaml"):
    p = work.dir / name
    p.write_text(text)
    return str(p)


def test_unigram_perplexity_by_hand():
    import torch

    train_blocks = torch.tensor([[1, 2, 2], [2, 3, 1]])  # counts 1:2, 2:3, 3:1 -> add-one over a vocabulary of 5: /11
    held = torch.tensor([[1, 2, 4]])  # scored from the second token: p(2) = 4/11, p(4) = 1/11
    want = math.exp(-(math.log(4 / 11) + math.log(1 / 11)) / 2)
    assert want == pytest.approx(5.5)
    assert pretrain._unigram_perplexity(train_blocks, held, 5) == pytest.approx(want)


def test_pretrain_beats_the_unigram_baseline_and_registers(work):
    out = train(work.reg, TrainConfig(CURATED, work.dir / "scratch-lm", config_file(work), USES))
    m = out["metrics"]
    assert m["beats_unigram"] is True and m["held_out_perplexity"] < m["unigram_perplexity"]
    assert m["steps"] == 60 and m["tokens"] == 60 * 8 * 32 and m["parameters"] > 0
    assert out["resumed_from_step"] == 0
    a = work.reg.get(out["model"])
    assert [(e.parent, e.relation) for e in a.derived_from] == [(CURATED, "trained-on")]
    assert a.notes["declared_uses"] == list(USES) and a.notes["run"]["metrics"] == m
    rows = [json.loads(x) for x in (work.dir / "scratch-lm" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 61)) and all(math.isfinite(r["loss"]) for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]
    from charter.models.hf import folder_hash

    w = a.notes["weights"]
    assert w["sha256"] == folder_hash(w["path"]) and (work.dir / "scratch-lm" / "final" / "model.safetensors").is_file()
    # its lineage binds it: the curated data permits machine translation only
    assert not work.reg.check(a.id, ["inference", "summarization", "commercial"]).allowed
    assert work.reg.check(a.id, ["inference", "machine-translation", "commercial"]).allowed


def test_pretrain_resumes_after_interruption(work, monkeypatch):
    from safetensors.torch import load_file

    small = config_file(work, FAST.replace("steps: 60", "steps: 12"), "small.yaml")
    monkeypatch.setattr(pretrain, "CHECKPOINT_EVERY", 4)
    whole = train(work.reg, TrainConfig(CURATED, work.dir / "whole", small, USES))
    log = runs.RunFolder.log

    def crash(self, row):
        if row["step"] == 10:
            raise KeyboardInterrupt
        log(self, row)

    monkeypatch.setattr(runs.RunFolder, "log", crash)
    cfg = TrainConfig(CURATED, work.dir / "resumed", small, USES)
    with pytest.raises(KeyboardInterrupt):
        train(work.reg, cfg)
    monkeypatch.setattr(runs.RunFolder, "log", log)
    out = train(work.reg, cfg)
    assert out["resumed_from_step"] == 8
    assert [json.loads(x)["step"] for x in (cfg.out / "metrics.jsonl").read_text().splitlines()] == list(range(1, 13))
    a, b = load_file(work.dir / "whole" / "final" / "model.safetensors"), load_file(cfg.out / "final" / "model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    assert out["metrics"]["held_out_perplexity"] == pytest.approx(whole["metrics"]["held_out_perplexity"], rel=1e-4)


def test_pretrain_refused_before_any_compute(work, monkeypatch):
    monkeypatch.setattr("charter.models.tiny.train_tokenizer", lambda *a: pytest.fail("trained before the decision"))
    with pytest.raises(Denied) as e:  # CC-BY-NC-4.0
        train(work.reg, TrainConfig("dataset/web-text@1", work.dir / "nc", config_file(work), ("pretraining", "commercial")))
    assert [(r.asset, r.source, r.use) for d in e.value.decisions for r in d.reasons] == [("dataset/web-text@1", "license:CC-BY-NC-4.0", "commercial")]
    with pytest.raises(Denied) as e:  # some contributors said no machine translation
        train(work.reg, TrainConfig("dataset/community-messages@1", work.dir / "raw", config_file(work), USES))
    assert e.value.exclusions.get("record-deny:machine-translation", 0) > 0 and "charter curate" in e.value.hint
    assert not (work.dir / "nc").exists() and not (work.dir / "raw").exists()


@pytest.mark.parametrize("text, needle", [("{vocab: 300, depth: 3}\n", "unknown config key 'depth'"), ("[1, 2]\n", "must be a mapping")])
def test_bad_config_file(work, text, needle):
    with pytest.raises(InvalidInput, match=needle):
        pretrain.hyper(config_file(work, text, "bad.yaml"))
    assert pretrain.hyper("tiny")["steps"] == 300  # the shipped sizes are configs too
