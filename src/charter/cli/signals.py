"""charter signals import | show | report: the open web's consent signals (data/signals.py)."""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, escape


def register(sub, common) -> None:
    p = sub.add_parser("signals", help="sites' web consent signals (robots.txt, TDMRep, Content-Usage, Content-Signal, noai)")
    ssub = p.add_subparsers(dest="signals_command", metavar="SUBCOMMAND", required=True)
    q = ssub.add_parser("import", parents=[common], help="store snapshots: a folder DOMAIN/{robots.txt,tdmrep.json,headers.txt,*.html} "
                                                         "or a .jsonl/.parquet table of domain, fetched_at, kind, body")
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    q.add_argument("--fetched-at", metavar="TIME", help="fetch time of a folder's files (ISO 8601; default: each file's modification time)")
    q.add_argument("--signals-map", type=Path, metavar="FILE", help="the signals map to read them with (default: the shipped one)")
    q.set_defaults(func=cmd_import)
    q = ssub.add_parser("show", parents=[common], help="the terms a domain's latest signals state, and what could not be read")
    q.add_argument("domain", metavar="DOMAIN")
    q.add_argument("--for", dest="uses", nargs="+", metavar="USE", help="only the signals that deny one of these uses")
    q.add_argument("--signals-map", type=Path, metavar="FILE")
    q.set_defaults(func=cmd_show)
    q = ssub.add_parser("report", parents=[common], help="shares of a dataset's records and tokens each signal refuses (and the change between dates)")
    q.add_argument("dataset", metavar="DATASET")
    q.add_argument("--at", metavar="TIME", help="the signals as of this time (default: the latest snapshots)")
    q.add_argument("--vs", metavar="TIME", help="also as of this earlier time, and the change")
    q.add_argument("--url-field", default="url", metavar="NAME", help="the records' URL column (default: url)")
    q.add_argument("--text-field", metavar="NAME", help="the text column (default: the charter's data.fields.text)")
    q.add_argument("--signals-map", type=Path, metavar="FILE")
    q.set_defaults(func=cmd_report)


def cmd_import(args) -> int:
    from charter.data import signals as sg
    from charter.store.base import SignalSnapshot, now

    snaps = []
    for p in args.paths:  # every input read and checked before anything is stored
        snaps += sg.read_snapshots(p, args.fetched_at)
    reg = open_registry(args)
    smap = sg.load_map(reg.taxonomy, args.signals_map)
    problems = []
    for s in snaps:
        problems += sg.parse(s, smap)[1]
    t = now()
    added = reg.store.add_signals([SignalSnapshot(s.domain, s.kind, s.fetched_at, s.sha256, s.body, s.source, t) for s in snaps])
    out = {"snapshots": len(snaps), "new": added, "domains": len({s.domain for s in snaps}),
           "problems": [p.to_json() for p in problems]}
    if args.json:
        emit_json(out)
        return 0
    console.print(f"[green bold]imported[/] {added:,} new of {len(snaps):,} snapshots for {out['domains']:,} domains")
    _print_problems(problems)
    return 0


def _print_problems(problems) -> None:
    for p in problems[:50]:
        console.print(f"  [yellow]{p.kind}[/] {escape(p.where)}: {escape(p.message)} (fix: {escape(p.hint)})")
    if len(problems) > 50:
        console.print(f"  ... and {len(problems) - 50:,} more (--json lists them all)")


def cmd_show(args) -> int:
    from charter.data import signals as sg

    reg = open_registry(args, create=False)
    smap = sg.load_map(reg.taxonomy, args.signals_map)
    domain = sg.normalize_domain(args.domain) or args.domain
    snaps = [sg.Snapshot(r.domain, r.kind, r.fetched_at, r.body, r.source) for r in reg.store.signals([domain])]
    sts, problems = sg.states(snaps, smap)
    uses = reg.check_uses(args.uses) if args.uses else None
    groups = []
    for st in sts:
        for g in st.groups:
            if uses is not None and sg.relevant(g, uses, reg.taxonomy) is None:
                continue
            groups.append({"kind": g.kind, "fetched_at": g.fetched_at, "members": [{"label": m, "deny": list(u)} for m, u in g.members],
                           "rules": [{"pattern": r.text, "deny": r.deny} for r in g.rules]})
    out = {"domain": domain, "snapshots": [{"kind": s.kind, "fetched_at": s.fetched_at, "source": s.source} for s in snaps],
           "groups": groups, "problems": [p.to_json() for p in problems]}
    if args.json:
        emit_json(out)
        return 0
    if not snaps:
        console.print(f"{escape(domain)}: no signals stored (no restriction from signals)")
        return 0
    console.print(f"[bold]{escape(domain)}[/]: {len(snaps)} snapshots, latest {max(s.fetched_at for s in snaps)}")
    for g in groups:
        who = ", ".join(f"{m['label']} ({', '.join(m['deny'])})" for m in g["members"][:4]) + (" ..." if len(g["members"]) > 4 else "")
        console.print(f"  {g['kind']}: {escape(who)}")
        for r in g["rules"]:
            console.print(f"    {'[red]deny [/]' if r['deny'] else '[green]allow[/]'} {escape(r['pattern'])}")
    _print_problems(problems)
    return 0


def cmd_report(args) -> int:
    import duckdb

    from charter.core.digests import verify_data
    from charter.data import signals as sg
    from charter.data.source import FORMATS, Shard, fields_of, files_of, open_shard, reading

    reg = open_registry(args, create=False)
    smap = sg.load_map(reg.taxonomy, args.signals_map)
    a = reg.get(reg.resolve(args.dataset))
    verify_data(a)
    con = duckdb.connect()
    views = []
    for f in files_of(a):
        s = open_shard(con, Shard(a.id, f, FORMATS[f.suffix]), fields_of(a, args.text_field), "stop", {"charter_url": (args.url_field, "--url-field")})
        views.append(s.view)

    def one(at):
        sts, problems = sg.states(sg.snapshots_of(reg.store, at), smap)
        with reading(s):
            return {"at": at or "latest", **sg.report(con, views, sts), "problems": len(problems)}

    out = {"dataset": a.id, "report": one(args.at)}
    if args.vs:
        out["vs"] = one(args.vs)
        out["change_pp"] = sg.compare(out["vs"], out["report"])
    if args.json:
        emit_json(out)
        return 0
    for key in ("vs", "report") if args.vs else ("report",):
        r = out[key]
        console.print(f"[bold]{a.id}[/] signals as of {r['at']}: {r['records']:,} records, {r['tokens']:,} tokens over {r['domains']:,} domains with signals")
        console.print(f"  refused by any signal: {100 * r['any']['share_records']:.2f}% of records, {100 * r['any']['share_tokens']:.2f}% of tokens")
        for k, v in r["kinds"].items():
            console.print(f"  {k:<16} {100 * v['share_records']:6.2f}% records  {100 * v['share_tokens']:6.2f}% tokens")
        for k, v in list(r["labels"].items())[:20]:
            console.print(f"    {escape(k.replace('|', ' '))[:40]:<40} {100 * v['share_records']:6.2f}% records  {100 * v['share_tokens']:6.2f}% tokens")
    if args.vs:
        console.print(f"  change {args.vs} -> {args.at or 'latest'}: {out['change_pp']['any']:+.2f} points of records refused")
        for k, v in out["change_pp"]["kinds"].items():
            console.print(f"    {k:<16} {v:+.2f} points")
    return 0
