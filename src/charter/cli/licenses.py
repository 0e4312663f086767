"""charter licenses show | coverage"""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, escape
from charter.errors import InvalidInput


def register(sub, common) -> None:
    p = sub.add_parser("licenses", help="the licence table: what a licence means, and how much of a corpus it covers")
    lsub = p.add_subparsers(dest="licenses_cmd", required=True, metavar="{show,coverage}")
    q = lsub.add_parser("show", parents=[common], help="what a licence (or an SPDX expression) means for uses, with its clauses")
    q.add_argument("name", metavar="LICENCE")
    q.set_defaults(func=cmd_show)
    q = lsub.add_parser("coverage", parents=[common],
                        help="known / from category / unknown licence strings of a registry (no FILE) or of import inputs")
    q.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="licence lists (.txt), model cards (.md), DPI summaries (.json), charter files (.yaml), or folders of them")
    q.add_argument("--require", type=float, metavar="PCT", default=None,
                   help="exit 1 unless at least PCT%% of the distinct strings are known or categorised")
    q.set_defaults(func=cmd_coverage)


def _table(args):
    from charter.core import uses as uses_mod
    from charter.policy import licenses as licenses_mod

    return licenses_mod.load(uses_mod.load(*args.taxonomy), extra=tuple(args.licenses))


def cmd_show(args) -> int:
    lic = _table(args).lookup(args.name)
    if args.json:
        emit_json(_json(lic))
        return 0
    where = {"table": "the licence table", "category": f"ScanCode LicenseDB category {lic.category!r} (default terms, not the licence text)",
             "unknown": "nowhere: not in the licence table", "expression": "an SPDX expression"}[lic.origin]
    console.print(f"[bold]{escape(lic.id)}[/]  [dim]from {escape(where)}[/]")
    for line in (lic.description, lic.document and f"document: {lic.document}", lic.url and f"url: {lic.url}"):
        if line:
            console.print(f"  {escape(line)}")
    for alt in lic.alternatives:
        console.print(f"  alternative: {escape(alt.id)} (denies {', '.join(alt.deny) or 'nothing'})")
    for part in lic.parts:
        console.print(f"  part: {escape(part.id)} (denies {', '.join(part.deny) or 'nothing'})")
    if not (lic.alternatives or lic.parts):
        for key, label in (("deny", "denies"), ("allow", "permits only")):
            for u in getattr(lic, key):
                cite = lic.cite(u)
                console.print(f"  {label} {u}" + (f"  [dim]{escape(cite)}[/]" if cite else ""))
        for c in lic.conditions:
            console.print(f"  {c.use} only if {escape(c.text)}  [dim]--attest {c.id}" + (f"; {escape(c.cite)}" if c.cite else "") + "[/]")
        for d in lic.duty_terms or ():
            console.print(f"  duty {d.id}" + (f": {escape(d.text)}" if d.text else "") + (f"  [dim]{escape(d.cite)}[/]" if d.cite else ""))
    if not lic.known:
        console.print("  [yellow]unknown[/]: commercial use is not permitted until it is mapped (fix: add it with --licenses FILE)")
    return 0


def _json(lic) -> dict:
    return {
        "id": lic.id, "origin": lic.origin, "known": lic.known, "category": lic.category or None, "description": lic.description,
        "document": lic.document or None, "url": lic.url or None,
        "deny": [{"use": u, "cite": lic.cite(u) or None} for u in lic.deny],
        "allow": [{"use": u, "cite": lic.cite(u) or None} for u in lic.allow],
        "conditions": [c.to_json() for c in lic.conditions],
        "duties": [{"id": d.id, "text": d.text or None, "cite": d.cite or None} for d in lic.duty_terms] or [{"id": d} for d in lic.duties],
        "alternatives": [_json(x) for x in lic.alternatives], "parts": [_json(x) for x in lic.parts],
    }


def cmd_coverage(args) -> int:
    from collections import Counter

    from charter.imports import licence_strings

    if args.files:
        table = _table(args)
        found, files = licence_strings.read(args.files)
        source = f"{files} file{'s' * (files != 1)}"
    else:
        reg = open_registry(args, create=False)
        table = reg.licenses
        found = Counter(n for a in reg.store.find() for n in a.licenses)
        source = f"registry {args.registry}"
    cov = licence_strings.coverage(table, found)
    ok = args.require is None or 100 * cov.share("table", "category") >= args.require
    if args.json:
        emit_json({"input": source, **cov.to_json(), "required": args.require, "ok": ok})
    else:
        _print(cov, source)
        if not ok:
            console.print(f"[red]below the required {args.require:g}%[/]")
    if not ok:
        raise InvalidInput(f"{100 * cov.share('table', 'category'):.1f}% of the licence strings are known or categorised, below {args.require:g}%",
                           hint="map the unknown ones with --licenses FILE", field="--require")
    return 0


def _print(cov, source: str) -> None:
    n = cov.distinct
    pct = (lambda k: f"{100 * k / n:5.1f}%") if n else (lambda k: "    -")
    console.print(f"[bold]{n}[/] distinct licence strings ({sum(cov.occurrences.values())} occurrences) in {escape(source)}")
    console.print(f"  known (licence table)        {len(cov.table):>5}  {pct(len(cov.table))}")
    console.print(f"  from a LicenseDB category    {len(cov.category):>5}  {pct(len(cov.category))}")
    console.print(f"  unknown                      {len(cov.unknown):>5}  {pct(len(cov.unknown))}")
    for s, cat in sorted(cov.category.items()):
        console.print(f"    [dim]category[/] {escape(s)}: {escape(cat)}")
    for s, missing in sorted(cov.unknown.items(), key=lambda kv: (-cov.occurrences[kv[0]], kv[0])):
        names = "" if missing == [s] else f"  (unknown: {escape(', '.join(missing))})"
        console.print(f"    [yellow]unknown[/] {escape(s)}  x{cov.occurrences[s]}{names}")
