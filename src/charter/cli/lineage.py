"""charter trace | withdraw | restrict"""

from __future__ import annotations

from rich.tree import Tree

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, escape
from charter.errors import UsageError

MAX_TREE = 2000  # beyond this a printed tree helps nobody; --json has everything


def register(sub, common) -> None:
    p = sub.add_parser("trace", parents=[common], help="lineage of an asset, upstream or downstream")
    p.add_argument("ref", metavar="REF")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--up", action="store_true", help="what it was derived from (propagating relations)")
    g.add_argument("--down", action="store_true", help="everything derived from it")
    p.add_argument("--depth", type=int, metavar="N", help="at most N hops")
    p.set_defaults(func=cmd_trace)
    p = sub.add_parser("withdraw", parents=[common], help="withdraw an asset; prints every downstream asset now affected")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (stored and shown in every denial)")
    p.add_argument("--lift", action="store_true", help="lift REF's withdrawal instead (appended to its history; the withdrawal stays on record)")
    p.set_defaults(func=cmd_withdraw)
    p = sub.add_parser("restrict", parents=[common], help="deny uses to a registered asset from now on; prints every downstream asset it reaches")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--deny", nargs="+", metavar="USE", help="use ids to deny (commas also separate)")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (stored and shown in every denial)")
    p.add_argument("--lift", action="store_true", help="lift REF's restrictions so far instead (appended to its history; they stay on record)")
    p.set_defaults(func=cmd_restrict)


def cmd_trace(args) -> int:
    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth must be at least 1, got {args.depth}", hint="pass --depth 1 or more, or leave it out")
    reg = open_registry(args, create=False)
    root = reg.resolve(args.ref)
    hops = reg.trace(root, down=args.down, depth=args.depth)
    if args.json:
        from charter.report.views import trace

        emit_json(trace(root, args.down, args.depth, hops))
        return 0
    console.print(lineage_tree(reg, root, [h.asset for h in hops], args.down))
    console.print(f"{len(hops)} assets {'downstream' if args.down else 'upstream'}")
    return 0


def lineage_tree(reg, root: str, members: list[str], down: bool) -> Tree | str:
    """A tree of the members; a member reachable several ways is drawn once, under its nearest link."""
    if len(members) > MAX_TREE:
        return f"{root}: {len(members)} assets (too many to draw; use --json or --depth)"
    assets = reg.store.get_many([root, *members])
    wd = reg.withdrawals()
    links: dict[str, list[tuple[str, str]]] = {}
    for a in assets.values():
        for e in a.derived_from:
            if not e.propagates or e.parent not in assets:
                continue
            src, dst = (e.parent, a.id) if down else (a.id, e.parent)
            links.setdefault(src, []).append((dst, e.relation))

    def label(i: str, rel: str = "") -> str:
        mark = "  [red](withdrawn)[/]" if i in wd else ""
        return f"[dim]{rel}[/] {i}{mark}" if rel else f"[bold]{i}[/]{mark}"

    tree = Tree(label(root))
    seen = {root}
    frontier = [(root, tree)]
    while frontier:  # breadth-first, so each asset sits under its shortest path
        nxt = []
        for node, branch in frontier:
            for dst, rel in links.get(node, []):
                if dst in seen:
                    continue
                seen.add(dst)
                nxt.append((dst, branch.add(label(dst, rel))))
        frontier = nxt
    return tree


def cmd_withdraw(args) -> int:
    reg = open_registry(args, create=False)
    if args.lift:
        w = reg.lift(args.ref, args.reason)
        if args.json:
            emit_json({"asset": w.asset, "lifted": True, "reason": w.reason, "time": w.time})
        else:
            console.print(f"[green bold]withdrawal lifted[/] {escape(w.asset)}: {escape(w.reason)}")
        return 0
    w, affected = reg.withdraw(args.ref, args.reason)
    if args.json:
        emit_json({"asset": w.asset, "reason": w.reason, "time": w.time,
                   "affected": [{"id": h.asset, "depth": h.depth} for h in affected]})
        return 0
    console.print(f"[red bold]withdrawn[/] {w.asset}: {escape(w.reason)}")
    if affected:
        console.print(f"{len(affected)} downstream assets are now denied every use:")
        console.print(lineage_tree(reg, w.asset, [h.asset for h in affected], down=True))
    else:
        console.print("nothing downstream is affected")
    return 0


def cmd_restrict(args) -> int:
    if args.lift == bool(args.deny):
        raise UsageError("pass --deny USE... to restrict, or --lift to lift REF's restrictions (not both)",
                         hint="charter restrict REF --deny USE --reason TEXT, or charter restrict --lift REF --reason TEXT")
    reg = open_registry(args, create=False)
    if args.lift:
        lift = reg.lift_restrictions(args.ref, args.reason)
        if args.json:
            emit_json({"asset": lift.asset, "lifted": True, "deny": list(lift.deny), "reason": lift.reason, "time": lift.time})
        else:
            console.print(f"[green bold]restrictions lifted[/] {escape(lift.asset)}: {', '.join(lift.deny)} ({escape(lift.reason)})")
        return 0
    r, affected = reg.restrict(args.ref, args.deny, args.reason)
    if args.json:
        emit_json({"asset": r.asset, "deny": list(r.deny), "reason": r.reason, "time": r.time,
                   "affected": [{"id": h.asset, "depth": h.depth} for h in affected]})
        return 0
    console.print(f"[red bold]restricted[/] {r.asset}: deny {', '.join(r.deny)} ({escape(r.reason)})")
    if affected:
        console.print(f"{len(affected)} downstream assets inherit it:")
        console.print(lineage_tree(reg, r.asset, [h.asset for h in affected], down=True))
    return 0
