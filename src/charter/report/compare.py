"""Comparison along lineage: which evaluated properties of B (typically an adaptation) differ from A's
(its base) beyond chance, and a chart of the paired differences with their intervals.

Each metric is compared on the items both models scored, read from the runs' ``items/<bench>.jsonl``
(``charter eval`` writes one row per scored item). The quantity tested is the **gain**: how much
closer to the metric's ideal B is than A (``distance(A) - distance(B)``, distance as ``badness``;
positive: B is better), recomputed from the rows by the benchmark's own scorer:

- its interval is a paired percentile bootstrap over the benchmark's units (a CrowS pair, a BBQ
  question, a StereoSet context, a WinoBias pro/anti sentence pair, a Winogender
  occupation/participant/answer group; Winogender's correlations with BLS statistics: the occupation,
  as their own intervals): one resample of the units weights A's and B's items alike;
- its p-value is exact McNemar for accuracies (the items one model gets right and the other wrong,
  two-sided binomial at 1/2) and, for every other metric, the bootstrap's (twice the smaller share of
  resampled gains on either side of 0);
- p-values are Holm-corrected across the metrics shown; ``better``/``worse`` only when the corrected
  p is below ``ALPHA``, else ``no-difference``.

Refused (``NotComparable``, exit 1): a benchmark measured with different versions, or with no item in
common, unless ``allow_mismatch`` (then it is listed as ``not-comparable``, with no verdict). Warned:
different item sets (compared on the common items) and other config differences (batch size, ...).
A property without item outputs (its run folder gone, or attached by hand) is ``untested``.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from charter.core.assets import Property
from charter.core.charterfile import benchmark_metrics
from charter.errors import CharterError
from charter.registry import Registry

ALPHA = 0.05
N_BOOT = 2000
SEED = 0
# config keys that differ between two models' runs by design (the rest must match, or a warning says which)
OWN_KEYS = frozenset({"kind", "model", "weights_sha256", "uses", "benchmarks", "limit"})
# accuracies: (per-item 0/1 field, which items) -> exact McNemar
ACCURACIES: dict[tuple[str, str], tuple[str, Callable[[dict], bool] | None]] = {
    ("bbq", "acc"): ("acc", None),
    ("bbq", "accuracy_amb"): ("acc", lambda r: r.get("context_condition") == "ambig"),
    ("bbq", "accuracy_disamb"): ("acc", lambda r: r.get("context_condition") == "disambig"),
    **{(b, "acc"): ("correct", None) for b in ("winobias", "winogender")},
    **{(b, "acc_pro"): ("correct", lambda r: r.get("stereotype") == "pro") for b in ("winobias", "winogender")},
    **{(b, "acc_anti"): ("correct", lambda r: r.get("stereotype") == "anti") for b in ("winobias", "winogender")},
}


class NotComparable(CharterError):
    code = "not-comparable"


@dataclass(frozen=True)
class Change:
    benchmark: str
    metric: str
    a: Property | None
    b: Property | None
    verdict: str  # better | worse | no-difference | untested | not-comparable | only-a | only-b  (B relative to A)
    significant: bool = False  # Holm-corrected p < ALPHA
    gain: float | None = None  # distance(A) - distance(B) from the ideal, on the common items (> 0: B closer)
    gain_ci: tuple[float, float] | None = None  # paired bootstrap 95% interval
    p: float | None = None
    p_holm: float | None = None
    test: str = ""  # mcnemar | paired-bootstrap
    n: int = 0  # items compared (both scored)
    units: int = 0  # resampling units among them
    discordant: tuple[int, int] | None = None  # mcnemar: (B right where A wrong, B wrong where A right)
    note: str = ""  # why untested / not comparable, or how the items differ

    @property
    def delta(self) -> float | None:
        return self.b.value - self.a.value if self.a and self.b else None

    def to_json(self) -> dict:
        return {"benchmark": self.benchmark, "metric": self.metric, "a": self.a.to_json() if self.a else None,
                "b": self.b.to_json() if self.b else None, "delta": self.delta, "verdict": self.verdict,
                "significant": self.significant, "gain": self.gain, "gain_ci": list(self.gain_ci) if self.gain_ci else None,
                "p": self.p, "p_holm": self.p_holm, "test": self.test or None, "n": self.n, "units": self.units,
                "discordant": list(self.discordant) if self.discordant else None, "note": self.note}


@dataclass
class Comparison:
    a: str
    b: str
    changes: list[Change]
    warnings: list[str] = field(default_factory=list)
    n_boot: int = N_BOOT
    seed: int = SEED

    def __iter__(self):  # a, b, changes = compare(...)
        return iter((self.a, self.b, self.changes))

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "alpha": ALPHA, "correction": "holm", "n_boot": self.n_boot, "seed": self.seed,
                "warnings": self.warnings, "changes": [c.to_json() for c in self.changes]}


def badness(benchmark: str, metric: str, value):
    """Distance from the metric's best value, in the metric's units (lower is better); works on arrays."""
    rule = benchmark_metrics().get(benchmark, {}).get(metric, {})
    if "ideal" in rule:
        return abs(value - float(rule["ideal"]))
    return -value if rule.get("better", "higher") == "higher" else value


# --- item outputs --------------------------------------------------------------------------

def _config(run: str) -> dict | None:
    try:
        return json.loads((Path(run) / "config.json").read_text()).get("config")
    except (OSError, ValueError):
        return None


def _rows(run: str, bench: str, cache: dict) -> list[dict] | None:
    key = (run, bench)
    if key not in cache:
        f = Path(run) / "items" / f"{bench}.jsonl" if run else None
        try:
            cache[key] = [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f else None
        except (OSError, ValueError):
            cache[key] = None
    return cache[key]


def item_key(bench: str, row: dict) -> str:
    """An item's identity within its benchmark (BBQ's example ids restart in each category)."""
    return f"{row.get('category')}/{row['id']}" if bench == "bbq" else str(row["id"])


def unit_key(bench: str, row: dict) -> str:
    """The unit a bootstrap resamples: items of one unit are drawn together (the benchmark module's
    ``unit(row)`` when it has one)."""
    from charter.evals.run import BENCHMARKS

    own = getattr(BENCHMARKS.get(bench), "unit", None)
    if callable(own):
        return str(own(row))
    rid = str(row["id"])
    if bench == "winobias":  # split/type/stereotype/line: the pro and anti sentences of a line are one pair
        parts = rid.split("/")
        return "/".join(parts[:2] + parts[3:]) if len(parts) == 4 else rid
    if bench == "winogender":  # occupation.participant.answer.gender.txt: the pronoun versions are one group
        return ".".join(rid.split(".")[:3])
    return item_key(bench, row)


_SPY = threading.Lock()


def scorer(bench: str, rows: list[dict]) -> tuple[Callable[[np.ndarray], np.ndarray], tuple[str, ...]]:
    """``(f, names)``: ``f(W)`` gives the benchmark's metrics ``[k, len(names)]`` under item weights
    ``W [k, len(rows)]``, by the benchmark's own aggregate. The aggregate hands its metric function and
    per-item arrays to ``stats.summarize``; they are taken there (no bootstrap run), so a resample is a
    few matrix products. Should a benchmark aggregate otherwise (another function, or several calls),
    each resample reruns its aggregate on the drawn rows: slower, the same answer."""
    from charter.evals import stats
    from charter.evals.run import BENCHMARKS

    mod = BENCHMARKS[bench]
    got: dict = {}

    def spy(fn, data, names, *args, **kw):
        got.setdefault("fn", (fn, {k: np.asarray(v) for k, v in data.items()}, tuple(names)))
        got["calls"] = got.get("calls", 0) + 1
        return {m: {"value": None, "ci": None, "n": 0, "groups": {}} for m in names}

    with _SPY:
        real, stats.summarize = stats.summarize, spy
        try:
            mod.aggregate(rows, n_boot=0)
        finally:
            stats.summarize = real
    if got.get("calls") == 1:  # one metric function for every metric: resample it directly
        fn, data, names = got["fn"]
        return (lambda w: np.asarray(fn(w, data), dtype=np.float64)), names
    names = tuple(mod.METRICS)

    def slow(w: np.ndarray) -> np.ndarray:
        out = np.full((len(w), len(names)), np.nan)
        for i, row in enumerate(w):
            sample = [r for r, c in zip(rows, row) for _ in range(int(c))]
            res = mod.aggregate(sample, n_boot=0)
            out[i] = [np.nan if res[m]["value"] is None else res[m]["value"] for m in names]
        return out
    return slow, names


def mcnemar(fixed: int, broken: int) -> float:
    """Exact two-sided McNemar p: 2 * P(X <= min) for X ~ Binomial(fixed + broken, 1/2), at most 1."""
    n = fixed + broken
    if n == 0:
        return 1.0
    k = min(fixed, broken)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / (1 << n))  # exact integers: no overflow at large n


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def _boot_counts(n_units: int, n_boot: int, seed: int):
    """[k, n_units] draw counts, ``n_boot`` rows in all (chunks bound memory)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, 200):
        k = min(200, n_boot - start)
        idx = rng.integers(0, n_units, size=(k, n_units)) + (np.arange(k) * n_units)[:, None]
        yield np.bincount(idx.ravel(), minlength=k * n_units).reshape(k, n_units).astype(np.float64)


