"""charter check: is the registry whole? (charter.registry_check, SQLite or PostgreSQL: the database's own checks, lineage closure,
stored charters, per-asset rows, append-only triggers, the audit chain, generation counters)."""

from __future__ import annotations

from charter.cli.output import console, emit_json, escape


def register(sub, common) -> None:
    p = sub.add_parser("check", parents=[common],
                       help="verify the registry's integrity (after a crash, or if tampering is suspected): exit 0 when every check passes, 1 otherwise")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from charter.registry_check import check, target

    report = check(target(args.registry))
    if args.json:
        emit_json(report.to_json())
    else:
        for c in report.checks:
            if c.ok:
                console.print(f"[green]ok[/]      {c.name}")
            else:
                more = f" (and {c.count - 1} more)" if c.count > 1 else ""
                console.print(f"[red bold]FAILED[/]  {c.name}: {escape(c.problem)}{more}")
    return 0 if report.ok else 1
