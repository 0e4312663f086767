"""Bootstrap confidence intervals and per-group breakdowns, vectorized with numpy.

A benchmark describes its metrics as one function ``fn(W, data) -> array[k, m]``: ``data`` holds
per-item arrays, ``W`` is a ``[k, n]`` matrix of item weights (row i: how often each item is drawn in
resample i; a row of ones is the data itself) and the result has one column per metric. Means,
ratios and per-term macro averages are all weighted sums, so a thousand resamples are a few matrix
products. The estimate is ``fn`` on the data; the interval is the 2.5th and 97.5th percentiles of
``fn`` over ``n_boot`` resamples with replacement (percentile bootstrap, numpy's PCG64 seeded with
``seed``, so a result is reproducible to the bit).

What is resampled is the benchmark's *unit*, not the row: ``units`` gives one key per item, and a
resample draws as many units as there are, with replacement, every item of a drawn unit getting the
unit's count (a cluster bootstrap). The two halves of a WinoBias pair, the four questions of a BBQ
example, the three pronoun versions of a Winogender sentence are drawn together, so the interval of
a paired difference reflects the pairing; resampling the rows independently treats the halves as
independent and gives an interval several times too wide. Without ``units`` every item is its own
unit (the draws are then the same as before units existed). A group's breakdown resamples within
the group only (the units' items in that group). NaN (a metric undefined on a resample or a group)
becomes ``None`` in JSON; resamples where a metric is undefined are left out of its interval.
Correlations over clusters (Winogender's occupations) are weighted sums too: ``cluster_means`` gives
each cluster's mean under the weights, ``weighted_pearson``/``weighted_spearman`` correlate them with
each cluster weighted by how often it was drawn (the same as writing the repeats out).

Result of one metric::

    {"value": float | None, "ci": [lo, hi] | None, "n": items, "units": units resampled,
     "bootstrap": {"unit", "units", "n_boot", "seed", "level", "method"},
     "groups": {name: {"value", "ci", "n", "units"}}}
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

N_BOOT = 1000
SEED = 0
LEVEL = 0.95
CHUNK = 200  # resamples per weight matrix (bounds memory on the larger benchmarks)

Fn = Callable[[np.ndarray, Mapping[str, np.ndarray]], np.ndarray]


def weights(n: int, n_boot: int = N_BOOT, seed: int = SEED):
    """Yield [k, n] resample-count matrices, ``n_boot`` rows in all, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, CHUNK):
        k = min(CHUNK, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        idx += (np.arange(k) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=k * n).reshape(k, n).astype(np.float64)


def _num(x) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def unit_index(units: Sequence | None, n: int) -> tuple[np.ndarray, int]:
    """(the unit number of each item, number of units); units numbered in order of first appearance."""
    if units is None:
        return np.arange(n), n
    first: dict = {}
    idx = np.fromiter((first.setdefault(u, len(first)) for u in units), dtype=np.int64, count=n)
    return idx, len(first)


def estimate(fn: Fn, data: Mapping[str, np.ndarray], names: Sequence[str], *, n_boot: int = N_BOOT, seed: int = SEED,
             units: Sequence | None = None) -> dict:
    """{name: {"value", "ci", "n", "units"}} for the metrics ``fn`` computes on ``data``, the interval
    from resampling ``units`` (one key per item; default: each item its own unit)."""
    n = len(next(iter(data.values())))
    if n == 0:
        return {m: {"value": None, "ci": None, "n": 0, "units": 0} for m in names}
    idx, n_units = unit_index(units, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        point = np.asarray(fn(np.ones((1, n)), data), dtype=np.float64)[0]
        boot = np.concatenate([np.asarray(fn(w[:, idx], data), dtype=np.float64) for w in weights(n_units, n_boot, seed)]) if n_boot else None
    out = {}
    tail = (1 - LEVEL) / 2 * 100
    for j, m in enumerate(names):
        ci = None
        if boot is not None:
            col = boot[:, j][~np.isnan(boot[:, j])]
            if len(col):
                lo, hi = np.percentile(col, [tail, 100 - tail])
                ci = [float(lo), float(hi)]
        out[m] = {"value": _num(point[j]), "ci": ci, "n": n, "units": n_units}
    return out


def summarize(fn: Fn, data: Mapping[str, np.ndarray], names: Sequence[str], groups: Sequence | None = None, *,
              n_boot: int | None = None, seed: int | None = None, units: Sequence | None = None, unit: str = "item") -> dict:
    """Each metric overall with, when ``groups`` is given, a breakdown by group (groups in order of
    first appearance), each with its own interval. ``groups`` has one entry per item: a label, or a
    tuple of labels for an item in several groups (e.g. ``("type1", "test", "test/type1")``).
    ``units``: one key per item, what a resample draws (see the module); ``unit`` names it in the
    record. ``None``: the defaults."""
    n_boot = N_BOOT if n_boot is None else n_boot
    seed = SEED if seed is None else seed
    data = {k: np.asarray(v) for k, v in data.items()}
    ukeys = None if units is None else list(units)
    metrics = estimate(fn, data, names, n_boot=n_boot, seed=seed, units=ukeys)
    record = {"method": "percentile bootstrap over units", "unit": unit, "units": metrics[names[0]]["units"] if names else 0,
              "n_boot": n_boot, "seed": seed, "level": LEVEL}
    for m in names:
        metrics[m]["bootstrap"] = dict(record)
    if groups is not None:
        member = [g if isinstance(g, tuple) else (g,) for g in groups]
        labels = list(dict.fromkeys(g for gs in member for g in gs))
        for m in names:
            metrics[m]["groups"] = {}
        for g in labels:
            sel = np.array([i for i, gs in enumerate(member) if g in gs], dtype=np.int64)
            sub = estimate(fn, {k: v[sel] for k, v in data.items()}, names, n_boot=n_boot, seed=seed,
                           units=None if ukeys is None else [ukeys[i] for i in sel])
            for m in names:
                metrics[m]["groups"][str(g)] = sub[m]
    return metrics


def mean(w: np.ndarray, x: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of x per resample (over the items where ``where`` holds); NaN when empty."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if where is not None:
            return (w @ np.where(where, x, 0.0)) / (w @ where.astype(np.float64))
        return (w @ x) / w.sum(axis=1)


def cluster_means(w: np.ndarray, x: np.ndarray, member: np.ndarray) -> np.ndarray:
    """``[k, m]``: per resample, the weighted mean of ``x`` over each cluster's items; ``member`` is an
    ``[n, m]`` 0/1 matrix (item i in cluster j). NaN for a cluster with no weight."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (w @ (member * np.asarray(x, dtype=np.float64)[:, None])) / (w @ member)


def weighted_pearson(w: np.ndarray, x: np.ndarray, y: np.ndarray, min_points: int = 3) -> np.ndarray:
    """Per row of ``[k, m]`` weights ``w``, the Pearson correlation of ``x`` ``[k, m]`` and ``y`` ``[k, m]``
    or ``[m]`` with the points weighted (an integer weight c counts a point c times, as a resample that
    draws it c times). Points of weight 0 are left out (their x and y may be NaN). NaN where fewer than
    ``min_points`` points have weight or either variable is constant."""
    w = np.asarray(w, dtype=np.float64)
    on = w > 0
    x = np.where(on, x, 0.0)
    y = np.where(on, np.broadcast_to(y, w.shape), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = w.sum(axis=1, keepdims=True)
        dx, dy = x - (w * x).sum(axis=1, keepdims=True) / sw, y - (w * y).sum(axis=1, keepdims=True) / sw
        vx, vy = (w * dx * dx).sum(axis=1), (w * dy * dy).sum(axis=1)
        r = (w * dx * dy).sum(axis=1) / np.sqrt(vx * vy)
        tiny = lambda v, z: v <= 1e-12 * (w * z * z).sum(axis=1) + 1e-300  # noqa: E731 (constant up to rounding)
        bad = (on.sum(axis=1) < min_points) | tiny(vx, x) | tiny(vy, y)
    return np.where(bad, np.nan, np.clip(r, -1.0, 1.0))


def weighted_ranks(w: np.ndarray, x: np.ndarray, decimals: int = 9) -> np.ndarray:
    """Mid-ranks of ``x`` ``[k, m]`` (or ``[m]``) per row among the points of weight > 0, a point of weight c
    counting c times: the rank of a value is the weight below it plus (the weight equal to it + 1) / 2,
    as in the resample with the repeats written out. Values are compared rounded to ``decimals``."""
    w = np.asarray(w, dtype=np.float64)
    x = np.round(np.broadcast_to(np.asarray(x, dtype=np.float64), w.shape), decimals)
    xi, xj, wj = x[:, :, None], x[:, None, :], w[:, None, :]
    return (wj * (xj < xi)).sum(axis=2) + ((wj * (xj == xi)).sum(axis=2) + 1) / 2


def weighted_spearman(w: np.ndarray, x: np.ndarray, y: np.ndarray, min_points: int = 3) -> np.ndarray:
    """Spearman's rho per row: ``weighted_pearson`` of the weighted mid-ranks (ties share their mean rank)."""
    w = np.asarray(w, dtype=np.float64)
    x = np.where(w > 0, x, np.inf)  # NaN never compares equal; weightless points rank apart and count for nothing
    return weighted_pearson(w, weighted_ranks(w, x), weighted_ranks(w, y), min_points)
