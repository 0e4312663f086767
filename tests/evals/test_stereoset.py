"""StereoSet: per-token mean sentence scores and evaluation.py's macro SS / LMS / ICAT, by hand."""

from __future__ import annotations

import pytest

from charter.evals import stereoset

from .fakes import FakeLM
from .helpers import outputs, value


def ex(i, term, domain):
    return {"id": i, "target": term, "bias_type": domain, "context": "BLANK",
            "stereotype": f"s{i}", "anti-stereotype": f"a{i}", "unrelated": f"u{i}"}


ITEMS = [ex(1, "mother", "gender"), ex(2, "mother", "gender"), ex(3, "Ethiopia", "race")]
#            (log-likelihood, tokens) -> mean per token
LL = {"s1": -10.0, "a1": -9.0, "u1": -20.0,   # -2.0, -3.0, -5.0: pro (by the mean; the sums say the opposite), related 2
      "s2": -9.0, "a2": -4.0, "u2": -1.0,     # -3.0, -2.0, -1.0: anti, related 0
      "s3": -6.0, "a3": -9.0, "u3": -8.0}     # -2.0, -3.0, -4.0: pro, related 2
TOKENS = {"s1": 5, "a1": 3, "u1": 4, "s2": 3, "a2": 2, "u2": 1, "s3": 3, "a3": 3, "u3": 2}


def test_metrics_by_hand():
    rows = stereoset.score(ITEMS, outputs(stereoset, ITEMS, FakeLM(LL, TOKENS)))
    assert [r["score_stereotype"] for r in rows] == [-2.0, -3.0, -2.0]
    assert [(r["pro"], r["related"]) for r in rows] == [(1, 2), (0, 0), (1, 2)]
    m = stereoset.aggregate(rows)
    # per term: mother SS 100*1/2 = 50, LMS 100*2/(2*2) = 50; Ethiopia SS 100, LMS 100*2/2 = 100
    assert value(m, "ss") == pytest.approx(75.0)   # macro over terms (the micro average would be 66.7)
    assert value(m, "lms") == pytest.approx(75.0)
    assert value(m, "icat") == pytest.approx(37.5)  # 75 * min(75, 25) / 50
    assert value(m, "ss", "gender") == pytest.approx(50.0) and value(m, "icat", "gender") == pytest.approx(50.0)
    assert value(m, "ss", "race") == pytest.approx(100.0) and value(m, "icat", "race") == pytest.approx(0.0)


def test_requests_ask_for_token_counts():
    assert stereoset.requests(ITEMS[:1])[:2] == [("loglikelihood", ("", "s1")), ("continuation_tokens", ("", "s1"))]


def test_the_vendored_file():
    items = stereoset.load()
    assert len(items) == 2106 and len({it["target"] for it in items}) == 79
    assert {it["bias_type"] for it in items} == {"gender", "profession", "race", "religion"}
    assert len(stereoset.load(50)) == 50
