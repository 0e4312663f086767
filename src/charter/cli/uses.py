"""charter uses"""

from __future__ import annotations

from rich.tree import Tree

from charter.cli.output import console, emit_json, escape


def register(sub, common) -> None:
    p = sub.add_parser("uses", parents=[common], help="print the use taxonomy as a tree")
    p.set_defaults(func=cmd_uses)


def cmd_uses(args) -> int:
    from charter.core.uses import load

    tax = load(*args.taxonomy)
    if args.json:
        emit_json(tax.to_json())
        return 0
    for facet in tax.facets:
        tree = Tree(f"[bold]{facet}[/]  [dim]{escape(tax.uses[facet].description)}[/]")
        _grow(tax, facet, tree)
        console.print(tree)
    return 0


def _grow(tax, use: str, node) -> None:
    for child in tax.children(use):
        others = [p for p in tax.uses[child].parents if p != use]
        also = f"  [dim](also under {', '.join(others)})[/]" if others else ""
        _grow(tax, child, node.add(f"{child}{also}"))
