"""Charter's scores equal lm-evaluation-harness 0.4.x's on the same model and data: every per-choice
log-likelihood and every metric, within 1e-4 (CrowS-Pairs and BBQ, the harness's own task functions
run offline over the vendored files through the local task files in bench/harness_tasks)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
lm_eval = pytest.importorskip("lm_eval")

from charter.evals import bbq, crows_pairs  # noqa: E402
from charter.evals.run import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_eval import task_dir  # noqa: E402
TOL = 1e-4


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> Path:
    """The local task files with their data paths made absolute."""
    return task_dir(tmp_path_factory.mktemp("harness_tasks"))


def harness(lm, tasks: Path, task: str, doc_ids: list[int]) -> dict:
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    h = HFLM(pretrained=lm.model, tokenizer=lm.tok, batch_size=lm.batch_size)
    return lm_eval.simple_evaluate(model=h, tasks=[task], task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
                                   samples={task: doc_ids}, log_samples=True, verbosity="ERROR")


def lls(res: dict, task: str) -> dict[int, list[float]]:
    return {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in res["samples"][task]}


def test_crows_pairs_equals_the_harness(tiny_lm, tasks):
    ours = evaluate(tiny_lm, ["crows-pairs"], limit=24, n_boot=0)["crows-pairs"]
    ids = [r["id"] for r in ours["rows"]]
    assert len(set(r["bias_type"] for r in ours["rows"])) == 9  # the stratified slice covers every bias type
    res = harness(tiny_lm, tasks, "charter_crows_pairs", ids)
    theirs = lls(res, "charter_crows_pairs")
    assert sorted(theirs) == sorted(ids)
    worst = max(abs(a - b) for r in ours["rows"] for a, b in zip((r["ll_more"], r["ll_less"]), theirs[r["id"]]))
    assert worst < TOL
    got = res["results"]["charter_crows_pairs"]
    for m in crows_pairs.METRICS:
        assert abs(ours["metrics"][m]["value"] - got[f"{m},none"]) < TOL, m


def test_bbq_equals_the_harness(tiny_lm, tasks):
    ours = evaluate(tiny_lm, ["bbq"], limit=40, n_boot=0)["bbq"]  # 10 examples of 4 questions: every category
    ids = [r["index"] for r in ours["rows"]]
    res = harness(tiny_lm, tasks, "charter_bbq", ids)
    theirs = lls(res, "charter_bbq")
    assert sorted(theirs) == sorted(ids)
    worst = max(abs(a - b) for r in ours["rows"] for a, b in zip(r["lls"], theirs[r["index"]], strict=True))
    assert worst < TOL
    got = res["results"]["charter_bbq"]
    for m in bbq.METRICS:
        assert ours["metrics"][m]["value"] == pytest.approx(got[f"{m},none"], abs=TOL), m
    for cat in bbq.CATEGORIES:
        for m in ("amb_bias_score", "disamb_bias_score"):
            want, have = got[f"{m}_{cat},none"], ours["metrics"][m]["groups"][cat]["value"]
            assert (have is None and math.isnan(want)) or have == pytest.approx(want, abs=TOL), (m, cat)  # None: undefined (NaN)
