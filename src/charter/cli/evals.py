"""charter eval"""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, err_console, progress_bars
from charter.errors import UsageError


def register(sub, common) -> None:
    p = sub.add_parser("eval", parents=[common],
                       help="evaluate MODEL on bias benchmarks and attach the results to its charter; or --compare A B")
    p.add_argument("model", metavar="MODEL", nargs="?")
    p.add_argument("--bench", action="append", default=[], metavar="NAME[,NAME]",
                   help="crows-pairs, bbq, stereoset, winobias, winogender, bold (commas separate; repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N items per benchmark (a seeded, stratified random sample of whole pairs/units, recorded in the run)")
    p.add_argument("--batch-size", type=int, default=16, metavar="B")
    p.add_argument("--for", dest="uses", nargs="+", default=[], metavar="USE",
                   help="purposes/contexts declared for the evaluation (default: those the model was adapted for)")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder (default .charter/evals/<model>-<benches>-<limit>)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="test whether B's evaluated properties differ from A's (paired, on the items both scored; e.g. a base and its adaptation)")
    p.add_argument("--chart", type=Path, metavar="STEM", help="with --compare or --trend: write STEM.png and STEM.svg (default under .charter/evals/)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="with --compare: list benchmarks measured with different versions or on disjoint items without a verdict, instead of refusing")
    p.add_argument("--sweep", nargs="+", metavar="RUN_DIR|MODEL",
                   help="evaluate each MODEL on --bench (a size ladder, a base and its adaptations) and attach the results; a RUN_DIR "
                        "(of `charter train --snapshot-every N`) stands for its snapshots, registered first as model/<name>-step-<N>@<version>")
    p.add_argument("--trend", nargs="+", metavar="RUN_DIR|MODEL",
                   help="one --bench's metrics across MODELs (a RUN_DIR: its snapshots, in step order), with intervals, charted against --x")
    p.add_argument("--metric", action="append", default=[], metavar="NAME", help="with --trend: the metrics to show (default: all of the benchmark's)")
    p.add_argument("--x", choices=("tokens", "parameters", "order"),
                   help="with --trend: training tokens or parameters (recorded by the training run, or counted from the weights), or the order "
                        "given (default: tokens when a RUN_DIR is given, else order)")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    if args.sweep or args.trend:
        if args.model or args.compare or (args.sweep and args.trend):
            raise UsageError("--sweep and --trend take the models (or run folders) themselves, one of them at a time",
                             hint="charter eval --sweep RUN_DIR|M1 M2 --bench B, then --trend RUN_DIR|M1 M2 --bench B")
        return _sweep(args) if args.sweep else _trend(args)
    if args.compare:
        if args.model or args.bench:
            raise UsageError("--compare takes the two models itself", hint="run `charter eval --compare A B` without MODEL or --bench")
        return _compare(args)
    if not args.model:
        raise UsageError("which model?", hint="pass MODEL --bench NAME, or --compare A B")
    from charter.core.ids import slug
    from charter.evals.runs import EvalConfig, bench_names, run_eval

    benches = bench_names(tuple(args.bench))
    reg = open_registry(args, create=False)
    model = reg.resolve(args.model)
    out = args.out or Path(".charter") / "evals" / f"{slug(model.split('/', 1)[1])}-{'+'.join(benches)}-{args.limit or 'all'}"
    cfg = EvalConfig(model, benches, out, args.limit, args.batch_size, tuple(args.uses))
    with progress_bars(quiet=args.json) as bars:
        r = run_eval(reg, cfg, progress=bars)
    if args.json:
        emit_json({"model": r.asset.id, "run": str(r.run), "already_done": r.already_done, "decision": r.decision.to_json(),
                   "seconds": round(r.seconds, 2), "benchmarks": r.benchmarks})
        return 0
    state = " (already done; properties attached then)" if r.already_done else f" in {r.seconds:.1f}s"
    console.print(f"[bold]{r.asset.id}[/] evaluated for {', '.join(r.decision.uses)}{state}; run folder {r.run}")
    for b in r.benchmarks:
        console.print(f"  [bold]{b['name']}[/] ({b['version']}, {b['n']} items)")
        sample = b.get("sample") or {}
        if sample:
            excluded = (sample.get("excluded") or {}).get("pairs")
            console.print(f"    [dim]{sample.get('units')} units, {sample.get('method')} (seed {sample.get('seed')}); unit: {sample.get('unit')}"
                          + (f"; {excluded} excluded as data quirks (listed in the run's result.json)" if excluded else "")
                          + "; intervals resample these units[/]")
        for metric, m in b["metrics"].items():
            ci = f"  95% CI [{m['ci'][0]:.4g}, {m['ci'][1]:.4g}]" if m.get("ci") else ""
            boot = m.get("bootstrap") or {}
            if boot.get("unit") and sample.get("unit") and boot["unit"] != sample["unit"]:  # e.g. Winogender's correlations: occupations
                ci += f"  [dim](over {boot.get('units')} {boot['unit']}s, resampled)[/]"
            console.print(f"    {metric:<22} {_num(m['value'], '>9.4g')}{ci}")
            groups = m.get("groups") or {}
            if groups:
                shown = ", ".join(f"{g} {_num(v['value'] if isinstance(v, dict) else v, '.3g')}" for g, v in list(groups.items())[:8])
                console.print(f"      [dim]by group: {shown}{' …' if len(groups) > 8 else ''}[/]")
    if not r.already_done:
        console.print(f"  attached {len(r.properties)} properties to {r.asset.id} (`charter show {r.asset.id}`, `charter card {r.asset.id}`)")
    return 0


def _num(x, spec: str) -> str:
    """A metric's value formatted, or "n/a" when it is undefined (None)."""
    import re

    return format("n/a", re.match(r"[<>^]?\d*", spec).group()) if x is None else format(x, spec)


def _compare(args) -> int:
    from charter.report.compare import chart, compare, summary

    reg = open_registry(args, create=False)
    cmp = compare(reg, *args.compare, allow_mismatch=args.allow_mismatch)
    a, b, changes = cmp
    if not changes:
        raise UsageError(f"neither {a} nor {b} has evaluated properties", hint=f"run `charter eval {a} --bench crows-pairs` first")
    stem = args.chart or Path(".charter") / "evals" / f"compare-{a.split('/', 1)[1]}-vs-{b.split('/', 1)[1]}".replace("/", "_").replace("@", "-")
    paths = chart(changes, a, b, stem)
    if args.json:
        emit_json(cmp.to_json() | {"charts": [str(p) for p in paths]})
        return 0
    from rich.table import Table

    for w in cmp.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    console.print(f"A = {a}\nB = {b}\n(values with their 95% CIs; gain = how much closer to the metric's ideal B is than A, on the items "
                  f"both scored, with its paired bootstrap 95% CI; p: exact McNemar for accuracies, else paired bootstrap; Holm-corrected)")
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("benchmark.metric", "A", "B", "gain [95% CI]", "p (Holm)", "B vs A"):
        t.add_column(col, justify="left" if col in ("benchmark.metric", "B vs A") else "right", no_wrap=True)
    colour = {"better": "green", "worse": "red"}
    words = {"no-difference": "no significant difference", "not-comparable": "not comparable"}
    for c in changes:
        fmt = (lambda p: f"{p.value:.3g}" + (f" [{p.ci[0]:.3g}, {p.ci[1]:.3g}]" if p.ci else "") if p else "–")
        gain = f"{c.gain:+.3g}" + (f" [{c.gain_ci[0]:+.3g}, {c.gain_ci[1]:+.3g}]" if c.gain_ci else "") if c.gain is not None else ""
        p = f"{c.p_holm:.2g}" + (f" ({c.discordant[0]} fixed, {c.discordant[1]} broken)" if c.discordant else "") if c.p_holm is not None else ""
        verdict = words.get(c.verdict, c.verdict) + (f" ({c.note})" if c.note and c.verdict in ("untested", "not-comparable") else "")
        t.add_row(f"{c.benchmark}.{c.metric}", fmt(c.a), fmt(c.b), gain, p, f"[{colour.get(c.verdict, 'white')}]{verdict}[/]")
    from rich.console import Console

    Console(width=max(console.width, 160), highlight=False).print(t)  # read whole: wider than a pipe's 80 columns
    console.print(summary(changes))
    err_console.print(f"chart: {', '.join(map(str, paths))}" if paths else "no chart: no metric could be tested")
    return 0


def _sweep(args) -> int:
    """Each model evaluated as `charter eval MODEL` would (its own gated decision and run folder)."""
    from charter.core.ids import slug
    from charter.evals.runs import EvalConfig, bench_names, run_eval

    if not args.bench:
        raise UsageError("--sweep needs --bench", hint="e.g. --bench winobias,bbq")
    from charter.evals.trend import expand

    benches = bench_names(tuple(args.bench))
    reg = open_registry(args, create=False)
    root = args.out or Path(".charter") / "evals" / "sweep"
    expanded = expand(reg, args.sweep, register=True)  # a run's snapshots registered (and verified) before any evaluation
    runs = [ref for ref, ids in expanded if [ref] != ids]
    if not args.json:
        for ref in runs:
            ids = dict(expanded)[ref]
            console.print(f"{ref}: {len(ids)} snapshot{'s' * (len(ids) > 1)} verified and registered: {', '.join(ids)}")
    done = []
    for model in (m for _, ids in expanded for m in ids):
        out = root / f"{slug(model.split('/', 1)[1])}-{'+'.join(benches)}-{args.limit or 'all'}"
        with progress_bars(quiet=args.json) as bars:
            r = run_eval(reg, EvalConfig(model, benches, out, args.limit, args.batch_size, tuple(args.uses)), progress=bars)
        done.append({"model": r.asset.id, "run": str(r.run), "already_done": r.already_done,
                     "benchmarks": [{"name": b["name"], "version": b["version"], "n": b["n"],
                                     "metrics": {m: {"value": v.get("value"), "ci": v.get("ci")} for m, v in b["metrics"].items()}}
                                    for b in r.benchmarks]})
        if not args.json:
            state = "already done" if r.already_done else f"{r.seconds:.1f}s"
            console.print(f"[bold]{r.asset.id}[/] evaluated ({state}); run folder {r.run}")
    import shlex

    trend = f"charter eval --trend {shlex.join(args.sweep)} --bench {benches[0]}" + (" --x tokens" if runs else "")
    if args.json:
        emit_json({"models": done, "trend": trend})
    else:
        console.print(f"next: {trend}")
    return 0


def _trend(args) -> int:
    from charter.core.ids import slug
    from charter.evals.run import benchmark
    from charter.evals.runs import bench_names
    from charter.evals.trend import points, versions
    from charter.report.trend import chart

    benches = bench_names(tuple(args.bench)) if args.bench else ()
    if len(benches) != 1:
        raise UsageError("--trend shows one benchmark", hint="pass --bench NAME")
    bench = benches[0]
    metrics = [m for x in args.metric for m in x.split(",") if m] or list(benchmark(bench).METRICS)
    unknown = [m for m in metrics if m not in benchmark(bench).METRICS]
    if unknown:
        raise UsageError(f"{bench} has no metric {unknown[0]!r}", hint=f"its metrics: {', '.join(benchmark(bench).METRICS)}")
    from charter.evals.trend import expand, is_run_arg

    reg = open_registry(args, create=False)
    expanded = expand(reg, args.trend)
    axis = args.x or ("tokens" if any(is_run_arg(ref) for ref, _ in expanded) else "order")
    pts = points(reg, [m for _, ids in expanded for m in ids], bench, metrics, axis)
    vs = versions(pts)
    names = [Path(ref).resolve().name if is_run_arg(ref) else ref.split("/", 1)[-1] for ref, _ in expanded]
    stem = args.chart or Path(".charter") / "evals" / f"trend-{bench}-{slug('-'.join(names))[:80]}"
    files = chart(pts, stem, bench, axis)
    if args.json:
        emit_json({"benchmark": bench, "x": axis, "versions": vs, "points": [p.to_json() for p in pts], "chart": [str(f) for f in files]})
        return 0
    if len(vs) > 1:
        err_console.print(f"[yellow]warning[/]: the models were evaluated on different versions of {bench} ({', '.join(vs)}): "
                          "their values are not comparable as they are; re-run charter eval --sweep")
    for m in metrics:
        console.print(f"[bold]{bench}.{m}[/] by {axis}:")
        for p in (p for p in pts if p.metric == m):
            ci = f"[{p.ci[0]:.4g}, {p.ci[1]:.4g}]" if p.ci else "(no interval)"
            console.print(f"  {p.x:>14,.0f}  {p.value:>9.4g}  95% CI {ci}  n={p.n}  {p.model}")
    console.print(f"chart: {files[0]} and {files[1]} (measured values with intervals; no curve fitted)")
    return 0
