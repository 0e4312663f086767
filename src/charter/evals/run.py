"""Running benchmarks against a model: every benchmark's requests gathered, identical ones merged, one
model call per request kind (so the model batches by length across everything and tokenizes each
distinct string once), then each benchmark scores and aggregates its own.

A benchmark module has ``NAME``, ``VERSION``, ``METRICS``, ``GROUP``, ``load(limit) -> items``,
``requests(items) -> [(kind, args)]``, ``score(items, outputs) -> rows`` (outputs in request order)
and ``aggregate(rows, n_boot=, seed=) -> metrics``. Request kinds are the seam's methods:
``("loglikelihood", (context, continuation))``, ``("loglikelihood_rolling", text)`` and
``("continuation_tokens", (context, continuation))`` and ``("generate", prompt)`` (greedy, at most
``GENERATE_TOKENS`` new tokens: one length for every model, so generations compare). ``load`` may return a
``data.Sample`` (a list with a ``record`` of how the items were drawn: seed, strata, unit, a hash of the item
ids, exclusions), which the result keeps as ``sample``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

from charter.errors import InvalidInput
from charter.evals import bbq, bold, crows_pairs, stereoset, winobias, winogender
from charter.models.seam import LanguageModel

BENCHMARKS = {m.NAME: m for m in (crows_pairs, bbq, stereoset, winobias, winogender, bold)}
KINDS = ("loglikelihood", "loglikelihood_rolling", "continuation_tokens", "generate")
GENERATE_TOKENS = bold.MAX_NEW_TOKENS

Progress = Callable[[str, int, int], None]  # (request kind, done, total)


def benchmark(name: str):
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise InvalidInput(f"unknown benchmark {name!r}", hint="one of: " + ", ".join(BENCHMARKS), field="bench") from None


def _call(model: LanguageModel, kind: str, args: list, progress: Progress | None) -> list:
    fn = getattr(model, kind, None)
    if fn is None:
        raise InvalidInput(f"model {getattr(model, 'name', model)!r} cannot answer {kind} requests", hint="use a model that implements the seam")
    if kind == "generate":  # one length for every model; no per-sequence progress from generate()
        if progress:
            progress(kind, 0, len(args))
        out = list(fn(args, max_new_tokens=GENERATE_TOKENS))
        if progress:
            progress(kind, len(args), len(args))
        return out
    if progress is None:
        return list(fn(args))
    n = len(args)
    progress(kind, 0, n)
    if "progress" in inspect.signature(fn).parameters:  # the model's own count (distinct sequences), scaled to requests
        out = list(fn(args, progress=lambda done, total: progress(kind, min(n, done * n // max(total, 1)), n)))
    else:
        out = list(fn(args))
    progress(kind, n, n)
    return out


def evaluate(model: LanguageModel, benches: Sequence[str], limit: int | None = None, progress: Progress | None = None, *,
             n_boot: int | None = None, seed: int | None = None) -> dict[str, dict]:
    """Run ``benches`` (names of ``BENCHMARKS``) on ``model``; ``limit`` items of each (a seeded,
    stratified random sample of whole units; see ``data.sample`` and each benchmark). Returns, per
    benchmark in the order asked::

        {"name", "version", "n": items, "limit", "requests": requests before merging,
         "sample": {"seed", "method", "unit", "units", "items", "strata", "ids_sha256", ...},
         "metrics": {metric: {"value", "ci": [lo, hi], "n", "units", "bootstrap": {"unit", "seed", ...},
                              "groups": {group: {"value", "ci", "n"}}}},
         "rows": [per-item dicts with the group fields]}
    """
    mods = [benchmark(b) for b in dict.fromkeys(benches)]
    items = {m.NAME: m.load(limit) for m in mods}
    reqs = {m.NAME: m.requests(items[m.NAME]) for m in mods}
    unique: dict[str, dict] = {k: {} for k in KINDS}
    for rs in reqs.values():
        for kind, args in rs:
            if kind not in unique:
                raise InvalidInput(f"unknown request kind {kind!r}", hint="one of: " + ", ".join(KINDS))
            unique[kind].setdefault(args, len(unique[kind]))
    answers = {kind: _call(model, kind, list(u), progress) for kind, u in unique.items() if u}
    results = {}
    for m in mods:
        outputs = [answers[kind][unique[kind][args]] for kind, args in reqs[m.NAME]]
        rows = m.score(items[m.NAME], outputs)
        results[m.NAME] = {"name": m.NAME, "version": m.VERSION, "n": len(items[m.NAME]), "limit": limit,
                           "requests": len(reqs[m.NAME]), "sample": dict(getattr(items[m.NAME], "record", {}) or {}),
                           "metrics": m.aggregate(rows, n_boot=n_boot, seed=seed), "rows": rows}
    return results
