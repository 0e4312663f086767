"""The web view's FastAPI app: pages (static HTML shells and one script that reads /api), the JSON API under /api/
(documented at /docs and /openapi.json), nothing fetched from elsewhere. Read-only: no route writes to the registry
(decisions are made with ``Registry.check``, which records nothing)."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from html import escape
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from charter import __version__
from charter.errors import CharterError, NotFound, NotPermitted
from charter.registry import Registry
from charter.report import views
from charter.web import api, reports, writes
from charter.web.writes import ImpactChanged, WriteAccess

UI_PATH = "/ui"  # where `charter serve` mounts the view
GATEWAY_FACTORY = "charter.web.app:gateway_with_ui"  # charter.serve.server builds the gateway's app through it
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
PAGES = {"/": ("search", "Search assets"), "/asset": ("asset", "Asset"), "/can": ("can", "Can I use this for…?"),
         "/impact": ("impact", "Withdrawal impact"), "/evals": ("evals", "Evaluations"), "/curation": ("curation", "Curation"),
         "/gateway": ("gateway", "Gateway")}
NAV = (("/", "Search"), ("/can", "Can I use this for…?"), ("/impact", "Withdrawals"), ("/evals", "Evaluations"),
       ("/curation", "Curation"), ("/gateway", "Gateway"), ("/docs", "API"))

Ref = Annotated[str, Query(description="an asset: kind/name@version, or kind/name for the latest version")]
Auth = Annotated[str | None, Header(description="Bearer TOKEN: the write token `charter ui --writes` printed")]
Uses = Annotated[list[str], Query(description="use ids (repeat the parameter, or separate them with commas)")]


def shell(page: str, title: str, path: str, root: str = "") -> str:
    """A page: the navigation, an empty main filled by app.js from /api, nothing inline (the CSP forbids it).
    ``root``: the prefix the app is mounted under (``/ui`` in `charter serve`), which app.js puts before every path."""
    nav = "".join(f'<a href="{escape(root + h)}"{" aria-current=page" if h == path else ""}>{escape(t)}</a>' for h, t in NAV)
    root = escape(root)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Charter</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{root}/static/app.css"></head>
<body data-page="{page}" data-root="{root}"><a class="skip" href="#main">Skip to content</a>
<header><span class="brand">Charter</span><nav aria-label="Main">{nav}</nav></header>
<main id="main" tabindex="-1"><h1>{escape(title)}</h1><noscript>This view needs JavaScript; the same data is at <a href="{root}/docs">/api</a>.</noscript></main>
<script src="{root}/static/cytoscape.min.js"></script><script src="{root}/static/app.js"></script></body></html>"""


