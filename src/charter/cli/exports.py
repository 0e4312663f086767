"""charter export REF --format cyclonedx|spdx3|croissant|odrl|prov|hf-card [--out FILE] [--lineage]

The document goes to stdout, or to FILE (written whole, then renamed). With --json: where it went,
the format, the assets in it and, without --out, the document itself. Formats: docs/exports.md.
"""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, err_console

FORMATS = ("cyclonedx", "spdx3", "croissant", "odrl", "prov", "hf-card")  # charter.exports.FORMATS, without importing it


def register(sub, common) -> None:
    p = sub.add_parser("export", parents=[common], help="write REF's charter in a standard format: CycloneDX, SPDX 3, Croissant, ODRL, PROV, HF card")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--format", required=True, choices=FORMATS, help="cyclonedx (1.6 ML-BOM), spdx3 (3.0.1 AI/Dataset), croissant (1.1 + RAI, "
                   "datasets), odrl (2.2 JSON-LD), prov (PROV-JSON), hf-card (README.md, models)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the document to FILE instead of printing it")
    p.add_argument("--lineage", action="store_true", help="the asset and everything upstream of it in one document")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from charter.exports import collect, export

    reg = open_registry(args, create=False)
    text = export(reg, args.ref, args.format, lineage=args.lineage)
    assets = sorted(collect(reg, args.ref, args.lineage).ids) if args.json else []
    if args.out:
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out)
        if not args.json:
            err_console.print(f"wrote {args.out} ({args.format})", markup=False)
    if args.json:
        emit_json({"asset": reg.resolve(args.ref), "format": args.format, "lineage": args.lineage, "assets": assets,
                   "path": str(args.out) if args.out else None} | ({} if args.out else {"document": text}))
    elif not args.out:
        console.out(text, highlight=False, end="")
    return 0
