"""charter init | add | show | ls"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.table import Table

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, escape, plain
from charter.core.assets import Requirement, licence_free
from charter.core.ids import KINDS


def register(sub, common) -> None:
    p = sub.add_parser("init", parents=[common], help="create an empty registry")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("add", parents=[common], help="register the assets in charter files (YAML or JSON), atomically")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--data-root", type=Path, metavar="DIR", help="data files may lie anywhere under DIR (default: under each charter file's folder)")
    p.set_defaults(func=cmd_add)
    p = sub.add_parser("show", parents=[common], help="show an asset's charter, what it inherits and its history")
    p.add_argument("ref", metavar="REF", help="kind/name@version (or kind/name for the latest version)")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("ls", parents=[common], help="list assets, optionally only those allowed for some uses")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--allowed", metavar="USE,...", help="only assets whose whole lineage permits these uses")
    p.set_defaults(func=cmd_ls)


def cmd_init(args) -> int:
    reg = open_registry(args)
    # a PostgreSQL store's ``where`` is its URL without the password
    where = str(getattr(reg.store, "path", None) or getattr(reg.store, "where", None) or args.registry or "memory:")
    if args.json:
        emit_json({"registry": where, "assets": reg.store.count()})
    else:
        console.print(f"registry ready at {where} ({reg.store.count()} assets)")
    return 0


def cmd_add(args) -> int:
    reg = open_registry(args)
    assets, sources = reg.load_files(args.files, args.data_root)
    added = reg.add(assets, sources)
    added_ids = {a.id for a in added}
    unchanged = [a.id for a in assets if a.id not in added_ids]
    unknown = _unknown_licenses(reg, added)
    if args.json:
        emit_json({"added": [a.id for a in added], "unchanged": unchanged, "unknown_licenses": unknown})
        return 0
    for a in added:
        console.print(f"[green]registered[/] {a.id}")
    for i in unchanged:
        console.print(f"[dim]unchanged[/]  {i}")
    if unknown:  # once per add: an unmapped licence silently denying commercial use would read as the licence's terms
        console.print("[yellow]note[/]: licences not in the licence table (commercial use not permitted until they are mapped): "
                      + "; ".join(f"{escape(name)} ({', '.join(ids)})" for name, ids in unknown.items()))
    withdrawn = reg.withdrawals()
    for a in added if withdrawn else ():  # each one's upstream ids from the closure (not its charters decoded)
        hit = [h.asset for h in reg.trace(a.id, down=False) if h.asset in withdrawn]
        if hit:
            console.print(f"[yellow]note[/]: {a.id} derives from withdrawn {', '.join(hit)}; every use of it will be denied")
    return 0


def _unknown_licenses(reg, assets) -> dict[str, list[str]]:
    """{licence name as written: [asset ids]} for the licences the table does not know."""
    out: dict[str, list[str]] = {}
    for a in assets:
        for name in a.licenses:
            for unknown in reg.licenses.unknown(name):  # an expression names each unknown part
                out.setdefault(unknown, []).append(a.id)
    return out


def cmd_show(args) -> int:
    reg = open_registry(args, create=False)
    if args.json:
        from charter.report.views import show

        emit_json(show(reg, args.ref))
        return 0
    a = reg.get(args.ref)
    eff = reg.effective(a.id)
    w = reg.withdrawals().get(a.id)
    up = reg.trace(a.id, down=False)
    down = reg.trace(a.id, down=True)
    events = [e.to_json() for e in reg.store.events(asset=a.id) if e.type != "decision"]
    from charter.data.owners import withdrawn_note, withdrawn_records

    held = withdrawn_records(reg, a.id)
    contrib = reg.contributors(a.id)
    console.print(f"[bold]{a.id}[/]  ({a.kind})")
    if a.description:
        console.print(f"  {escape(a.description)}")
    if w:
        console.print(f"  [red bold]WITHDRAWN[/] {w.time}: {escape(w.reason)}")
    if a.licenses or not licence_free(a.id):
        console.print(f"  licence: {escape(', '.join(a.licenses)) or '(none: commercial use not permitted)'}{escape(reg.licenses.note(a.licenses))}")
    else:
        console.print(f"  licence: (none: a {a.kind} carries no licence; its own terms apply)")
    if a.public_key:
        owner = a.notes.get("owner")
        console.print(f"  owner:   {escape(str(owner))}" if owner else "  owner:   (not given: notes.owner)")
        console.print(f"  key:     {escape(a.public_key)}")
    console.print(f"  hash:    {a.content_hash}")
    if a.derived_from:
        console.print("  derived from:")
        for e in a.derived_from:
            console.print(f"    {e.relation:<22} {e.parent}")
    groups: dict[tuple, list[str]] = {}
    for rule, key in (("deny", "deny"), ("allow only", "allow")):
        for x in eff[key]:
            groups.setdefault((rule, x["source"], x["asset"], tuple(x["path"])), []).append(x["use"])
    if groups or eff["withdrawn"]:
        console.print("  restrictions (own and inherited):")
    else:
        console.print("  no restrictions along its lineage")
    for x in eff["withdrawn"]:
        console.print(f"    [red]withdrawn[/] {x['asset']}: {escape(x['reason'])}  [dim]{escape(_by(x, a.id))}[/]")
    for (rule, source, imposer, path), uses in groups.items():
        console.print(f"    {rule} {', '.join(uses)}\n      [dim]{source} of {imposer}; {_by({'asset': imposer, 'path': path}, a.id)}[/]")
    if eff["conditions"]:
        console.print("  permitted only under conditions (attest with --attest ID):")
        conds: dict[tuple, list] = {}
        for x in eff["conditions"]:  # the same condition from several assets' licences: once, naming them all
            conds.setdefault((x["id"], x["use"], x["text"], x.get("cite") or "", x["source"]), []).append(x["asset"])
        for (cid, use, text, cite, source), assets in conds.items():
            mark = "  [green]attested by its charter[/]" if cid in a.attest else ""
            console.print(f"    {use} if {escape(text)}\n      [dim]{cid}, {source} of {', '.join(assets)}{escape('; ' + cite if cite else '')}[/]{mark}")
    if eff["duties"]:
        console.print("  duties owed:")
        for x in eff["duties"]:
            what = f": {escape(x['text'])}" if x.get("text") else ""
            cite = f"; {escape(x['cite'])}" if x.get("cite") else ""
            console.print(f"    {x['duty']:<22} owed to {x['asset']} ({x['source']}{cite}){what}")
    if eff["requires"]:
        console.print("  property requirements (own and inherited):")
        for x in eff["requires"]:
            colour = {"met": "green", "unmet": "red"}.get(x["status"], "yellow")
            value = f" = {x['value']:.4g}" if x["value"] is not None else ""
            why = "".join(f"; {escape(w)}" for w in x.get("unmet", ()) if not w.startswith(f"{x['metric']} = "))  # n / CI
            text = escape(Requirement.from_json(x).text())
            console.print(f"    {text}: [{colour}]{x['status']}{value}{why}[/]  [dim]{_by(x, a.id)}[/]")
    props = reg.properties(a.id)
    if props:
        console.print("  properties (latest evaluation of each metric):")
        for p in sorted(props.values(), key=lambda p: (p.benchmark, p.metric)):
            ci = f"  95% CI [{p.ci[0]:.4g}, {p.ci[1]:.4g}]" if p.ci else ""
            own = "" if p.asset == a.id else f"  [dim](of {p.asset})[/]"
            console.print(f"    {p.benchmark + '.' + p.metric:<34} {p.value:>9.4g}{ci}  n={p.n}  [dim]{p.version}, {p.time[:10]}[/]{own}")
    if contrib:
        console.print("  contributors (compute lent to train it or a model upstream):")
        for c in contrib:
            counts = ", ".join(f"{c[k]:,} {k}" for k in ("samples", "steps") if c[k] is not None) or "no counts recorded"
            owner = f" ({escape(str(c['owner']))})" if c["owner"] else ""
            by = "" if c["model"] == a.id else f"  [dim]to {c['model']}[/]"
            console.print(f"    {c['compute']}{owner}: {counts}{by}")
    cur = a.notes.get("curation")
    if cur:
        console.print(f"  curated for {', '.join(cur['uses'])}: {cur['output']:,} of {cur['input']:,} records kept; manifest {cur['manifest']}")
        for k, v in cur["excluded"].items():
            console.print(f"    {v:>9,} excluded  {k}")
    if a.data:
        console.print(f"  data: {', '.join(a.data['files'][:3])}{' …' if len(a.data['files']) > 3 else ''}")
    note = withdrawn_note(held)
    if note:
        console.print(f"  [yellow]consent[/]: {escape(note)}")
    console.print(f"  upstream: {len(up)} assets, downstream: {len(down)} assets")
    for e in events:
        console.print(f"  [dim]{e['time']} {e['type']}[/] {escape(_event_text(e))}")
    return 0


def _event_text(e: dict) -> str:
    d = e["data"]
    if e["type"] == "sign":  # charter.trust: a signature stored (made here, or imported with a bundle or feed)
        return f"{d.get('kind')} signature by key {str(d.get('keyid'))[:16]}… ({d.get('source')})"
    if e["type"] == "import-bundle":
        return f"from bundle {d.get('file')} ({str(d.get('bundle'))[:23]}…), signed by {d.get('signer') or 'no trusted key'}"
    return str(d.get("reason", ""))


def _by(x: dict, asked: str) -> str:
    return "its own" if x["asset"] == asked else "via " + " -> ".join(x["path"])


TABLE_ROWS = 1000


def cmd_ls(args) -> int:
    reg = open_registry(args, create=False)
    allowed = args.allowed.split(",") if args.allowed else None
    rows = reg.summaries(kind=args.kind, allowed=allowed)
    withdrawn = reg.withdrawals()
    if args.json:
        from charter.report.views import ls_rows

        emit_json(ls_rows(reg, rows))
        return 0
    what = f" allowed for {args.allowed}" if allowed else ""
    if len(rows) > TABLE_ROWS or not sys.stdout.isatty():  # a table of 230,000 rows helps nobody and takes minutes to lay out
        out = ["id\tlicence\tstate"]
        out += [f"{i}\t{plain(', '.join(lic)) or '-'}\t{'withdrawn' if i in withdrawn else ''}" for i, k, n, v, lic in rows]
        out.append(f"{len(rows)} assets{what}")
        sys.stdout.write("\n".join(out) + "\n")
        return 0
    t = Table(show_header=True, header_style="bold")
    for col in ("id", "licence", "state"):
        t.add_column(col)
    for i, k, n, v, lic in rows:
        t.add_row(escape(i), escape(", ".join(lic)) or "-", "withdrawn" if i in withdrawn else "")
    console.print(t)
    console.print(f"{len(rows)} assets{what}")
    return 0