def paired(bench: str, rows_a: list[dict], rows_b: list[dict], metrics: list[str], *, n_boot: int = N_BOOT,
           seed: int = SEED) -> dict[str, dict]:
    """For rows of the same items (same order), per metric: the gain on the data, its paired bootstrap
    interval over units and p-value; exact McNemar's p and discordant counts for accuracies. A metric
    the benchmark resamples by another unit (its module's ``METRIC_UNITS``: metric -> key of a row, e.g.
    Winogender's correlations over occupations) is resampled by that unit."""
    fa, names = scorer(bench, rows_a)
    fb, _ = scorer(bench, rows_b)
    idx = {m: names.index(m) for m in metrics if m in names}
    from charter.evals.run import BENCHMARKS

    own = getattr(BENCHMARKS.get(bench), "METRIC_UNITS", {})
    schemes: dict = {}
    for m in idx:
        schemes.setdefault(own.get(m), []).append(m)

    def gain(w, ms):
        va, vb = fa(w), fb(w)
        with np.errstate(invalid="ignore"):
            return {m: badness(bench, m, va[:, idx[m]]) - badness(bench, m, vb[:, idx[m]]) for m in ms}

    point = gain(np.ones((1, len(rows_a))), list(idx))
    boots: dict[str, list] = {m: [] for m in idx}
    n_units: dict[str, int] = {}
    for key, ms in schemes.items():
        units = [unit_key(bench, r) if key is None else str(key(r)) for r in rows_a]
        codes = {u: i for i, u in enumerate(dict.fromkeys(units))}
        col = np.array([codes[u] for u in units])
        n_units.update({m: len(codes) for m in ms})
        if n_boot:
            for counts in _boot_counts(len(codes), n_boot, seed):
                for m, g in gain(counts[:, col], ms).items():
                    boots[m].append(g)
    out = {}
    for m in idx:
        g0 = float(point[m][0])
        res = {"gain": None if math.isnan(g0) else g0, "gain_ci": None, "p": None, "test": "", "n": len(rows_a),
               "units": n_units[m], "discordant": None}
        b = np.concatenate(boots[m]) if boots[m] else np.array([])
        b = b[~np.isnan(b)]
        if len(b):
            lo, hi = np.percentile(b, [2.5, 97.5])
            res["gain_ci"] = (float(lo), float(hi))
            res["p"] = float(min(1.0, 2 * min((np.sum(b <= 0) + 1) / (len(b) + 1), (np.sum(b >= 0) + 1) / (len(b) + 1))))
            res["test"] = "paired-bootstrap"
        acc = ACCURACIES.get((bench, m))
        if acc and all(acc[0] in r for r in rows_a + rows_b):
            fld, where = acc
            pairs = [(ra[fld], rb[fld]) for ra, rb in zip(rows_a, rows_b) if where is None or where(ra)]
            fixed = sum(1 for x, y in pairs if not x and y)
            broken = sum(1 for x, y in pairs if x and not y)
            res.update(p=mcnemar(fixed, broken), test="mcnemar", discordant=(fixed, broken))
        if res["gain"] is None:
            res.update(p=None, test="")
        out[m] = res
    return out


