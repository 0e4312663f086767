"""charter ui"""

from __future__ import annotations

from charter.cli.main import open_registry
from charter.cli.output import err_console


def register(sub, common) -> None:
    p = sub.add_parser("ui", parents=[common], help="serve the web view (search, asset pages, lineage, can I use this for...?, withdrawal impact); read-only")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_ui)


def cmd_ui(args) -> int:
    import uvicorn

    from charter.web.app import create_app

    reg = open_registry(args, create=False)
    app = create_app(reg)
    err_console.print(f"charter web view on http://{args.host}:{args.port}/ (API: /docs); Ctrl-C stops it")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
