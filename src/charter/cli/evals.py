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
    p.add_argument("--limit", type=int, metavar="N", help="at most N items per benchmark (a fixed, stratified subset)")
    p.add_argument("--batch-size", type=int, default=16, metavar="B")
    p.add_argument("--for", dest="uses", nargs="+", default=[], metavar="USE",
                   help="purposes/contexts declared for the evaluation (default: those the model was adapted for)")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder (default .charter/evals/<model>-<benches>-<limit>)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="test whether B's evaluated properties differ from A's (paired, on the items both scored; e.g. a base and its adaptation)")
    p.add_argument("--chart", type=Path, metavar="STEM", help="with --compare: write STEM.png and STEM.svg (default .charter/evals/compare-A-vs-B)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="with --compare: list benchmarks measured with different versions or on disjoint items without a verdict, instead of refusing")
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
        for metric, m in b["metrics"].items():
            ci = f"  95% CI [{m['ci'][0]:.4g}, {m['ci'][1]:.4g}]" if m.get("ci") else ""
            console.print(f"    {metric:<22} {m['value']:>9.4g}{ci}")
            groups = m.get("groups") or {}
            if groups:
                shown = ", ".join(f"{g} {v['value']:.3g}" if isinstance(v, dict) else f"{g} {v:.3g}" for g, v in list(groups.items())[:8])
                console.print(f"      [dim]by group: {shown}{' …' if len(groups) > 8 else ''}[/]")
    if not r.already_done:
        console.print(f"  attached {len(r.properties)} properties to {r.asset.id} (`charter show {r.asset.id}`, `charter card {r.asset.id}`)")
    return 0


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
