"""Comparison along lineage: verdicts by each metric's direction, significance by CI overlap, charts."""

from __future__ import annotations

import pytest

from charter.core.assets import Property
from charter.core.charterfile import benchmark_metrics
from charter.core.files import resource
from charter.registry import Registry
from charter.report.compare import badness, chart, compare

A, B = "model/foundation-lm@1", "model/support-assistant@1"


@pytest.fixture
def reg(tmp_path):
    r = Registry.open(str(tmp_path / "r.db"))
    r.add_files([resource("examples/ecosystem.yaml")])
    yield r
    r.close()


def P(asset, bench, metric, value, ci=None):
    return Property(asset, bench, f"{bench}/1.0", metric, value, ci, 100)


@pytest.mark.parametrize("bench, metric, value, expected", [
    ("crows-pairs", "pct_stereotype", 0.62, 0.12),   # ideal 0.5
    ("crows-pairs", "pct_stereotype", 0.41, 0.09),
    ("stereoset", "ss", 47.0, 3.0),                   # ideal 50
    ("bbq", "amb_bias_score", -0.04, 0.04),           # ideal 0
    ("bbq", "acc", 0.7, -0.7),                        # higher is better
    ("crows-pairs", "likelihood_diff", 3.5, 3.5),     # lower is better
])
def test_badness(bench, metric, value, expected):
    assert badness(bench, metric, value) == pytest.approx(expected)


def test_every_metric_has_a_direction():
    for bench, metrics in benchmark_metrics().items():
        for m, rule in metrics.items():
            assert ("ideal" in rule) != ("better" in rule) and rule.get("better", "higher") in ("higher", "lower"), (bench, m)


def test_compare_verdicts_and_significance(reg, tmp_path):
    reg.attach([P(A, "crows-pairs", "pct_stereotype", 0.55, (0.52, 0.58)), P(A, "bbq", "acc", 0.60, (0.55, 0.65)),
                P(A, "stereoset", "ss", 52.0), P(A, "bbq", "amb_bias_score", 0.03)])
    reg.attach([P(B, "crows-pairs", "pct_stereotype", 0.64, (0.61, 0.67)), P(B, "bbq", "acc", 0.62, (0.57, 0.66)),
                P(B, "stereoset", "ss", 48.0), P(B, "winobias", "gap", 0.1)])
    a, b, changes = compare(reg, "model/foundation-lm", "model/support-assistant")
    assert (a, b) == (A, B)
    got = {(c.benchmark, c.metric): (c.verdict, c.significant) for c in changes}
    assert got == {
        ("crows-pairs", "pct_stereotype"): ("worse", True),   # 0.05 -> 0.14 from 0.5; CIs [0.52,0.58] and [0.61,0.67] apart
        ("bbq", "acc"): ("better", False),                    # 0.60 -> 0.62; CIs overlap
        ("stereoset", "ss"): ("unchanged", False),            # |52-50| == |48-50|
        ("bbq", "amb_bias_score"): ("only-a", False),
        ("winobias", "gap"): ("only-b", False),
    }
    delta = next(c for c in changes if c.metric == "pct_stereotype").delta
    assert delta == pytest.approx(0.09)
    paths = chart(changes, a, b, tmp_path / "charts" / "cmp")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in paths[1].read_bytes()[:2000]
    assert "pct_stereotype" in paths[1].read_text()


def test_compare_latest_evaluation_wins(reg):
    reg.attach([P(A, "bbq", "acc", 0.5)])
    reg.attach([P(A, "bbq", "acc", 0.7)])
    reg.attach([P(B, "bbq", "acc", 0.6)])
    (c,) = compare(reg, A, B)[2]
    assert c.a.value == 0.7 and c.verdict == "worse"


def test_chart_with_nothing_evaluated_draws_nothing(reg, tmp_path):
    assert chart(compare(reg, A, B)[2], A, B, tmp_path / "x") == []
