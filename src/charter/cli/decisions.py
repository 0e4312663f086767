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
    from charter.data.owners import withdrawn_note
    from charter.report.views import can

    shown = can(reg, d)
    if args.json:
        emit_json(shown)
    else:
        print_decision(d)
        note = withdrawn_note(shown["withdrawn_records"])
        if note:
            console.print(f"  [yellow]note[/]: {escape(note)}")
    return 0 if d.allowed else EXIT_DENIED


def print_decision(d) -> None:
    from charter.policy.explain import conditions_text, verdict_line

    head = escape(verdict_line(d))
    if d.allowed:
        console.print(head.replace("ALLOWED", "[green bold]ALLOWED[/]", 1))
        for what, whose in conditions_text(d):
            what = escape(what).replace("on condition", "[yellow]on condition[/]", 1)
            console.print(f"  - {what}\n      [dim]{escape(whose)}[/]")
        return
    console.print(head.replace("DENIED", "[red bold]DENIED[/]", 1))
    for r in d.reasons:
        console.print(f"  - {reason_line(r)}")
