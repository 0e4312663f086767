"""A property across models: evaluate several (a sweep), then read one benchmark's metrics against
training tokens, parameters or the order given (a trend), each point with its 95% interval.

The models are the caller's: the snapshots of a training run (``charter train --snapshot-every N``; a run
folder given in place of models stands for its snapshots, in step order, see ``expand``), a size ladder
(the tiny and small configs, SmolLM2), a base and its adaptations. A point is the model's latest
evaluation of the metric (``Registry.properties``); a model not evaluated on the benchmark is an error
that says how to evaluate it. No curve is fitted: a handful of models with intervals this wide supports
no functional form, so the chart shows the measurements and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from charter.errors import InvalidInput

AXES = ("tokens", "parameters", "order")


def is_run_arg(ref: str) -> bool:
    """Whether a --sweep/--trend argument names a run folder rather than a model: an existing folder that a
    run staked, or a path that is not a ``kind/name`` reference (refused later, with the fix, if it is no run)."""
    from pathlib import Path

    from charter.core.ids import KINDS
    from charter.training.snapshots import is_run_folder

    looks_like_ref = ref.partition("/")[0] in KINDS and "/" in ref
    if Path(ref).is_dir():
        return not looks_like_ref or is_run_folder(ref)
    return not looks_like_ref and ("/" in ref or ref.startswith("."))


def expand(reg, refs: Sequence[str], register: bool = False) -> list[tuple[str, list[str]]]:
    """Each argument with the model ids it stands for: a run folder, its snapshots in step order (registered
    first when ``register``: ``charter eval --sweep``; else they must be: ``--trend``); a model, itself."""
    from pathlib import Path

    from charter.training import snapshots

    out = []
    for ref in refs:
        if not is_run_arg(ref):
            out.append((ref, [reg.resolve(ref)]))
        elif register:
            out.append((ref, [a.id for a in snapshots.register(reg, Path(ref))]))
        else:
            ids = snapshots.ids(Path(ref))
            missing = [i for i in ids if reg.store.get(i) is None]
            if missing:
                raise InvalidInput(f"the snapshots of {ref} are not registered ({missing[0]} is not)",
                                   hint=f"register and evaluate them: charter eval --sweep {ref} --bench NAME", field="--trend")
            out.append((ref, ids))
    return out


@dataclass(frozen=True)
class Point:
    model: str
    x: float
    metric: str
    value: float
    ci: tuple[float, float] | None
    n: int
    version: str

    def to_json(self) -> dict:
        return {"model": self.model, "x": self.x, "metric": self.metric, "value": self.value,
                "ci": list(self.ci) if self.ci else None, "n": self.n, "version": self.version}


def x_value(reg, model: str, axis: str, position: int) -> float:
    """Where ``model`` sits on the x axis: training tokens or parameters its training run recorded
    (``notes.run.metrics``), parameters counted from its safetensors headers, or its position."""
    if axis not in AXES:
        raise InvalidInput(f"unknown axis {axis!r}", hint=f"use one of {', '.join(AXES)}", field="--x")
    if axis == "order":
        return float(position)
    a = reg.get(model)
    recorded = ((a.notes.get("run") or {}).get("metrics") or {}).get(axis)
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        return float(recorded)
    if axis == "parameters":
        return float(count_parameters(a))
    raise InvalidInput(f"{a.id} records no training tokens (only runs of `charter train` do)", hint="use --x parameters or --x order",
                       field="--x")


def count_parameters(a) -> int:
    """Parameters of a registered model, from its safetensors headers (shapes only: nothing is loaded)."""
    from safetensors import safe_open

    from charter.models.loading import weights_folder, weights_of

    w = weights_of(a)
    if w.is_adapter:
        raise InvalidInput(f"{a.id} is a LoRA adapter: its own parameters are not the model's", hint="use --x order", field="--x")
    files = sorted(weights_folder(a).glob("*.safetensors"))
    if not files:
        raise InvalidInput(f"{a.id} has no safetensors weights to count", hint="use --x order", field="--x")
    total = 0
    for f in files:
        with safe_open(str(f), framework="numpy") as s:
            for k in s.keys():
                n = 1
                for d in s.get_slice(k).get_shape():
                    n *= d
                total += n
    return total


def points(reg, models: Sequence[str], bench: str, metrics: Sequence[str], axis: str = "order") -> list[Point]:
    """One point per (model, metric), models in the order given."""
    out = []
    for i, ref in enumerate(models):
        mid = reg.resolve(ref)
        x = x_value(reg, mid, axis, i)
        props = reg.properties(mid)
        for m in metrics:
            p = props.get((bench, m))
            if p is None:
                raise InvalidInput(f"{mid} has no {bench} evaluation of {m}",
                                   hint=f"evaluate it first: charter eval --sweep {' '.join(models)} --bench {bench}", field="--trend")
            out.append(Point(mid, x, m, p.value, tuple(p.ci) if p.ci else None, p.n, p.version))
    return out


def versions(pts: Sequence[Point]) -> list[str]:
    """The benchmark versions the points come from (more than one: the points are not comparable as they are)."""
    return sorted({p.version for p in pts})
