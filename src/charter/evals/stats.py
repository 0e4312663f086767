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
