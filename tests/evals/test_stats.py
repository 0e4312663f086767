"""Bootstrap intervals: reproducible, around the estimate, per group, vectorized resample counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from charter.evals import stats


def mean_fn(w, d):
    return np.stack([stats.mean(w, d["x"])], axis=1)


def test_resample_counts():
    chunks = list(stats.weights(7, n_boot=450, seed=3))
    w = np.concatenate(chunks)
    assert w.shape == (450, 7) and len(chunks) == 3
    assert (w.sum(axis=1) == 7).all()  # each resample draws n items
    assert np.array_equal(w, np.concatenate(list(stats.weights(7, n_boot=450, seed=3))))
    assert abs(w.mean() - 1.0) < 0.05


def test_interval_is_reproducible_and_contains_a_symmetric_estimate():
    x = np.array([0.0, 1.0] * 50)
    a = stats.summarize(mean_fn, {"x": x}, ["m"])
    assert a == stats.summarize(mean_fn, {"x": x}, ["m"])  # same seed, same bits
    y = np.linspace(0.0, 1.0, 101) ** 2
    assert stats.summarize(mean_fn, {"x": y}, ["m"])["m"]["ci"] != stats.summarize(mean_fn, {"x": y}, ["m"], seed=1)["m"]["ci"]
    m = a["m"]
    assert m["value"] == 0.5 and m["n"] == 100
    lo, hi = m["ci"]
    assert lo < 0.5 < hi
    assert (0.5 - lo) == pytest.approx(hi - 0.5, abs=0.02)  # symmetric data, symmetric interval
    assert (hi - lo) == pytest.approx(2 * 1.96 * 0.05, abs=0.03)  # ~ the normal interval, 1.96 standard errors each side
    json.dumps(a)


def test_groups_have_their_own_intervals():
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    g = ["a", "a", "a", "a", "b", "b", "b", "b"]
    m = stats.summarize(mean_fn, {"x": x}, ["m"], g)["m"]
    assert list(m["groups"]) == ["a", "b"]
    assert m["groups"]["a"]["value"] == 0.75 and m["groups"]["b"]["value"] == 0.25
    assert m["groups"]["a"]["n"] == 4 and m["value"] == 0.5
    for grp in m["groups"].values():
        assert grp["ci"][0] <= grp["value"] <= grp["ci"][1] and "groups" not in grp


def test_undefined_values_and_no_resamples():
    def ratio(w, d):  # undefined where the denominator is 0
        return np.stack([(w @ d["x"]) / (w @ d["y"])], axis=1)

    m = stats.summarize(ratio, {"x": np.array([0.0, 0.0]), "y": np.array([0.0, 0.0])}, ["r"])["r"]
    assert m["value"] is None and m["ci"] is None
    m = stats.summarize(mean_fn, {"x": np.array([1.0, 2.0])}, ["m"], n_boot=0)["m"]
    assert {k: m[k] for k in ("value", "ci", "n", "units")} == {"value": 1.5, "ci": None, "n": 2, "units": 2}
    assert m["bootstrap"]["n_boot"] == 0 and m["bootstrap"]["unit"] == "item"
    m = stats.summarize(mean_fn, {"x": np.array([])}, ["m"])["m"]
    assert {k: m[k] for k in ("value", "ci", "n", "units")} == {"value": None, "ci": None, "n": 0, "units": 0}


def test_weighted_mean_with_a_mask():
    w = np.array([[1.0, 1.0, 1.0], [0.0, 3.0, 0.0]])
    x = np.array([1.0, 2.0, 4.0])
    assert stats.mean(w, x).tolist() == [7 / 3, 2.0]
    where = np.array([True, False, True])
    got = stats.mean(w, x, where)
    assert got[0] == 2.5 and np.isnan(got[1])
