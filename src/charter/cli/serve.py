"""charter serve | app add | app key | app keys | app revoke | audit [verify]"""

from __future__ import annotations

from charter.cli.main import attested, EXIT_ERROR, open_registry
from charter.cli.output import console, emit_json, err_console, escape


def register(sub, common) -> None:
    from charter.serve.limits import Limits

    d = Limits()
    p = sub.add_parser("serve", parents=[common], help="serve MODEL... through an OpenAI-compatible API that decides and audits every request")
    p.add_argument("models", nargs="+", metavar="MODEL", help="registered models to serve (kind/name@version or kind/name)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the registry and its audit log (default 1)")
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, help=f"most tokens one request may generate (default {d.max_tokens})")
    p.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens, help=f"(default {d.max_prompt_tokens})")
    p.add_argument("--max-prompt-chars", type=int, default=d.max_prompt_chars, help=f"(default {d.max_prompt_chars:,})")
    p.add_argument("--rate", type=float, default=d.rate, help=f"requests/s per key, sustained; 0 = unlimited (default {d.rate:g})")
    p.add_argument("--burst", type=int, default=d.burst, help=f"requests a key may make at once (default {d.burst})")
    p.add_argument("--max-concurrent", type=int, default=d.max_concurrent, help=f"requests in model work at once, per process (default {d.max_concurrent})")
    p.add_argument("--keyless-rate", type=float, default=d.keyless_rate,
                   help=f"requests/s per client address without a valid key (401s), sustained; 0 = unlimited (default {d.keyless_rate:g})")
    p.add_argument("--keyless-burst", type=int, default=d.keyless_burst, help=f"(default {d.keyless_burst})")
    p.add_argument("--keyless-total-rate", type=float, default=d.keyless_total_rate,
                   help=f"requests/s without a valid key from all addresses together; 0 = unlimited (default {d.keyless_total_rate:g})")
    p.add_argument("--anchor-file", metavar="PATH", help="append the audit log's head (count, hash, time) to this JSON Lines file, "
                                                         "outside the registry (default: beside it, REGISTRY.anchors.jsonl)")
    p.add_argument("--anchor-every", type=float, default=60.0, metavar="S", help="seconds between anchors, written when the log grew; 0 = none (default 60)")
    p.add_argument("--graceful-timeout", type=float, default=30.0, metavar="S", help="on SIGINT/SIGTERM, wait this long for requests in progress (default 30)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", help="log every request (the audit log records them anyway)")
    p.add_argument("--model-in-process", dest="model_process", action="store_false",
                   help="run the models on a thread of the server process instead of a child process of it (slower answers: README \"Gateway\")")
    p.add_argument("--no-ui", dest="ui", action="store_false", help="do not serve the read-only web view under /ui (`charter ui`'s)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("app", help="applications served by the gateway, and their keys")
    asub = p.add_subparsers(dest="app_command", metavar="ACTION", required=True)
    a = asub.add_parser("add", parents=[common], help="register application ID, deployed from --model, declared for --for USE...")
    a.add_argument("app", metavar="ID", help="application/name@version (or a name: application/NAME@1)")
    a.add_argument("--model", required=True, metavar="REF", help="the model it is deployed from")
    a.add_argument("--for", dest="uses", nargs="+", required=True, metavar="USE", help="declared uses (inference is implied when no activity is given)")
    a.add_argument("--license", action="append", default=[], help="the application's licence (repeatable; default proprietary)")
    a.add_argument("--description", default="")
    a.set_defaults(func=cmd_app_add)
    a = asub.add_parser("key", parents=[common], help="make a new API key for application ID (printed once; stored hashed)")
    a.add_argument("app", metavar="ID")
    a.set_defaults(func=cmd_app_key)
    a = asub.add_parser("keys", parents=[common], help="list an application's keys (ids only)")
    a.add_argument("app", metavar="ID", nargs="?")
    a.set_defaults(func=cmd_app_keys)
    a = asub.add_parser("revoke", parents=[common], help="revoke a key by its id (takes effect on the next request)")
    a.add_argument("key_id", metavar="KEY_ID")
    a.set_defaults(func=cmd_app_revoke)

    p = sub.add_parser("audit", parents=[common], help="the gateway's audit log: usage per application, use and decision; `verify` checks its hash chain")
    p.add_argument("action", nargs="?", choices=["summary", "verify", "head"], default="summary")
    p.add_argument("--app", metavar="ID", help="only this application (summary)")
    p.add_argument("--expect", metavar="COUNT:HASH", help="verify: also check the anchor `charter audit head` printed earlier (detects a cut tail or a rewrite)")
    p.add_argument("--anchors", metavar="FILE", help="verify: also check every anchor in FILE (what `charter serve --anchor-file` wrote)")
    p.set_defaults(func=cmd_audit)


def cmd_serve(args) -> int:
    import signal

    from charter.serve.limits import Limits
    from charter.serve.server import ServeConfig, run

    from charter.serve.audit import default_anchor_file

    limits = Limits(max_prompt_chars=args.max_prompt_chars, max_prompt_tokens=args.max_prompt_tokens, max_tokens=args.max_tokens,
                    rate=args.rate, burst=args.burst, max_concurrent=args.max_concurrent, keyless_rate=args.keyless_rate,
                    keyless_burst=args.keyless_burst, keyless_total_rate=args.keyless_total_rate)
    reg = open_registry(args, create=False)  # check the registry and the models before starting
    try:
        models = [reg.resolve(m) for m in args.models]
        path = getattr(reg.store, "path", None)
    finally:
        reg.close()
    anchors = args.anchor_file or (str(default_anchor_file(path)) if path is not None else None)
    cfg = ServeConfig(models, args.registry, [str(t) for t in args.taxonomy], args.host, args.port, args.workers, limits,
                      args.graceful_timeout, True, args.log_level, args.access_log, anchors if args.anchor_every > 0 else None,
                      args.anchor_every, [str(x) for x in args.licenses], model_process=args.model_process)
    if args.ui:
        from charter.web.app import GATEWAY_FACTORY, UI_PATH

        cfg.factory = GATEWAY_FACTORY
    err_console.print(f"[bold]charter gateway[/] serving {', '.join(models)} at http://{args.host}:{args.port}/v1 "
                      f"(OpenAI-compatible; keys: `charter app key APP`; stop with Ctrl+C)")
    if args.ui:
        err_console.print(f"web view (read-only) at http://{args.host}:{args.port}{UI_PATH}/")
    if cfg.anchor_file:
        err_console.print(f"audit anchors every {args.anchor_every:g} s to {escape(cfg.anchor_file)} (keep a copy off this machine)")

    class Stopped(Exception):
        pass

    def stopped(*_):
        raise Stopped

    old = signal.signal(signal.SIGTERM, stopped)  # uvicorn shuts down gracefully, then re-raises the signal here
    try:
        run(cfg)
    except (Stopped, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
    err_console.print("charter gateway stopped")
    return 0


def cmd_app_add(args) -> int:
    from charter.cli.decisions import print_decision
    from charter.serve.apps import add_application

    reg = open_registry(args, create=False)
    attest = attested(args)  # the operator's attestations: recorded in the application's charter
    a, new, d = add_application(reg, args.app, args.model, args.uses, tuple(args.license) or ("proprietary",), args.description, attest)
    model = a.derived_from[0].parent
    if args.json:
        emit_json({"application": a.id, "model": model, "uses": list(a.allow), "added": new, "decision": d.to_json()})
        return 0
    console.print(f"[green]registered[/] {a.id} (deployed from {model}, for {', '.join(a.allow)})" if new else f"unchanged {a.id}")
    if not d.allowed:
        console.print("[yellow]note[/]: its requests are refused today:")
        print_decision(d)
    return 0


def cmd_app_key(args) -> int:
    from charter.serve.keys import new_key

    reg = open_registry(args, create=False)
    key, rec = new_key(reg, args.app)
    if args.json:
        emit_json({"key": key, "key_id": rec.key_id, "application": rec.application})
    else:
        console.print(key)
        err_console.print(f"[dim]key {rec.key_id} for {rec.application}; shown once, stored hashed. "
                          f"Use it as: Authorization: Bearer <key> (OPENAI_API_KEY for OpenAI clients)[/]")
    return 0


def cmd_app_keys(args) -> int:
    from charter.serve.apps import app_id

    reg = open_registry(args, create=False)
    keys = reg.store.api_keys(app_id(args.app) if args.app else None)
    rows = [{"key_id": k.key_id, "application": k.application, "created": k.created, "revoked": k.revoked} for k in keys]
    if args.json:
        emit_json(rows)
    else:
        for r in rows:
            console.print(f"{r['key_id']}  {r['application']}  created {r['created']}" + (f"  [red]revoked {r['revoked']}[/]" if r["revoked"] else ""))
    return 0


def cmd_app_revoke(args) -> int:
    reg = open_registry(args, create=False)
    from charter.serve.keys import revoke_key

    k = revoke_key(reg, args.key_id)
    if args.json:
        emit_json({"key_id": k.key_id, "application": k.application, "revoked": k.revoked})
    else:
        console.print(f"[green]revoked[/] key {k.key_id} of {k.application}")
    return 0


def cmd_audit(args) -> int:
    from charter.serve import audit

    reg = open_registry(args, create=False)
    if args.action == "head":
        count, h = audit.head(reg.store)
        if args.json:
            emit_json({"count": count, "hash": h})
        else:
            console.print(f"{count}:{h}")
        return 0
    if args.action == "verify":
        anchors = [audit.parse_anchor(args.expect)] if args.expect else []
        if args.anchors:
            anchors += audit.read_anchors(args.anchors)
        v = audit.verify(reg.store, anchors if args.expect or args.anchors else None)
        if args.json:
            emit_json(v.to_json())
        elif v.ok:
            checked = f"; {len(anchors)} anchor{'s' * (len(anchors) != 1)} hold" if args.expect or args.anchors else ""
            console.print(f"[green]audit log intact[/]: {v.entries:,} entries, head {v.head}{checked}")
        else:
            console.print(f"[red bold]audit log broken at entry {v.broken}[/]: {v.problem} ({v.entries:,} entries verified before it)")
        return 0 if v.ok else EXIT_ERROR
    from charter.serve.apps import app_id

    s = audit.summarize(reg.store, app_id(args.app) if args.app else None)
    if args.json:
        emit_json(s.to_json())
        return 0
    if not s.requests:
        console.print("no gateway requests recorded")
        return 0
    console.print(f"{s.requests:,} requests, {s.first} .. {s.last}")
    by_app: dict[str, list] = {}
    for r in s.rows:
        by_app.setdefault(r.application, []).append(r)
    uw = max(len("use"), *(len(r.use) for r in s.rows))
    for app, rows in by_app.items():
        console.print(f"[bold]{app}[/]")
        console.print(f"[dim]  {'use':<{uw}}  {'decision':<12} {'requests':>9} {'prompt tok':>11} {'completion tok':>15}[/]")
        for r in rows:
            color = "green" if r.decision == "allowed" else "red"
            console.print(f"  {r.use:<{uw}}  [{color}]{r.decision:<12}[/] {r.requests:>9,} {r.prompt_tokens:>11,} {r.completion_tokens:>15,}")
    console.print("by decision: " + ", ".join(f"{k} {v:,}" for k, v in sorted(s.by_decision.items())))
    if s.unfinished:
        console.print(f"[yellow]{len(s.unfinished)} completion(s) started and never ended[/] (the gateway stopped mid-request): "
                      + ", ".join(s.unfinished[:5]) + (" …" if len(s.unfinished) > 5 else ""))
    return 0