# --- the comparison ------------------------------------------------------------------------

def compare(reg: Registry, a_ref: str, b_ref: str, *, allow_mismatch: bool = False, n_boot: int = N_BOOT,
            seed: int = SEED) -> Comparison:
    a_id, b_id = reg.resolve(a_ref), reg.resolve(b_ref)
    pa, pb = reg.properties(a_id), reg.properties(b_id)
    keys = sorted(set(pa) | set(pb))
    warnings: list[str] = []
    cache: dict = {}
    changes: dict[tuple[str, str], Change] = {}
    both: dict[str, list[str]] = {}
    for key in keys:
        x, y = pa.get(key), pb.get(key)
        if x is None or y is None:
            changes[key] = Change(*key, x, y, "only-a" if y is None else "only-b")
        else:
            both.setdefault(key[0], []).append(key[1])
    results: dict[tuple[str, str], dict] = {}
    for bench, metrics in both.items():
        # metrics of one benchmark usually come from one run each side; group by the runs
        groups: dict[tuple[str, str], list[str]] = {}
        for m in metrics:
            groups.setdefault((pa[(bench, m)].run, pb[(bench, m)].run), []).append(m)
        for (run_a, run_b), ms in groups.items():
            x, y = pa[(bench, ms[0])], pb[(bench, ms[0])]
            if x.version != y.version:
                msg = f"{bench}: A was measured with {x.version}, B with {y.version}; their numbers are not comparable"
                if not allow_mismatch:
                    raise NotComparable(msg, hint=f"evaluate both with the same version (`charter eval MODEL --bench {bench}`), "
                                                  "or pass --allow-mismatch to list it without a verdict")
                warnings.append(msg)
                for m in ms:
                    changes[(bench, m)] = Change(bench, m, pa[(bench, m)], pb[(bench, m)], "not-comparable", note=f"versions differ ({x.version} vs {y.version})")
                continue
            ra, rb = _rows(run_a, bench, cache), _rows(run_b, bench, cache)
            if ra is None or rb is None:
                side = " and ".join(s for s, r in (("A", ra), ("B", rb)) if r is None)
                note = f"no item outputs for {side} (run folder {(run_a if ra is None else run_b) or '(none)'})"
                for m in ms:
                    changes[(bench, m)] = Change(bench, m, pa[(bench, m)], pb[(bench, m)], "untested", note=note)
                warnings.append(f"{bench}: {note}; {', '.join(ms)} untested")
                continue
            ia = {item_key(bench, r): r for r in ra}
            ib = {item_key(bench, r): r for r in rb}
            common = [k for k in ia if k in ib]
            note = ""
            if not common:
                msg = f"{bench}: A and B scored no item in common ({len(ia)} and {len(ib)} items)"
                if not allow_mismatch:
                    raise NotComparable(msg, hint="evaluate both on the same items (the same --limit), or pass --allow-mismatch")
                warnings.append(msg)
                for m in ms:
                    changes[(bench, m)] = Change(bench, m, pa[(bench, m)], pb[(bench, m)], "not-comparable", note="no item in common")
                continue
            if len(common) != len(ia) or len(common) != len(ib):
                note = f"compared on the {len(common)} items both scored (A {len(ia)}, B {len(ib)})"
                warnings.append(f"{bench}: the item sets differ; {note}")
            ca, cb = _config(run_a), _config(run_b)
            if ca is not None and cb is not None:
                diff = sorted(k for k in set(ca) | set(cb) if k not in OWN_KEYS and ca.get(k) != cb.get(k))
                if diff:
                    warnings.append(f"{bench}: the runs' configs differ in " + ", ".join(f"{k} (A {ca.get(k)!r}, B {cb.get(k)!r})" for k in diff))
            got = paired(bench, [ia[k] for k in common], [ib[k] for k in common], ms, n_boot=n_boot, seed=seed)
            for m in ms:
                if m in got and got[m]["p"] is not None:
                    results[(bench, m)] = got[m] | {"note": note}
                else:
                    changes[(bench, m)] = Change(bench, m, pa[(bench, m)], pb[(bench, m)], "untested",
                                                 note=note or "the scorer gives no value on the common items")
    tested = list(results)
    for key, p_holm in zip(tested, holm([results[k]["p"] for k in tested])):
        r = results[key]
        sig = p_holm < ALPHA
        verdict = ("better" if r["gain"] > 0 else "worse") if sig and r["gain"] != 0 else "no-difference"
        changes[key] = Change(*key, pa[key], pb[key], verdict, verdict != "no-difference", r["gain"], r["gain_ci"], r["p"], p_holm,
                              r["test"], r["n"], r["units"], r["discordant"], r["note"])
    return Comparison(a_id, b_id, [changes[k] for k in keys], warnings, n_boot, seed)


