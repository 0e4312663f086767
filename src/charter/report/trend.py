"""The trend chart: one benchmark's metrics across models (charter eval --trend), each value with its 95%
interval, in x order, and no fitted curve (see charter.evals.trend)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from charter.evals.trend import Point


def chart(pts: Sequence[Point], stem: Path, bench: str, axis: str) -> list[Path]:
    """``stem``.png and .svg: one panel per metric, each model's value with its 95% interval, in x order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(p.metric for p in pts))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7, 2.6 * len(metrics) + 0.6), squeeze=False)
    xs = [p.x for p in pts]
    log = axis != "order" and min(xs) > 0 and max(xs) / min(xs) >= 20
    for ax, m in zip(axes[:, 0], metrics):
        ps = sorted((p for p in pts if p.metric == m), key=lambda p: p.x)
        x = [p.x for p in ps]
        y = [p.value for p in ps]
        lo = [p.value - p.ci[0] if p.ci else 0 for p in ps]
        hi = [p.ci[1] - p.value if p.ci else 0 for p in ps]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o", capsize=4, color="#1f5fa8")
        ax.plot(x, y, ls=":", lw=0.8, color="#1f5fa8")  # order only: no fitted curve
        for p in ps:
            ax.annotate(p.model.split("/", 1)[1], (p.x, p.value), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_ylabel(m)
        if log:
            ax.set_xscale("log")
        if axis == "order":
            ax.set_xticks(x)
    axes[-1, 0].set_xlabel({"tokens": "training tokens", "parameters": "parameters", "order": "model (order given)"}[axis])
    fig.suptitle(f"{bench}: measured values with 95% intervals (no curve fitted)", fontsize=10)
    fig.tight_layout()
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for f in out:
        fig.savefig(f, dpi=120)
    plt.close(fig)
    return out
