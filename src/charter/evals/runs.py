"""``charter eval``: evaluation as a gated use, a run folder, and the results attached to the
model's charter as properties.

    run/config.json        the config (model, its weights hash, benchmarks and versions, limit, batch size) and its hash
    run/items/<bench>.jsonl  one row per scored item (the scorer's per-item output)
    run/result.json        aggregates with bootstrap CIs and per-group breakdowns, versions, timings

Evaluation is itself a use: the request is ``evaluation`` plus the purposes and contexts the
model was adapted for (its ``declared_uses``), or those given with ``--for``, so a model whose
lineage permits only some purposes is evaluated in the role it may play.
"""

from __future__ import annotations

import difflib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from charter.core.assets import Asset, Property
from charter.errors import Denied, UsageError
from charter.policy.decide import Decision
from charter.registry import Registry
from charter.core.runs import RunFolder


@dataclass(frozen=True)
class EvalConfig:
    model: str
    benches: tuple[str, ...]
    out: Path
    limit: int | None = None
    batch_size: int = 16
    uses: tuple[str, ...] = ()  # extra declared uses; default: the model's declared purposes and contexts


@dataclass
class EvalResult:
    asset: Asset
    decision: Decision
    run: Path
    benchmarks: list[dict]  # per benchmark: name, version, n, metrics {metric: {value, ci, n, groups}}
    properties: list[Property] = field(default_factory=list)
    already_done: bool = False
    seconds: float = 0.0


def bench_names(benches: tuple[str, ...]) -> tuple[str, ...]:
    """Validate benchmark names (commas also separate); UsageError with did-you-mean."""
    from charter.evals.run import BENCHMARKS

    names = tuple(dict.fromkeys(b.strip() for x in benches for b in x.split(",") if b.strip()))
    if not names:
        raise UsageError("no benchmark given", hint=f"pass --bench {','.join(BENCHMARKS)}")
    for b in names:
        if b not in BENCHMARKS:
            close = difflib.get_close_matches(b, list(BENCHMARKS), n=1)
            raise UsageError(f"unknown benchmark {b!r}", hint=(f"did you mean {close[0]!r}? " if close else "") + f"benchmarks: {', '.join(BENCHMARKS)}")
    return names


def request_uses(reg: Registry, a: Asset, extra: tuple[str, ...]) -> tuple[str, ...]:
    declared = extra or tuple(u for u in a.notes.get("declared_uses", ()) if reg.taxonomy.facet.get(u) != "activity")
    return reg.check_uses(("evaluation", *declared))


def check(reg: Registry, cfg: EvalConfig) -> tuple[Asset, Decision]:
    """Decide before loading anything heavy; Denied (exit 3) with every reason when not permitted."""
    a = reg.get(cfg.model)
    if a.kind != "model":
        raise UsageError(f"{a.id} is a {a.kind}, not a model", hint="evaluate a registered model (`charter ls --kind model`)")
    if cfg.limit is not None and cfg.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {cfg.limit}", hint="pass --limit 1 or more, or leave it out")
    if cfg.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {cfg.batch_size}", hint="pass --batch-size 1 or more")
    d = reg.can(a.id, request_uses(reg, a, cfg.uses))
    if not d.allowed:
        raise Denied(f"{a.id} may not be evaluated for {', '.join(d.uses)}", decisions=[d],
                     hint="its charter (or its lineage) does not permit this evaluation; see the reasons")
    return a, d