def summary(changes: list[Change]) -> str:
    """One line: better / worse / no significant difference / not tested."""
    tested = [c for c in changes if c.p_holm is not None]
    name = lambda cs: ", ".join(f"{c.benchmark}.{c.metric}" for c in cs)  # noqa: E731
    better = [c for c in tested if c.verdict == "better"]
    worse = [c for c in tested if c.verdict == "worse"]
    parts = [f"{len(worse)} of {len(tested)} tested properties significantly worse" + (f" ({name(worse)})" if worse else ""),
             f"{len(better)} significantly better" + (f" ({name(better)})" if better else ""),
             f"{len(tested) - len(better) - len(worse)} with no significant difference"]
    untested = [c for c in changes if c.p_holm is None]
    if untested:
        parts.append(f"{len(untested)} not tested")
    return "; ".join(parts) + f" (Holm-corrected p < {ALPHA:g})"


def chart(changes: list[Change], a_id: str, b_id: str, stem: Path) -> list[Path]:
    """One panel per benchmark: each tested metric's gain (how much closer to ideal B is than A) with
    its paired 95% interval, 0 marked. Writes ``stem``.png and ``stem``.svg; nothing when no metric
    was tested."""
    rows = [c for c in changes if c.gain is not None]
    if not rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = list(dict.fromkeys(c.benchmark for c in rows))
    sizes = [sum(c.benchmark == b for c in rows) for b in benches]
    fig, axes = plt.subplots(len(benches), 1, figsize=(7.5, 0.55 * sum(sizes) + 1.0 * len(benches) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": [s + 1.2 for s in sizes]})
    colour = {"better": "#2a7a2a", "worse": "#b22222"}
    for ax, bench in zip(axes[:, 0], benches):
        cs = [c for c in rows if c.benchmark == bench]
        for y, c in enumerate(cs):
            lo, hi = c.gain_ci or (c.gain, c.gain)
            ax.errorbar([c.gain], [y], xerr=[[c.gain - lo], [hi - c.gain]], fmt="o", capsize=4, markersize=6,
                        color=colour.get(c.verdict, "#555555"))
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        labels = [f"{c.metric}  ({c.verdict}, p_holm {c.p_holm:.2g})" for c in cs]
        ax.set_yticks(range(len(cs)), labels, fontsize=8)
        ax.set_ylim(-0.7, len(cs) - 0.3)
        ax.invert_yaxis()
        ax.set_title(f"{bench} ({cs[0].n} paired items, {cs[0].units} units)", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("gain: how much closer to the ideal B is than A (> 0: B better), paired 95% CI", fontsize=8)
    fig.suptitle(f"{_short(b_id)} vs {_short(a_id)}", fontsize=10)
    fig.tight_layout()
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=130)
    plt.close(fig)
    return paths


def _short(asset_id: str) -> str:
    return asset_id.split("/", 1)[1] if len(asset_id) > 28 else asset_id
