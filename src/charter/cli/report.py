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
    p = sub.add_parser("transparency", parents=[common], help="the Foundation Model Transparency Index indicators the registry can answer for REF, with evidence")
    p.add_argument("ref", metavar="REF")
    p.set_defaults(func=cmd_transparency)


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


def cmd_transparency(args) -> int:
    from charter.report.transparency import transparency

    reg = open_registry(args, create=False)
    t = transparency(reg, args.ref)
    if args.json:
        emit_json(t)
        return 0
    s = t["score"]
    console.print(f"{t['asset']}: {s['yes']} of {s['answerable']} answerable FMTI indicators met "
                  f"({s['of_answerable']:.0%}; {s['of_all']:.0%} of {s['answerable'] + s['unanswerable']} with those a registry cannot answer)", markup=False)
    for i in t["indicators"]:
        ev = ", ".join(f"{e['asset']} {e['field']}" for e in i["evidence"][:2]) + (f" (+{len(i['evidence']) - 2})" if len(i["evidence"]) > 2 else "")
        console.print(f"  {i['answer']:<3} {i['domain']:<10} {i['indicator']}: {ev or i['note']}", markup=False)
    console.print("  cannot answer: " + "; ".join(x for v in t["unanswerable"].values() for x in v), markup=False)
    return 0
