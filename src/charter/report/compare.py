"""Comparison along lineage: which evaluated properties got better or worse from one asset to
another (typically a base model and its adaptation), and a chart of the scores with their CIs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charter.core.assets import Property
from charter.core.charterfile import benchmark_metrics
from charter.registry import Registry


@dataclass(frozen=True)
class Change:
    benchmark: str
    metric: str
    a: Property | None
    b: Property | None
    verdict: str  # better | worse | unchanged | only-a | only-b  (B relative to A)
    significant: bool  # both have CIs and they do not overlap

    @property
    def delta(self) -> float | None:
        return self.b.value - self.a.value if self.a and self.b else None

    def to_json(self) -> dict:
        return {"benchmark": self.benchmark, "metric": self.metric, "a": self.a.to_json() if self.a else None,
                "b": self.b.to_json() if self.b else None, "delta": self.delta, "verdict": self.verdict,
                "significant": self.significant}


def badness(benchmark: str, metric: str, value: float) -> float:
    """Distance from the metric's best value, in the metric's units (lower is better)."""
    rule = benchmark_metrics().get(benchmark, {}).get(metric, {})
    if "ideal" in rule:
        return abs(value - float(rule["ideal"]))
    return -value if rule.get("better", "higher") == "higher" else value


def compare(reg: Registry, a_ref: str, b_ref: str) -> tuple[str, str, list[Change]]:
    a_id, b_id = reg.resolve(a_ref), reg.resolve(b_ref)
    pa, pb = reg.properties(a_id), reg.properties(b_id)
    out = []
    for key in sorted(set(pa) | set(pb)):
        x, y = pa.get(key), pb.get(key)
        if x is None or y is None:
            out.append(Change(*key, x, y, "only-a" if y is None else "only-b", False))
            continue
        da, db = badness(*key, x.value), badness(*key, y.value)
        verdict = "unchanged" if abs(da - db) < 1e-12 else ("better" if db < da else "worse")
        apart = bool(x.ci and y.ci and (x.ci[1] < y.ci[0] or y.ci[1] < x.ci[0]))
        out.append(Change(*key, x, y, verdict, apart))
    return a_id, b_id, out


def chart(changes: list[Change], a_id: str, b_id: str, stem: Path) -> list[Path]:
    """One panel per metric: each model's score with its 95% CI, and the metric's ideal as a line.
    Writes ``stem``.png and ``stem``.svg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in changes if c.a or c.b]
    if not rows:
        return []
    cols = min(3, len(rows))
    nrows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.1 * nrows + 0.6), squeeze=False)
    colours = {a_id: "#4C72B0", b_id: "#DD8452"}
    for ax, c in zip(axes.flat, rows):
        for y, (mid, p) in enumerate(((a_id, c.a), (b_id, c.b))):
            if p is None:
                continue
            err = [[p.value - p.ci[0]], [p.ci[1] - p.value]] if p.ci else None
            ax.errorbar([p.value], [y], xerr=err, fmt="o", color=colours[mid], capsize=4, markersize=6)
        rule = benchmark_metrics().get(c.benchmark, {}).get(c.metric, {})
        if "ideal" in rule:
            ax.axvline(float(rule["ideal"]), color="grey", linestyle="--", linewidth=1)
        ax.set_yticks([0, 1], [_short(a_id), _short(b_id)])
        ax.set_ylim(-0.6, 1.6)
        mark = {"better": "↑ better", "worse": "↓ worse", "unchanged": "= same"}.get(c.verdict, c.verdict)
        ax.set_title(f"{c.benchmark}: {c.metric}  ({mark}{', CIs apart' if c.significant else ''})", fontsize=9,
                     color={"better": "#2a7a2a", "worse": "#b22222"}.get(c.verdict, "black"))
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(f"{b_id} vs {a_id} (95% bootstrap CIs; dashed: ideal)", fontsize=10)
    fig.tight_layout()
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=130)
    plt.close(fig)
    return paths


def _short(asset_id: str) -> str:
    return asset_id.split("/", 1)[1] if len(asset_id) > 28 else asset_id
