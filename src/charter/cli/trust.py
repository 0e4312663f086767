"""charter key | trust | sign | bundle | verify | feed (and `charter import bundle|feed`, cli/imports.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, err_console


def _keys_arg(p) -> None:
    p.add_argument("--keys", metavar="DIR", help="folder of publisher keys (default: $CHARTER_KEYS or ~/.charter/keys)")


def _trust_arg(p) -> None:
    p.add_argument("--trust", metavar="FILE", help="trust store (default: $CHARTER_TRUST or ~/.charter/trust.json)")


def register(sub, common) -> None:
    p = sub.add_parser("key", help="publisher signing keys (Ed25519; private key files mode 0600, never in the registry)")
    ksub = p.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    q = ksub.add_parser("new", parents=[common], help="create key NAME: prints its public key for `charter trust add` elsewhere")
    q.add_argument("name", metavar="NAME")
    _keys_arg(q)
    q.set_defaults(func=cmd_key_new)
    q = ksub.add_parser("show", parents=[common], help="print key NAME's public key and key id")
    q.add_argument("name", metavar="NAME")
    _keys_arg(q)
    q.set_defaults(func=cmd_key_show)

    p = sub.add_parser("trust", help="the trust store: which public keys may sign for which asset namespaces")
    tsub = p.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    q = tsub.add_parser("add", parents=[common], help="trust PUBKEY (ed25519:... or a .pub file) to sign for a namespace")
    q.add_argument("pubkey", metavar="PUBKEY")
    q.add_argument("--for", dest="patterns", action="append", required=True, metavar="PATTERN",
                   help="asset namespace, e.g. 'model/acme-*', 'dataset/*' or '*' (repeatable)")
    q.add_argument("--name", metavar="NAME", help="a name for the publisher (shown in reports)")
    _trust_arg(q)
    q.set_defaults(func=cmd_trust_add)
    q = tsub.add_parser("list", parents=[common], help="list trusted keys")
    _trust_arg(q)
    q.set_defaults(func=cmd_trust_list)

    p = sub.add_parser("sign", parents=[common], help="sign REF's charter and its lineage digest (a DSSE envelope, stored in the registry)")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--key", required=True, metavar="NAME")
    p.add_argument("--upstream", action="store_true", help="also sign every charter upstream of REF with this key")
    _keys_arg(p)
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("bundle", parents=[common], help="write REF, its whole upstream lineage, signatures, withdrawals and restrictions to one JSON file")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--out", required=True, type=Path, metavar="FILE")
    p.add_argument("--key", metavar="NAME", help="sign the bundle's manifest and any unsigned withdrawal or restriction with this key")
    _keys_arg(p)
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser("verify", parents=[common], help="verify a bundle offline against the trust store (exit 0: every signature and digest holds)")
    p.add_argument("file", type=Path, metavar="FILE")
    _trust_arg(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("feed", parents=[common], help="export withdrawals and restrictions since T as a signed feed")
    p.add_argument("--since", required=True, metavar="T", help="ISO 8601 time (e.g. 2026-12-01)")
    p.add_argument("--key", metavar="NAME", help="sign this registry's own events with this key (imported ones are relayed as signed)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: stdout)")
    _keys_arg(p)
    p.set_defaults(func=cmd_feed)


def register_imports(isub, common) -> None:
    """`charter import bundle FILE` and `charter import feed FILE` (called from cli/imports.py)."""
    q = isub.add_parser("bundle", parents=[common], help="a signed bundle (`charter bundle`): verified against the trust store, then registered")
    q.add_argument("file", type=Path, metavar="FILE")
    q.add_argument("--unsigned-ok", action="store_true", help="accept charters and events not signed by a trusted key (recorded as unsigned); "
                   "a signature or digest that does not hold is still refused")
    _trust_arg(q)
    q.set_defaults(func=cmd_import_bundle)
    q = isub.add_parser("feed", parents=[common], help="a signed withdrawal/restriction feed (`charter feed`): verified, then applied")
    q.add_argument("file", type=Path, metavar="FILE")
    q.add_argument("--unsigned-ok", action="store_true", help="apply unsigned or untrusted withdrawals and restrictions too (never lifts)")
    _trust_arg(q)
    q.set_defaults(func=cmd_import_feed)


def cmd_key_new(args) -> int:
    from charter.trust import keys

    path, pub, kid = keys.new_key(args.name, args.keys)
    if args.json:
        emit_json({"name": args.name, "path": str(path), "public_key": pub, "keyid": kid})
    else:
        err_console.print(f"wrote {path} (mode 600; keep it private, never in the registry)", markup=False)
        console.print(pub, markup=False)
    return 0


def cmd_key_show(args) -> int:
    from charter.trust import keys

    k = keys.load(args.name, args.keys)
    if args.json:
        emit_json({"name": k.name, "public_key": k.public, "keyid": k.keyid})
    else:
        console.print(f"{k.public}\nkeyid {k.keyid}", markup=False)
    return 0


def cmd_trust_add(args) -> int:
    from charter.trust.keys import TrustStore

    ts = TrustStore.load(args.trust)
    k = ts.add(args.pubkey, args.patterns, args.name)
    if args.json:
        emit_json(k.to_json() | {"trust": str(ts.path)})
    else:
        console.print(f"trusted {k.name} ({k.keyid[:16]}…) for {', '.join(k.patterns)} in {ts.path}", markup=False)
    return 0


def cmd_trust_list(args) -> int:
    from charter.trust.keys import TrustStore

    ts = TrustStore.load(args.trust)
    if args.json:
        emit_json({"trust": str(ts.path), "keys": [k.to_json() for k in ts.keys]})
    else:
        for k in ts.keys:
            console.print(f"{k.name}\t{k.key}\t{', '.join(k.patterns)}", markup=False)
        if not ts.keys:
            err_console.print(f"no trusted keys in {ts.path}", markup=False)
    return 0


def cmd_sign(args) -> int:
    from charter.trust import keys
    from charter.trust.bundle import sign_charters

    key = keys.load(args.key, args.keys)
    reg = open_registry(args, create=False)
    new, same = sign_charters(reg, args.ref, key, upstream=args.upstream)
    if args.json:
        emit_json({"signer": key.name, "keyid": key.keyid, "signed": [r.asset for r in new], "already_signed": same})
    else:
        console.print(f"signed {len(new)} charter{'s' * (len(new) != 1)} with {key.name}" + (f"; {len(same)} already signed" if same else ""), markup=False)
        for r in new[-5:]:
            console.print(f"  {r.asset}  {r.digest[:23]}…", markup=False)
    return 0


def cmd_bundle(args) -> int:
    from charter.trust import keys
    from charter.trust.bundle import build_bundle, write_json

    key = keys.load(args.key, args.keys) if args.key else None
    reg = open_registry(args, create=False)
    doc = build_bundle(reg, args.ref, key)
    write_json(doc, args.out)
    signed = sum(len(v) for v in doc["signatures"].values())
    out = {"file": str(args.out), "root": doc["root"], "assets": len(doc["assets"]), "signatures": signed,
           "events": len(doc["events"]), "manifest": doc["manifest"] is not None}
    if args.json:
        emit_json(out)
    else:
        console.print(f"wrote {args.out}: {doc['root']} and {len(doc['assets']) - 1} upstream, {signed} signatures, "
                      f"{len(doc['events'])} withdrawals/restrictions" + ("" if key else " (no manifest signature: pass --key NAME)"), markup=False)
    return 0


def cmd_verify(args) -> int:
    from charter.trust.bundle import read_json, verify_bundle, BUNDLE_FORMAT
    from charter.trust.keys import TrustStore

    doc, digest = read_json(args.file, BUNDLE_FORMAT, "bundle")
    v = verify_bundle(doc, TrustStore.load(args.trust), where=str(args.file))
    if args.json:
        emit_json(v.to_json() | {"file": str(args.file), "sha256": digest})
    else:
        console.print(f"verified {args.file}: {v.root} and {len(v.assets) - 1} upstream charters, every signature and digest holds "
                      f"(signers: {', '.join(sorted({s for s in v.signers.values() if s}))}; manifest by {v.manifest_signer}; "
                      f"{len(v.events)} withdrawals/restrictions)", markup=False)
    return 0


def cmd_feed(args) -> int:
    from charter.trust import keys
    from charter.trust.bundle import build_feed, write_json

    key = keys.load(args.key, args.keys) if args.key else None
    reg = open_registry(args, create=False)
    doc = build_feed(reg, args.since, key)
    if args.out:
        write_json(doc, args.out)
        n_unsigned = sum("unsigned" in e for e in doc["entries"])
        err_console.print(f"wrote {args.out}: {len(doc['entries'])} entries since {doc['since']}"
                          + (f" ({n_unsigned} unsigned: pass --key NAME)" if n_unsigned else ""), markup=False)
    else:
        import json

        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return 0


def cmd_import_bundle(args) -> int:
    from charter.trust.bundle import import_bundle
    from charter.trust.keys import TrustStore

    reg = open_registry(args)
    out = import_bundle(reg, args.file, TrustStore.load(args.trust), unsigned_ok=args.unsigned_ok)
    if args.json:
        emit_json(out)
        return 0
    console.print(f"bundle {args.file}: {out['root']}, {out['assets']} charters ({len(out['added'])} added, {len(out['unchanged'])} unchanged)", markup=False)
    for who, ids in out["by_signer"].items():
        console.print(f"  signed by {who}: {len(ids)} ({', '.join(ids[:3])}{', …' if len(ids) > 3 else ''})", markup=False)
    _events(out["events"])
    for w in out["warnings"]:
        err_console.print(f"  warning: {w}", markup=False)
    return 0


def cmd_import_feed(args) -> int:
    from charter.trust.bundle import import_feed
    from charter.trust.keys import TrustStore

    reg = open_registry(args)
    out = import_feed(reg, args.file, TrustStore.load(args.trust), unsigned_ok=args.unsigned_ok)
    if args.json:
        emit_json(out)
        return 0
    console.print(f"feed {args.file}: {out['entries']} entries", markup=False)
    _events(out)
    for w in out["warnings"]:
        err_console.print(f"  warning: {w}", markup=False)
    return 0


def _events(ev: dict) -> None:
    for x in ev["applied"]:
        console.print(f"  {x['action']} {x['asset']} ({x['signer'] or 'unsigned'}, {x['time']})" + ("" if x["changed"] else ": already in effect"),
                      markup=False)
    for x in ev["skipped"]:
        console.print(f"  skipped {x['action']} {x['asset']}: {x['why']}", markup=False)


