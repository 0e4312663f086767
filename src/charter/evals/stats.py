"""Bootstrap confidence intervals and per-group breakdowns, vectorized with numpy.

A benchmark describes its metrics as one function ``fn(W, data) -> array[k, m]``: ``data`` holds
per-item arrays, ``W`` is a ``[k, n]`` matrix of item weights (row i: how often each item is drawn in
resample i; a row of ones is the data itself) and the result has one column per metric. Means,
ratios and per-term macro averages are all weighted sums, so a thousand resamples are a few matrix
products. The estimate is ``fn`` on the data; the interval is the 2.5th and 97.5th percentiles of
``fn`` over ``n_boot`` resamples of the items with replacement (percentile bootstrap, numpy's
PCG64 seeded with ``seed``, so a result is reproducible to the bit). A group's breakdown resamples
within the group only. NaN (a metric undefined on a resample or a group) becomes ``None`` in JSON;
resamples where a metric is undefined are left out of its interval.

Result of one metric::

    {"value": float | None, "ci": [lo, hi] | None, "n": items, "groups": {name: {"value", "ci", "n"}}}
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


def estimate(fn: Fn, data: Mapping[str, np.ndarray], names: Sequence[str], *, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """{name: {"value", "ci", "n"}} for the metrics ``fn`` computes on ``data``."""
    n = len(next(iter(data.values())))
    if n == 0:
        return {m: {"value": None, "ci": None, "n": 0} for m in names}
    with np.errstate(divide="ignore", invalid="ignore"):
        point = np.asarray(fn(np.ones((1, n)), data), dtype=np.float64)[0]
        boot = np.concatenate([np.asarray(fn(w, data), dtype=np.float64) for w in weights(n, n_boot, seed)]) if n_boot else None
    out = {}
    tail = (1 - LEVEL) / 2 * 100
    for j, m in enumerate(names):
        ci = None
        if boot is not None:
            col = boot[:, j][~np.isnan(boot[:, j])]
            if len(col):
                lo, hi = np.percentile(col, [tail, 100 - tail])
                ci = [float(lo), float(hi)]
        out[m] = {"value": _num(point[j]), "ci": ci, "n": n}
    return out


def summarize(fn: Fn, data: Mapping[str, np.ndarray], names: Sequence[str], groups: Sequence[str] | None = None, *,
              n_boot: int | None = None, seed: int | None = None) -> dict:
    """Each metric overall with, when ``groups`` (one label per item) is given, a breakdown by group
    (groups in order of first appearance), each with its own interval. ``None``: the defaults."""
    n_boot = N_BOOT if n_boot is None else n_boot
    seed = SEED if seed is None else seed
    data = {k: np.asarray(v) for k, v in data.items()}
    metrics = estimate(fn, data, names, n_boot=n_boot, seed=seed)
    if groups is not None:
        labels = list(dict.fromkeys(groups))
        arr = np.asarray(groups, dtype=object)
        for m in names:
            metrics[m]["groups"] = {}
        for g in labels:
            sel = np.flatnonzero(arr == g)
            sub = estimate(fn, {k: v[sel] for k, v in data.items()}, names, n_boot=n_boot, seed=seed)
            for m in names:
                metrics[m]["groups"][str(g)] = sub[m]
    return metrics


def mean(w: np.ndarray, x: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of x per resample (over the items where ``where`` holds); NaN when empty."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if where is not None:
            return (w @ np.where(where, x, 0.0)) / (w @ where.astype(np.float64))
        return (w @ x) / w.sum(axis=1)
