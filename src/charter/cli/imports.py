"""charter import dpi | ecosystem-graphs | hf-card | cyclonedx | spdx3 | croissant | odrl | bundle | feed (the last two: cli/trust.py)

Each importer reads its files completely (any problem: one InvalidInput line, exit 1,
nothing written), then every asset is registered in one atomic ``Registry.add``.
Assets already registered with identical content are reported as unchanged, so importing
the same input twice is a no-op. JSON schema: docs/importers.md.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json

SHOW = 5  # rows of each report list printed as text; --json has them all
DPI_USES = ("commercial", "fine-tuning")


def register(sub, common) -> None:
    p = sub.add_parser("import", help="import real metadata: Data Provenance summaries, Ecosystem Graphs, Hugging Face cards, CycloneDX, SPDX 3, Croissant, ODRL, signed bundles and feeds")
    isub = p.add_subparsers(dest="importer", metavar="SOURCE", required=True)

    q = isub.add_parser("dpi", parents=[common], help="Data Provenance Initiative summaries: datasets with every licence, and the models that generated them")
    q.add_argument("dir", type=Path, metavar="DIR", help="root of a Data-Provenance-Collection checkout (data_summaries/, constants/)")
    q.add_argument("--version", dest="asset_version", default="dpi", metavar="V", help="version of every imported asset (default: dpi)")
    q.add_argument("--modality", action="append", choices=["text", "speech", "video"], default=None,
                   help="which summaries to read: text (data_summaries/, the default), speech, video; repeatable")
    q.set_defaults(func=cmd_dpi)

    q = isub.add_parser("ecosystem-graphs", parents=[common], help="CRFM Ecosystem Graphs asset files (one YAML list per organisation)")
    q.add_argument("dir", type=Path, metavar="DIR", help="folder of organisation files (the assets/ folder of ecosystem-graphs)")
    q.add_argument("--version", dest="asset_version", default="eg", metavar="V", help="version of every imported asset (default: eg)")
    q.set_defaults(func=cmd_ecosystem_graphs)

    for fmt, what in (("cyclonedx", "a CycloneDX 1.4-1.6 JSON BOM: models, datasets, applications, devices, with licences, pedigree and Charter's properties"),
                      ("spdx3", "an SPDX 3.0.1 JSON-LD document: AI and dataset packages, declared licences, trainedOn/testedOn/descendantOf"),
                      ("croissant", "a Croissant JSON-LD dataset: licences, prov:wasDerivedFrom, usageInfo as an ODRL policy"),
                      ("odrl", "ODRL 2.2 JSON-LD policies: permissions, prohibitions and duties over Charter's use vocabulary")):
        q = isub.add_parser(fmt, parents=[common], help=what)
        q.add_argument("file", type=Path, metavar="FILE", help="the document (see docs/exports.md for what is read)")
        q.set_defaults(func=cmd_standard, standard=fmt)

    q = isub.add_parser("hf-card", parents=[common], help="a Hugging Face model card: the model, its base models and datasets")
    q.add_argument("file", type=Path, metavar="FILE", help="README.md with YAML front matter (or its folder)")
    q.add_argument("--name", metavar="NAME", help="asset name (default: model_name, model-index name, --repo, the card's '# Title', "
                   "or the file name unless README; never the folder)")
    q.add_argument("--repo", metavar="ORG/NAME", help="the model's Hugging Face repo id (cards do not state it): kept in notes, "
                   "and the asset name when the card has no model_name or model-index name")
    q.add_argument("--version", dest="asset_version", default="hf", metavar="V", help="version of the model (default: hf)")
    q.set_defaults(func=cmd_hf_card)

    from charter.cli.trust import register_imports

    register_imports(isub, common)


def _resolver(reg):
    def resolve(kind: str, name: str) -> str | None:
        found = list(reg.store.find(kind=kind, name=name))
        return found[-1].id if found else None

    return resolve


def cmd_dpi(args) -> int:
    from charter.imports import dpi

    reg = open_registry(args)
    result = dpi.load(args.dir, reg.licenses, version=args.asset_version, modalities=tuple(args.modality or ["text"]))

    def extra(report: dict) -> None:
        ids = [a.id for a in result.assets if a.kind == "dataset"]
        report["stats"]["charter_allowed"] = {"uses": list(DPI_USES), "datasets": sum(reg.check(i, DPI_USES).allowed for i in ids)}

    return _finish(args, reg, result, extra)


def cmd_ecosystem_graphs(args) -> int:
    from charter.imports import ecosystem_graphs

    reg = open_registry(args)
    result = ecosystem_graphs.load(args.dir, reg.licenses, reg.taxonomy, version=args.asset_version, resolve=_resolver(reg))
    return _finish(args, reg, result)


def cmd_hf_card(args) -> int:
    from charter.imports import hf_card

    reg = open_registry(args)
    result = hf_card.load(args.file, reg.licenses, name=args.name, version=args.asset_version, resolve=_resolver(reg), repo=args.repo)

    def attach(report: dict) -> None:
        # model-index results: attached once the model is registered; identical ones already there are not repeated
        have = {hf_card.property_key(p) for a in {p.asset for p in result.properties} for p in reg.store.properties(a)}
        new = [p for p in result.properties if hf_card.property_key(p) not in have]
        reg.attach(new)
        report["stats"]["properties_attached"] = len(new)
        report["stats"]["properties_unchanged"] = len(result.properties) - len(new)

    return _finish(args, reg, result, attach)


def cmd_standard(args) -> int:
    from importlib import import_module

    mod = import_module(f"charter.imports.{args.standard}")
    reg = open_registry(args)

    def known(asset_id: str) -> bool:
        return reg.store.get(asset_id) is not None

    result = mod.load(args.file, reg.licenses, reg.taxonomy, known)

    def attach(report: dict) -> None:
        have = {(p.asset, p.benchmark, p.metric, p.version, p.value) for a in {p.asset for p in result.properties} for p in reg.store.properties(a)}
        new = [p for p in result.properties if (p.asset, p.benchmark, p.metric, p.version, p.value) not in have]
        reg.attach(new)
        report["stats"]["properties_attached"] = len(new)

    return _finish(args, reg, result, attach)


def _finish(args, reg, result, extra=None) -> int:
    added = reg.add(result.assets, result.sources)
    new = {a.id for a in added}
    report = result.to_json()
    if extra:
        extra(report)
    out = {"added": [a.id for a in added], "unchanged": [a.id for a in result.assets if a.id not in new], "report": report}
    if args.json:
        emit_json(out)
    else:
        _print(out)
    return 0


def _print(out: dict) -> None:
    r = out["report"]
    kinds = ", ".join(f"{n} {k}{'s' * (n != 1)}" for k, n in r["assets"].items()) or "no assets"
    console.print(f"[bold]{r['importer']}[/] import of {escape(r['input'])}: {r['files']} file{'s' * (r['files'] != 1)} read, {kinds}")
    console.print(f"  [green]added {len(out['added'])}[/], [dim]unchanged {len(out['unchanged'])}[/] (already registered with identical content)")
    _rows("skipped", r["skipped"], lambda x: f"{x['item']}: {x['reason']} ({x['where']})")
    _rows("renamed", r["renamed"], lambda x: f"{x['item']} -> {x['asset']}: {x['reason']}")
    _rows("dangling (not linked; kept in notes)", r["dangling"], lambda x: f"{x['asset']} -> {x['dependency']!r}: {x['reason']}")
    _rows("placeholders created", r["placeholders"], lambda x: f"{x['asset']}: {x['reason']}")
    _rows("licences not in the licence table (commercial use not permitted)", r["unmapped_licenses"],
          lambda x: f"{x['license']!r}: {x['count']} asset{'s' * (x['count'] != 1)}, e.g. {x['assets'][0]}")
    s = r["stats"]
    if r["importer"] == "dpi":
        c = s["dpi_commercial"]
        per = ", ".join(f"{k} {v}" for k, v in c.items() if k != "any")
        console.print(f"  DPI's classification, datasets commercial per licence source: {per}")
        console.print(f"  DPI's rule (the most permissive source wins): [bold]{c['any']}[/] of {s['datasets']} datasets commercial")
        if "charter_allowed" in s:
            ca = s["charter_allowed"]
            console.print(f"  Charter (every licence and the whole lineage count; the most restrictive wins): [bold]{ca['datasets']}[/] of {s['datasets']} "
                          f"allowed for {','.join(ca['uses'])}")
            console.print(f"  list them: charter ls --kind dataset --allowed {','.join(ca['uses'])}")
    elif r["importer"] == "ecosystem-graphs":
        _coverage(s["coverage"])
        pu = s["prohibited_uses"]
        console.print(f"  prohibited uses mapped to use ids for {len(pu['mapped'])} assets; {len(pu['unmapped'])} texts matched no phrase")
        for x in pu["mapped"][:SHOW]:
            console.print(f"    - {x['asset']} denies {', '.join(x['uses'])}", markup=False)
        _rows("prohibited-use texts with no known phrase (read them)", pu["unmapped"], lambda x: f"{x['asset']}: {x['text'][:100]!r}")
    elif r["importer"] == "hf-card":
        up = ", ".join(s["upstream"]) or "none"
        console.print(f"  {s['model']} ({s['base_model_relation']}) upstream: {up}; name from {s['name_from']}", markup=False)
        if s["properties"] or s["results_skipped"]:
            console.print(f"  model-index: {len(s['properties'])} properties (attached {s['properties_attached']}, "
                          f"unchanged {s['properties_unchanged']}); {s['results_skipped']} results skipped (see skipped)", markup=False)
            for p in s["properties"][:SHOW]:
                console.print(f"    - {p['benchmark']}.{p['metric']} = {p['value']:g}" + (f" ({p['version']})" if p["version"] else ""), markup=False)


def _coverage(c: dict) -> None:
    """How much of an Ecosystem Graphs input was understood (report.stats.coverage)."""
    lic, pu, dep = c["licenses"], c["prohibited_uses"], c["dependencies"]
    console.print(f"  [bold]coverage[/]: {c['imported']} of {c['entries']} entries imported ({c['renamed']} under a new id: see renamed)")
    rest = ", ".join(f"{x['license']!r} ({x['count']})" for x in lic["not_mapped"][:SHOW])
    more = f", … {len(lic['not_mapped']) - SHOW} more" if len(lic["not_mapped"]) > SHOW else ""
    console.print(f"    licences: {lic['strings_mapped']} of {lic['strings']} distinct strings mapped "
                  f"({lic['entries_mapped']} of {lic['entries']} entries; {lic['entries_without_license']} without one)"
                  + (f"; not mapped: {rest}{more}" if rest else ""), markup=False)
    console.print(f"    prohibited uses: {pu['matched']} of {pu['texts']} texts matched at least one use", markup=False)
    console.print(f"    dependencies: {dep['resolved']} linked, {dep['dangling']} dangling ({dep['dangling_names']} distinct names)", markup=False)


def _rows(title: str, rows: list, fmt) -> None:
    if not rows:
        return
    console.print(f"  {title}: {len(rows)}")
    for x in rows[:SHOW]:
        console.print(f"    - {fmt(x)}", markup=False)
    if len(rows) > SHOW:
        console.print(f"    … and {len(rows) - SHOW} more (--json lists all)")
