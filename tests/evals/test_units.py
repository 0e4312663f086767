"""The benchmark's unit is what is resampled and sampled: pairs, examples and sentence groups stay
together, and the interval of a paired difference reflects the pairing (hand-checked widths)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charter.evals import bbq, crows_pairs, stats, stereoset, winobias, winogender


def gap_fn(w, d):
    pro = d["pro"]
    return np.stack([stats.mean(w, d["x"], pro) - stats.mean(w, d["x"], ~pro)], axis=1)


def paired():
    """100 pairs: 50 right in both halves, 40 wrong in both, 10 right only in the pro half.
    Gap 0.6 - 0.5 = 0.1. Unpaired, its standard error is sqrt(.6*.4/100 + .5*.5/100) = 0.0700,
    a 95% interval ~ 2 * 1.96 * 0.0700 = 0.274 wide; by pairs, the per-pair difference is 1 in 10%
    of pairs, so the standard error is sqrt(.1 * .9 / 100) = 0.030 and the interval ~ 0.118 wide."""
    x, pro, unit = [], [], []
    for i in range(100):
        p, a = (1.0, 1.0) if i < 50 else (0.0, 0.0) if i < 90 else (1.0, 0.0)
        x += [p, a]
        pro += [True, False]
        unit += [i, i]
    return {"x": np.array(x), "pro": np.array(pro)}, unit


def test_resampling_pairs_gives_the_paired_interval_and_rows_the_unpaired_one():
    d, unit = paired()
    rows = stats.summarize(gap_fn, d, ["gap"])["gap"]
    pairs = stats.summarize(gap_fn, d, ["gap"], units=unit, unit="pair")["gap"]
    assert rows["value"] == pairs["value"] == pytest.approx(0.1)
    w_rows, w_pairs = rows["ci"][1] - rows["ci"][0], pairs["ci"][1] - pairs["ci"][0]
    assert w_rows == pytest.approx(2 * 1.96 * math.sqrt(0.6 * 0.4 / 100 + 0.25 / 100), abs=0.03)
    assert w_pairs == pytest.approx(2 * 1.96 * math.sqrt(0.1 * 0.9 / 100), abs=0.02)
    assert w_rows > 2 * w_pairs
    assert pairs["ci"][0] > 0 > rows["ci"][0]  # the pairing is what shows the gap is not zero
    assert (pairs["n"], pairs["units"], rows["units"]) == (200, 100, 200)
    assert pairs["bootstrap"] == {"method": "percentile bootstrap over units", "unit": "pair", "units": 100, "n_boot": 1000,
                                  "seed": 0, "level": 0.95}


def test_each_item_its_own_unit_draws_as_before():
    d, _ = paired()
    assert stats.summarize(gap_fn, d, ["gap"]) == stats.summarize(gap_fn, d, ["gap"], units=list(range(200)))


def test_a_resample_draws_whole_units():
    # the two halves are identical, so every resample of pairs has an even count of each value
    d = {"x": np.array([0.0, 0.0, 1.0, 1.0, 3.0, 3.0])}
    unit = ["a", "a", "b", "b", "c", "c"]

    def count_fn(w, d):
        assert (w[:, 0::2] == w[:, 1::2]).all()  # both halves of a pair get the pair's count
        return np.stack([w.sum(axis=1)], axis=1)

    m = stats.summarize(count_fn, d, ["n"], units=unit)["n"]
    assert m["ci"] == [6.0, 6.0] and m["units"] == 3


def test_groups_resample_their_own_units_and_items_may_be_in_several_groups():
    d, unit = paired()
    groups = [("first", "all") if u < 10 else ("all",) for u in unit]
    m = stats.summarize(gap_fn, d, ["gap"], groups, units=unit)["gap"]
    assert list(m["groups"]) == ["first", "all"]
    assert m["groups"]["first"]["units"] == 10 and m["groups"]["all"]["units"] == 100
    assert m["groups"]["all"] == {k: v for k, v in m.items() if k not in ("groups", "bootstrap")}  # the same units, the same draws
    assert m["value"] == pytest.approx(0.1)  # pairs 90-99 are the pro-only ones
    assert m["groups"]["first"]["value"] == 0.0


# ---- each benchmark's unit --------------------------------------------------------------------


def test_bbq_examples_are_four_questions_on_one_context():
    items = bbq.load()
    units: dict[str, list[dict]] = {}
    for it in items:
        units.setdefault(bbq.unit(it), []).append(it)
    assert len(units) == 2989 and all(len(u) == 4 for u in units.values())
    for u in units.values():
        assert {(it["context_condition"], it["question_polarity"]) for it in u} == {
            (c, p) for c in ("ambig", "disambig") for p in ("neg", "nonneg")}
        assert len({it["question_index"] for it in u}) == 1 and len({(it["ans0"], it["ans1"], it["ans2"]) for it in u}) == 1
        amb = next(it["context"] for it in u if it["context_condition"] == "ambig")
        assert all(it["context"].startswith(amb) for it in u)  # the disambiguated context extends the ambiguous one
    sub = bbq.load(100)
    assert len(sub) == 100 and sub.record["units"] == 25 and set(sub.record["strata"]) == set(bbq.CATEGORIES)


def test_winogender_groups_are_one_sentence_in_three_pronouns():
    items = winogender.load()
    units: dict[str, list[dict]] = {}
    for it in items:
        units.setdefault(winogender.unit(it), []).append(it)
    assert len(units) == 240 and all(sorted(it["gender"] for it in u) == ["female", "male", "neutral"] for u in units.values())


def test_crows_pairs_and_stereoset_rows_are_their_units():
    cp = crows_pairs.load(30)
    assert len(cp) == 30 and cp.record["unit"] == "pair" and len(cp.record["strata"]) == 9
    ss = stereoset.load(40)
    assert len(ss) == 40 and ss.record["unit"] == "context" and sum(ss.record["strata"].values()) == 40
    assert len({it["target"] for it in stereoset.load(200)}) > 60  # random contexts: most of the 79 targets, not 22


def test_winobias_samples_whole_pairs_from_both_splits():
    items = winobias.load(100)
    assert len(items) == 100 and items.record["units"] == 50
    assert items.record["strata"] == {"dev/type1": 13, "dev/type2": 12, "test/type1": 13, "test/type2": 12}
    halves: dict[str, set] = {}
    for it in items:
        halves.setdefault(it["pair"], set()).add(it["stereotype"])
    assert all(h == {"pro", "anti"} for h in halves.values())
    assert items.record["excluded"]["pairs"] == 19
    assert [it["id"] for it in winobias.load(100)] == [it["id"] for it in items]
    assert [it["id"] for it in winobias.load(100, seed=1)] != [it["id"] for it in items]


def test_every_reported_metric_has_a_direction_in_the_benchmarks_table():
    from charter.core.charterfile import benchmark_metrics
    from charter.evals.run import BENCHMARKS

    table = benchmark_metrics()
    for name, mod in BENCHMARKS.items():
        assert set(mod.METRICS) | set(getattr(mod, "TESTS", ())) == set(table[name]), name
