"""charter can"""

from __future__ import annotations

from charter.cli.main import EXIT_DENIED, open_registry
from charter.cli.output import console, emit_json, escape, reason_line


def register(sub, common) -> None:
    p = sub.add_parser("can", parents=[common], help="may REF be used for USE...? exit 0 allowed, 3 denied, 1 error")
    p.add_argument("ref", metavar="REF")
    p.add_argument("uses", nargs="+", metavar="USE", help="use ids (see `charter uses`); commas also separate")
    p.set_defaults(func=cmd_can)


def cmd_can(args) -> int:
    reg = open_registry(args, create=False)
    d = reg.can(args.ref, args.uses)  # --attest (common to every command) reaches it through the registry
    # Record-level withdrawals do not change the decision (the stages drop those records), but
    # whoever asks should see them; counted after the decision is logged, only for this display.
    from charter.data.owners import withdrawn_note, withdrawn_records

    held = withdrawn_records(reg, d.asset)
    if args.json:
        emit_json({**d.to_json(), "withdrawn_records": held})
    else:
        print_decision(d)
        note = withdrawn_note(held)
        if note:
            console.print(f"  [yellow]note[/]: {escape(note)}")
    return 0 if d.allowed else EXIT_DENIED


def print_decision(d) -> None:
    uses = ", ".join(d.uses)
    if d.allowed:
        console.print(f"[green bold]ALLOWED[/] {d.asset} for {uses}")
        held: dict[tuple, list] = {}
        for c in d.conditions:  # one condition set by several assets' licences (a fine-tune and its base): once
            held.setdefault((c.condition, c.text, c.cite, c.license), []).append(c.asset)
        for (cid, text, cite, lic), assets in held.items():
            cite = f" ({cite})" if cite else ""
            console.print(f"  - [yellow]on condition[/] {escape(cid)}: {escape(text)}{escape(cite)}\n      [dim]licence {lic} of {', '.join(assets)}[/]")
        return
    console.print(f"[red bold]DENIED[/] {d.asset} for {uses}: {len(d.reasons)} reason{'s' * (len(d.reasons) != 1)}")
    for r in d.reasons:
        console.print(f"  - {reason_line(r)}")