def run_eval(reg: Registry, cfg: EvalConfig, progress=None) -> EvalResult:
    from charter.evals import run as run_mod

    benches = bench_names(cfg.benches)
    a, decision = check(reg, cfg)
    from charter.models.loading import verify_registered, weights_of

    verify_registered(reg.get, a)  # swapped weights are refused before a run folder is made (and again, cached, when loaded)

    versions = {b: run_mod.BENCHMARKS[b].VERSION for b in benches}
    run = RunFolder(Path(cfg.out), {
        "kind": "eval", "model": a.id, "weights_sha256": weights_of(a).sha256, "benchmarks": versions,
        "limit": cfg.limit, "batch_size": cfg.batch_size, "uses": list(decision.uses),
    }).open()
    done = run.path / "result.json"
    if done.exists():  # this exact evaluation finished before: its properties are attached already
        prior = json.loads(done.read_text())
        return EvalResult(a, decision, run.path, prior["benchmarks"], already_done=True)
    t0 = time.perf_counter()
    model = _load(reg, a, cfg.batch_size)
    results = run_mod.evaluate(model, list(benches), limit=cfg.limit, progress=_ticks(progress)).values()
    seconds = time.perf_counter() - t0
    items = run.path / "items"
    items.mkdir(exist_ok=True)
    summaries = []
    for r in results:
        with open(items / f"{r['name']}.jsonl", "w") as f:
            for row in r["rows"]:
                f.write(json.dumps(row, sort_keys=True) + "\n")
        summaries.append({k: r[k] for k in ("name", "version", "n", "sample", "metrics") if k in r})
    run.result({"model": a.id, "config_hash": run.hash, "benchmarks": summaries, "seconds": round(seconds, 2),
                "versions": _versions(), "decision": decision.to_json()})
    props = reg.attach([
        Property(a.id, r["name"], r["version"], metric, float(m["value"]), tuple(m["ci"]) if m.get("ci") else None,
                 int(m.get("n") or r["n"]), run=str(run.path.resolve()),
                 detail={"config_hash": run.hash, "groups": {g: _small(v) for g, v in (m.get("groups") or {}).items()},
                         **_recorded(m, r.get("sample"))})
        for r in summaries for metric, m in r["metrics"].items() if m.get("value") is not None  # undefined on these items: in result.json only
    ])
    return EvalResult(a, decision, run.path, summaries, props, seconds=seconds)


def _ticks(progress):
    """charter.evals.run's (kind, done, total) callback drawn on the CLI's bars (start(label, total) -> tick(n))."""
    if progress is None:
        return None
    bars: dict[str, tuple] = {}

    def report(kind: str, done: int, total: int) -> None:
        if kind not in bars:
            bars[kind] = (progress.start(kind.replace("_", " "), total, "req"), 0)
        tick, seen = bars[kind]
        if done > seen:
            tick(done - seen)
            bars[kind] = (tick, done)
    return report


def _load(reg: Registry, a: Asset, batch_size: int):
    from charter.models.hf import HFModel
    from charter.models.loading import load_registered

    model, tok = load_registered(reg.get, a)
    if hasattr(model, "merge_and_unload"):  # a LoRA adapter: merged weights score faster and the same
        model = model.merge_and_unload()
    from charter.models.hf import device

    return HFModel(model.to(device()), tok, name=a.id, batch_size=batch_size)


def _recorded(m: dict, sample: dict | None) -> dict:
    """What a property keeps of how it was measured: the bootstrap (unit, seed, resamples), the
    metric's own detail (e.g. a test's counts, a scope note) and the sample (seed, unit, strata, the
    hash of the item ids; the excluded items' count and reasons, their list stays in the run)."""
    out = {}
    if m.get("bootstrap"):
        out["bootstrap"] = m["bootstrap"]
    if m.get("detail"):
        out["detail"] = m["detail"]
    if sample:
        s = {k: v for k, v in sample.items() if k != "excluded"}
        if sample.get("excluded"):
            s["excluded"] = {k: v for k, v in sample["excluded"].items() if k != "list"}
        out["sample"] = s
    return out


def _small(v) -> dict:
    """A group's value, CI and n (what a property keeps; the run folder keeps everything)."""
    return {k: v[k] for k in ("value", "ci", "n") if k in v} if isinstance(v, dict) else {"value": v}


def _versions() -> dict:
    import torch
    import transformers

    from charter import __version__

    return {"charter": __version__, "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}
