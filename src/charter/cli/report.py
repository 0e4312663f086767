"""charter card"""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, err_console


def register(sub, common) -> None:
    p = sub.add_parser("card", parents=[common], help="print REF's specification as a Hugging Face-style card (Markdown + YAML front matter)")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the card to FILE (e.g. README.md) instead of printing it")
    p.set_defaults(func=cmd_card)


def cmd_card(args) -> int:
    from charter.report.card import card

    reg = open_registry(args, create=False)
    text = card(reg, args.ref)
    if args.out:
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out)
        err_console.print(f"wrote {args.out}")
    if args.json:
        emit_json({"asset": reg.resolve(args.ref), "card": text, "path": str(args.out) if args.out else None,
                   "contributors": reg.contributors(args.ref)})
    elif not args.out:
        console.out(text, highlight=False)  # plain text: no rich markup interpretation of the Markdown
    return 0
