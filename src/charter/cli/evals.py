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
                   help="crows-pairs, bbq, stereoset, winobias, winogender (commas separate; repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N items per benchmark (a seeded, stratified random sample of whole pairs/units, recorded in the run)")
    p.add_argument("--batch-size", type=int, default=16, metavar="B")
    p.add_argument("--for", dest="uses", nargs="+", default=[], metavar="USE",
                   help="purposes/contexts declared for the evaluation (default: those the model was adapted for)")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder (default .charter/evals/<model>-<benches>-<limit>)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare the evaluated properties of A and B (e.g. a base and its adaptation)")
    p.add_argument("--chart", type=Path, metavar="STEM", help="with --compare: write STEM.png and STEM.svg (default .charter/evals/compare-A-vs-B)")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
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
    from charter.report.compare import chart, compare

    reg = open_registry(args, create=False)
    a, b, changes = compare(reg, *args.compare)
    if not changes:
        raise UsageError(f"neither {a} nor {b} has evaluated properties", hint=f"run `charter eval {a} --bench crows-pairs` first")
    stem = args.chart or Path(".charter") / "evals" / f"compare-{a.split('/', 1)[1]}-vs-{b.split('/', 1)[1]}".replace("/", "_").replace("@", "-")
    paths = chart(changes, a, b, stem)
    if args.json:
        emit_json({"a": a, "b": b, "changes": [c.to_json() for c in changes], "charts": [str(p) for p in paths]})
        return 0
    from rich.table import Table

    console.print(f"A = {a}\nB = {b} (each value with its 95% CI)")
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("benchmark.metric", "A", "B", "B - A", "B vs A"):
        t.add_column(col, justify="right" if col in ("A", "B", "B - A") else "left", no_wrap=True)
    colour = {"better": "green", "worse": "red"}
    for c in changes:
        fmt = (lambda p: f"{p.value:.3g}" + (f" [{p.ci[0]:.3g}, {p.ci[1]:.3g}]" if p.ci else "") if p else "–")
        verdict = c.verdict + (" (CIs apart)" if c.significant else "")
        t.add_row(f"{c.benchmark}.{c.metric}", fmt(c.a), fmt(c.b), f"{c.delta:+.3g}" if c.delta is not None else "",
                  f"[{colour.get(c.verdict, 'white')}]{verdict}[/]")
    from rich.console import Console

    Console(width=max(console.width, 120), highlight=False).print(t)  # read whole: wider than a pipe's 80 columns
    worse = [c for c in changes if c.verdict == "worse"]
    console.print(f"{len(worse)} of {len(changes)} properties got worse" + (f": {', '.join(f'{c.benchmark}.{c.metric}' for c in worse)}" if worse else ""))
    err_console.print(f"chart: {', '.join(map(str, paths))}")
    return 0
