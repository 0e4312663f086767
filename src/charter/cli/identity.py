"""charter user | log | consent-token: who may write what, who did, and data contributors' own tokens."""

from __future__ import annotations

import sys

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, err_console
from charter.core.identity import ROLES


def register(sub, common) -> None:
    p = sub.add_parser("user", help="users of a shared registry: roles (admin, publisher, curator, auditor) and namespaces")
    usub = p.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    q = usub.add_parser("add", parents=[common], help="add a user or change one (the first user must be an admin; then admins only)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--role", required=True, choices=ROLES)
    q.add_argument("--namespace", action="append", default=[], metavar="PATTERN",
                   help="asset ids the user owns, as a pattern (e.g. 'model/acme-*'; repeatable): a publisher acts on these")
    q.set_defaults(func=cmd_user_add)
    q = usub.add_parser("ls", parents=[common], help="list the users and their roles")
    q.set_defaults(func=cmd_user_ls)

    p = sub.add_parser("log", parents=[common], help="who did what to what, when (every write and every refused write; hash-chained)")
    p.add_argument("ref", nargs="?", metavar="REF", help="only this asset's entries")
    p.add_argument("--actor", metavar="NAME", help="only this actor's entries")
    p.add_argument("--verify", action="store_true", help="walk the hash chain (exit 1 when an entry was changed, removed or reordered)")
    p.set_defaults(func=cmd_log)

    p = sub.add_parser("consent-token", parents=[common],
                       help="a token that lets one data contributor withdraw their own records (`withdraw-records --owner ID --token T`)")
    p.add_argument("owner", metavar="OWNER")
    p.set_defaults(func=cmd_consent_token)


def cmd_user_add(args) -> int:
    reg = open_registry(args, create=False)
    u = reg.add_user(args.name, args.role, args.namespace)
    if args.json:
        emit_json(u.to_json())
    else:
        console.print(f"user {u.name}: {u.role}" + (f", namespaces {', '.join(u.namespaces)}" if u.namespaces else ""), markup=False)
    return 0


def cmd_user_ls(args) -> int:
    reg = open_registry(args, create=False)
    users = sorted(reg.store.users().values(), key=lambda u: u.name)
    if args.json:
        emit_json([u.to_json() for u in users])
        return 0
    if not users:
        console.print("no users: every local writer may act (the first `charter user add NAME --role admin` changes that)", markup=False)
    for u in users:
        console.print(f"{u.name}\t{u.role}\t{', '.join(u.namespaces) or '-'}", markup=False)
    return 0


def cmd_log(args) -> int:
    reg = open_registry(args, create=False)
    if args.verify:
        ok, n, problem = reg.verify_actions()
        if args.json:
            emit_json({"ok": ok, "entries": n, "problem": problem})
        elif ok:
            console.print(f"action log intact: {n:,} entries, every hash verifies", markup=False)
        else:
            err_console.print(f"action log BROKEN after {n:,} good entries: {problem}", markup=False)
        return 0 if ok else 1
    rows = reg.actions(args.ref, args.actor)
    if args.json:
        emit_json(rows)
        return 0
    for r in rows:
        what = r.get("asset") or (f"{r['assets']['n']:,} assets" if r.get("assets") else "")
        verdict = "" if r["allowed"] else f"REFUSED ({r['rule']})"
        detail = r.get("detail") or {}
        extra = "; ".join(f"{k}: {v}" for k, v in detail.items() if k in ("reason", "deny", "owner", "owners", "user"))
        line = "\t".join(x for x in (str(r["seq"]), r["time"], r["actor"], r["action"], what, verdict, extra) if x != "")
        sys.stdout.write(line.replace("\n", " ") + "\n")
    return 0


def cmd_consent_token(args) -> int:
    reg = open_registry(args, create=False)
    token = reg.consent_token(args.owner)
    if args.json:
        emit_json({"owner": args.owner, "token": token})
    else:
        console.print(f"consent token for {args.owner} (shown once; it withdraws this owner's records and nothing else):", markup=False)
        sys.stdout.write(token + "\n")
    return 0
