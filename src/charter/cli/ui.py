"""charter ui"""

from __future__ import annotations

from charter.cli.main import open_registry
from charter.cli.output import err_console, escape


def register(sub, common) -> None:
    p = sub.add_parser("ui", parents=[common], help="serve the web view (search, asset pages, lineage, can I use this for...?, withdrawal impact, "
                                                    "evaluations, curation, gateway); read-only unless --writes")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--writes", action="store_true", help="let the browser holding the token printed at start withdraw, restrict and lift, "
                                                         "as this command's identity (--as), within its rights")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_ui)


def cmd_ui(args) -> int:
    import uvicorn

    from charter.web.app import create_app
    from charter.web.writes import WriteAccess

    reg = open_registry(args, create=False)
    access = WriteAccess.new() if args.writes else WriteAccess()
    app = create_app(reg, access)
    err_console.print(f"charter web view on http://{args.host}:{args.port}/ (API: /docs); Ctrl-C stops it")
    if access.token:
        err_console.print(f"writes as {escape(reg.actor)}: open http://{args.host}:{args.port}/#write-token={access.token} "
                          "(the token is shown once; whoever holds it writes as you)")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