def create_app(reg: Registry, access: WriteAccess = WriteAccess()) -> FastAPI:
    """The web view over ``reg``: read-only, unless ``access`` holds a write token (charter.web.writes). One lock
    serialises the registry's use (its caches are not shared across threads)."""
    lock = threading.Lock()
    app = FastAPI(title="charter web view", version=__version__, telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Read-only. The objects are those of the CLI's --json (docs/cli-json.md); decisions are made without "
                              "being recorded.")
    app.state.registry = reg
    app.mount("/static", StaticFiles(directory=str(resources.files("charter.web") / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        path = request.scope["path"][len(request.scope.get("root_path", "")):]  # the path below a mount (/ui in `charter serve`)
        if not path.startswith(("/docs", "/redoc")):  # FastAPI's docs page loads its own script from a CDN
            response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(CharterError)
    async def charter_error(request: Request, e: CharterError):
        status = 404 if isinstance(e, NotFound) else 409 if isinstance(e, ImpactChanged) else 400
        if isinstance(e, NotPermitted):
            status = 401 if e.rule == "bad-token" else 403
        return JSONResponse(e.to_json(), status_code=status)

    for path, (page, title) in PAGES.items():  # closures, not default arguments: FastAPI would take those from the query
        app.get(path, include_in_schema=False, response_class=HTMLResponse)(_page(page, title, path))

    @app.get("/api/ls", summary="search assets", description="Assets whose id contains every word of q, filtered like "
             "`charter ls` (denied: the complement of allowed): {total, limit, assets: [the objects of `charter ls --json`], facets: "
             "{kind: {KIND: N}, license: {LICENCE: N}} over every match, null while nothing is asked}.")
    def ls(q: str = "", kind: str | None = None, license: str = "", allowed: Annotated[list[str] | None, Query()] = None,
           state: Annotated[str, Query(pattern="^(|withdrawn|restricted)$")] = "",
           limit: Annotated[int, Query(ge=1, le=1000)] = api.SEARCH_LIMIT,
           denied: Annotated[list[str] | None, Query(description="only assets whose lineage does not permit these uses")] = None) -> dict:
        with lock:
            return api.search(reg, q, kind, license, api._split(allowed or []), state, limit, api._split(denied or []))

    @app.get("/api/show", summary="an asset's charter, what it inherits and its history (`charter show --json`; with limit, the "
             "nearest limit assets up and down and their totals)")
    def show(ref: Ref, limit: Annotated[int | None, Query(ge=0)] = None) -> dict:
        with lock:
            return api.show(reg, ref, limit)

    @app.get("/api/can", summary="may REF be used for USE...? (`charter can --json`, not recorded, plus explain: the CLI's text)")
    def can(ref: Ref, uses: Uses, attest: Annotated[list[str], Query(description="licence conditions attested")] = []) -> dict:  # noqa: B006
        with lock:
            return api.can(reg, ref, uses, attest)

    @app.get("/api/trace", summary="lineage upstream or downstream (`charter trace --json`)")
    def trace(ref: Ref, direction: Annotated[str, Query(pattern="^(up|down)$")] = "up",
              depth: Annotated[int | None, Query(ge=1)] = None) -> dict:
        with lock:
            root = reg.resolve(ref)
            return views.trace(root, direction == "down", depth, reg.trace(root, down=direction == "down", depth=depth))

    @app.get("/api/card", summary="the specification card (`charter card --json`)")
    def card(ref: Ref) -> dict:
        from charter.report.card import card as make

        with lock:
            return {"asset": reg.resolve(ref), "card": make(reg, ref), "path": None, "contributors": reg.contributors(ref)}

    @app.get("/api/uses", summary="the use taxonomy (`charter uses --json`)")
    def uses() -> list:
        return reg.taxonomy.to_json()

    @app.get("/api/verdicts", summary="each use of the taxonomy judged alone for REF, with the rules that block it")
    def verdicts(ref: Ref) -> dict:
        with lock:
            return api.verdicts(reg, ref)

    @app.get("/api/graph", summary="the lineage around REF, bounded (limit nodes; the rest counted per node)")
    def graph(ref: Ref, up: Annotated[int, Query(ge=0, le=1000)] = 2, down: Annotated[int, Query(ge=0, le=1000)] = 2,
              limit: Annotated[int, Query(ge=1, le=api.MAX_LIMIT)] = api.GRAPH_LIMIT,
              uses: Annotated[list[str] | None, Query()] = None) -> dict:
        with lock:
            return api.graph(reg, ref, up, down, limit, uses)

    @app.get("/api/impact", summary="what a withdrawal or restriction of REF reaches (with limit, the nearest limit; total counts "
             "them all), and the applications among it")
    def impact(ref: Ref, limit: Annotated[int | None, Query(ge=0)] = None) -> dict:
        with lock:
            return api.impact(reg, ref, limit)

    @app.get("/api/held", summary="every withdrawn or restricted asset")
    def held() -> list:
        with lock:
            return api.held(reg)

    reports_routes(app, reg, lock)
    write_routes(app, reg, lock, access)

    return app


def reports_routes(app: FastAPI, reg: Registry, lock: threading.Lock) -> None:
    """The Evaluations, Curation and Gateway pages' API (charter.web.reports)."""

    @app.get("/api/evals", summary="evaluated properties per metric and model: latest values with CIs, versions, per-group "
             "breakdown, and earlier evaluations")
    def evals(ref: Annotated[list[str], Query(description="models (repeat the parameter to put them side by side)")]) -> dict:
        with lock:
            return reports.evals(reg, api._split(ref))

    @app.get("/api/evaluated", summary="every asset with evaluated properties: how many properties and benchmarks")
    def evaluated() -> list[dict]:
        with lock:
            return reports.evaluated(reg)

    @app.get("/api/compare", summary="B's properties against A's, paired on the items both scored (`charter eval --compare A B "
             "--json` without charts, plus summary)")
    def compare(a: Ref, b: Ref, allow_mismatch: bool = False) -> dict:
        with lock:
            return reports.compare(reg, a, b, allow_mismatch)

    @app.get("/api/curation", summary="a curated dataset's manifest (its manifest.json) and whether it still has its recorded sha256")
    def curation(ref: Ref) -> dict:
        with lock:
            return reports.curation(reg, ref)

    @app.get("/api/audit/summary", summary="requests and tokens per application, use and decision (`charter audit summary --json`)")
    def audit_summary(app_id: Annotated[str | None, Query(alias="app", description="only this application")] = None) -> dict:
        with lock:
            return reports.summary(reg, app_id)

    @app.get("/api/audit/series", summary="requests and tokens per application, use and decision in each time bucket")
    def audit_series(app_id: Annotated[str | None, Query(alias="app", description="only this application")] = None,
                     bucket: Annotated[str | None, Query(pattern="^(minute|hour|day|month)$")] = None) -> dict:
        with lock:
            return reports.gateway(reg, app_id, bucket)

    @app.get("/api/audit/denials", summary="the latest requests refused by the charter, newest first, with their reasons as text")
    def audit_denials(limit: Annotated[int, Query(ge=1, le=1000)] = reports.DENIALS) -> list:
        with lock:
            return reports.denials(reg, limit)

    @app.get("/api/audit/verify", summary="the audit log's hash chain walked (`charter audit verify --json`)")
    def audit_verify() -> dict:
        with lock:
            return reports.verify(reg)


class Write(BaseModel):
    ref: str = Field(min_length=1, max_length=1000, description="the asset")
    reason: str = Field(min_length=1, max_length=2000, description="why (recorded with the write)")
    deny: list[str] = Field(default_factory=list, max_length=100, description="restrict: the uses to deny")
    affected: int = Field(ge=0, description="how many assets downstream the confirmation showed (the write is refused when that changed)")


def write_routes(app: FastAPI, reg: Registry, lock: threading.Lock, access: WriteAccess) -> None:
    """Withdraw, restrict and lift (charter.web.writes): only with the view's write token, as the registry's actor."""
    @app.get("/api/session", summary="whether this view takes writes, whether the request holds its token, and for whom it acts")
    def session(authorization: Auth = None) -> dict:
        with lock:
            return writes.session(reg, access, authorization)

    @app.get("/api/permits", summary="whether the view's identity may withdraw, restrict or lift REF (what the write will decide)")
    def permits(ref: Ref) -> dict:
        with lock:
            return writes.permits(reg, ref)

    for action, what in (("withdraw", "withdraw REF (`charter withdraw --json`)"), ("restrict", "deny uses to REF (`charter restrict --json`)"),
                         ("lift", "lift REF's withdrawal (`charter withdraw --lift --json`)"),
                         ("lift-restrictions", "lift REF's restrictions (`charter restrict --lift --json`)")):
        app.post(f"/api/{action}", summary=what, description="Needs the write token (401 without it, 403 on a read-only view or when the "
                 "identity may not; both recorded); 409 when the impact changed since it was shown.")(_write(reg, lock, access, action))


def _page(page: str, title: str, path: str):
    def render(request: Request) -> HTMLResponse:
        return HTMLResponse(shell(page, title, path, request.scope.get("root_path", "")))
    return render


def _write(reg: Registry, lock: threading.Lock, access: WriteAccess, action: str):
    def make(body: Write, authorization: Auth = None) -> dict:
        with lock:
            return writes.write(reg, access, authorization, action, body.ref, body.reason, body.deny, body.affected)
    return make


def gateway_with_ui(cfg) -> FastAPI:
    """`charter serve`'s app (``ServeConfig.factory``): the gateway (charter.serve.server.build) with this view mounted
    under UI_PATH, over a registry connection of its own (the view's lock and caches never touch the gateway's).
    The gateway's two generation routes are answered before its routing (GatewayApp), so the mount adds nothing
    to their path; everything else, the view included, goes through FastAPI's routing as before."""
    from pathlib import Path

    from charter.serve.server import build

    app = build(cfg)
    reg = Registry.open(cfg.registry, [Path(t) for t in cfg.taxonomy], create=False, license_files=[Path(x) for x in cfg.licenses])
    mount_ui(app, reg)
    return app


def mount_ui(app: FastAPI, reg: Registry, path: str = UI_PATH) -> None:
    """Serve the view over ``reg`` under ``path`` of ``app``; ``reg`` is closed when ``app`` shuts down."""
    app.mount(path, create_app(reg))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        try:
            async with inner(a) as state:
                yield state
        finally:
            reg.close()

    app.router.lifespan_context = lifespan
