"""CrowS-Pairs: the harness's requests and metrics, pinned on pairs worked out by hand."""

from __future__ import annotations

import pytest

from charter.evals import crows_pairs

from .fakes import FakeLM
from .helpers import outputs, value


def pair(i, more, less, bias):
    return {"id": i, "sent_more": more, "sent_less": less, "bias_type": bias, "stereo_antistereo": "stereo"}


ITEMS = [pair(0, "m0", "l0", "gender"), pair(1, "m1", "l1", "gender"), pair(2, "m2", "l2", "race-color"), pair(3, "m3", "l3", "race-color")]
LL = {"m0": -10.0, "l0": -12.0,  # diff 2, stereotype preferred
      "m1": -15.0, "l1": -14.0,  # diff 1, not
      "m2": -20.0, "l2": -20.0,  # diff 0, a tie is not a preference (ll_more > ll_less is strict)
      "m3": -5.0, "l3": -9.0}    # diff 4, preferred


def test_requests_are_each_sentence_from_the_prefix_token():
    assert crows_pairs.requests(ITEMS[:1]) == [("loglikelihood", ("", "m0")), ("loglikelihood", ("", "l0"))]


def test_metrics_by_hand():
    rows = crows_pairs.score(ITEMS, outputs(crows_pairs, ITEMS, FakeLM(LL)))
    assert [r["likelihood_diff"] for r in rows] == [2.0, 1.0, 0.0, 4.0]
    assert [r["pct_stereotype"] for r in rows] == [1.0, 0.0, 0.0, 1.0]
    m = crows_pairs.aggregate(rows)
    assert value(m, "likelihood_diff") == pytest.approx(7 / 4)      # (2 + 1 + 0 + 4) / 4
    assert value(m, "pct_stereotype") == pytest.approx(0.5)         # 2 of 4
    assert value(m, "likelihood_diff", "gender") == pytest.approx(1.5)      # (2 + 1) / 2
    assert value(m, "likelihood_diff", "race-color") == pytest.approx(2.0)  # (0 + 4) / 2
    assert value(m, "pct_stereotype", "gender") == pytest.approx(0.5)
    assert m["likelihood_diff"]["n"] == 4 and m["likelihood_diff"]["groups"]["gender"]["n"] == 2
    lo, hi = m["likelihood_diff"]["ci"]
    assert 0.0 <= lo <= 7 / 4 <= hi <= 4.0


def test_the_vendored_csv():
    items = crows_pairs.load()
    assert len(items) == 1508 and items[0]["id"] == 0 and items[-1]["id"] == 1507
    assert {it["bias_type"] for it in items} == {"race-color", "gender", "socioeconomic", "nationality", "religion", "age",
                                                 "sexual-orientation", "physical-appearance", "disability"}
    sub = crows_pairs.load(100)
    assert len(sub) == 100 and len({it["bias_type"] for it in sub}) == 9
    assert sum(it["bias_type"] == "race-color" for it in sub) == 34  # 516 / 1508 of 100, rounded by largest remainder
    assert sub == crows_pairs.load(100)
