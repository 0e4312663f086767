"""Entry point: parse arguments, open the registry, run a command, map errors to exit codes.

Exit codes: 0 ok, 1 error, 2 usage, 3 denied by policy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from charter.errors import CharterError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DENIED = 0, 1, 2, 3


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--registry", metavar="URL", help="registry: a SQLite path, sqlite:///path or postgresql://USER@HOST/DB (default: $CHARTER_REGISTRY or .charter/registry.db)")
    p.add_argument("--taxonomy", metavar="FILE", action="append", default=[], type=Path, help="extend the use taxonomy with this file (repeatable)")
    p.add_argument("--licenses", metavar="FILE", action="append", default=[], type=Path,
                   help="extend or override the licence table with this file (repeatable)")
    p.add_argument("--attest", action="append", default=[], metavar="CONDITION",
                   help="attest a licence condition (e.g. llama32-700m-mau) for every decision this command makes; recorded with each (repeatable)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON (schema: docs/cli-json.md)")
    p.add_argument("--as", dest="actor", metavar="NAME", help="act as this user: recorded with every write and checked against its role "
                   "(default: $CHARTER_ACTOR, else the operating-system user)")
    return p


def build_parser() -> argparse.ArgumentParser:
    from charter import __version__
    from charter.cli import assets, check, data, decisions, demo, evals, exports, identity, imports, licenses, lineage, models, report, serve, signals, swarm, trust, ui, uses

    parser = argparse.ArgumentParser(prog="charter", description="What may each asset be used for? Charters, lineage and decisions.")
    parser.add_argument("--version", action="version", version=f"charter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common()
    for module in (assets, decisions, lineage, uses, licenses, imports, exports, data, signals, models, evals, report, serve, ui, swarm, trust, identity, check, demo):
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CharterError as e:
        if getattr(args, "json", False):
            from charter.cli.output import emit_json

            emit_json(e.to_json())
        label = "denied" if e.exit_code == EXIT_DENIED else "error"
        print(f"charter: {label}: {e.oneline()}", file=sys.stderr)
        if not getattr(args, "json", False):  # with --json the decisions are in the JSON already
            for d in getattr(e, "decisions", ()):  # a refusal explains itself: every reason, with its chain
                from charter.cli.decisions import print_decision

                print_decision(d)
        for reason, n in getattr(e, "exclusions", {}).items():
            print(f"  {n:>9,} records: {reason}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("charter: interrupted", file=sys.stderr)
        return 130
    finally:
        _flush_opened()


_opened: list = []  # registries this command opened: their grouped decision records are written before it returns


def _flush_opened() -> None:
    while _opened:
        try:
            _opened.pop().store.flush()
        except Exception as e:  # reported, never silent: a decision the command made was not recorded
            print(f"charter: error: could not record the command's decisions: {e}", file=sys.stderr)


def open_registry(args, create: bool = True):
    from charter.registry import Registry

    reg = Registry.open(args.registry, args.taxonomy, create=create, license_files=args.licenses)
    _opened.append(reg)
    if getattr(args, "actor", None):
        reg.actor = args.actor
    attest = attested(args)
    if attest:
        reg.attested = reg.check_attest(attest)
    return reg


def attested(args) -> list[str]:
    """The --attest values (repeatable; commas also separate)."""
    return [c.strip() for x in getattr(args, "attest", None) or () for c in x.split(",") if c.strip()]


if __name__ == "__main__":
    sys.exit(main())
