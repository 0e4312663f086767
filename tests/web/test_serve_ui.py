"""The web view served by `charter serve` under /ui (a real process, as users run it), beside the gateway it does
not slow down; and the gateway's decisions equal the view's: for 100 random (application, uses) requests the
verdict and reasons the gateway answers (error.charter, X-Charter-Uses) are /ui/api/can's for the same asset and uses,
and so `charter can`'s (tests/web/test_api.py compares those two)."""

from __future__ import annotations

import random

import httpx
import pytest

from tests.serve.conftest import FACES, MODEL, PUBLISHER, SUMMARIZE, TRANSLATE, auth, db, serve_process, world  # noqa: F401


@pytest.fixture
def served(db):  # noqa: F811
    from charter.registry import Registry

    reg = Registry.open(db)
    reg.restrict(PUBLISHER, ["summarization"], "the publisher's summaries are under review")  # a restriction the gateway must see
    reg.close()
    with serve_process(db) as (proc, base):
        yield base


def test_the_view_under_ui(served):
    base = served
    page = httpx.get(base + "/ui/", timeout=10)
    assert page.status_code == 200 and 'data-root="/ui"' in page.text and 'src="/ui/static/app.js"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(base + "/ui/static/app.js", timeout=10).status_code == 200
    assert [a["id"] for a in httpx.get(base + "/ui/api/ls", params={"q": "tiny"}, timeout=10).json()["assets"]] == [MODEL]
    assert "/api/can" in httpx.get(base + "/ui/openapi.json", timeout=10).json()["paths"]
    assert "content-security-policy" not in httpx.get(base + "/ui/docs", timeout=10).headers  # FastAPI's page, its CDN script
    r = httpx.post(base + "/v1/completions", json={"model": MODEL, "prompt": "hi"}, timeout=10)  # the gateway, as before
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_gateway_and_view_agree(served, world):  # noqa: F811
    """100 random requests of the three applications, each narrowed to a random set of uses its declared ones cover."""
    base = served
    tax = httpx.get(base + "/ui/api/uses", timeout=10).json()
    parents = {u["id"]: u["parents"] for u in tax}

    def covered(use: str, declared: list[str]) -> bool:
        seen, todo = set(), [use]
        while todo:
            u = todo.pop()
            if u in declared:
                return True
            seen.add(u)
            todo += [p for p in parents.get(u, []) if p not in seen]
        return False

    apps = {}
    for app in (TRANSLATE, FACES, SUMMARIZE):
        declared = httpx.get(base + "/ui/api/show", params={"ref": app}, timeout=10).json()["asset"]["uses"]["allow"]
        apps[app] = [u["id"] for u in tax if covered(u["id"], declared)]
    rng = random.Random(19)
    seen = {"allowed": 0, "denied": 0}
    for _ in range(100):
        app = rng.choice(sorted(apps))
        asked = rng.sample(apps[app], rng.randint(1, min(2, len(apps[app]))))
        r = httpx.post(base + "/v1/completions", headers={**auth(world.keys[app]), "X-Charter-Uses": ",".join(asked)},
                       json={"model": MODEL, "prompt": "hi", "max_tokens": 1}, timeout=60)
        if r.status_code == 200:
            uses = r.headers["X-Charter-Uses"].split(",")
            web = httpx.get(base + "/ui/api/can", params={"ref": app, "uses": uses}, timeout=10).json()
            assert web["allowed"], (app, asked)
            seen["allowed"] += 1
            continue
        assert r.status_code in (403, 451), r.text
        charter = r.json()["error"]["charter"]
        web = httpx.get(base + "/ui/api/can", params={"ref": app, "uses": charter["uses"]}, timeout=10).json()
        assert (web["allowed"], web["reasons"]) == (charter["allowed"], charter["reasons"]), (app, asked)
        first = web["explain"]["reasons"][0]
        assert f"{first['text']} (path: {first['path']})" in r.json()["error"]["message"]  # the same words
        seen["denied"] += 1
    assert seen["allowed"] > 10 and seen["denied"] > 10, seen


def test_the_view_under_ui_in_a_browser(served, browser, tmp_path):
    """Links, API calls and the address bar keep the /ui prefix: search, open the asset, its graph drawn."""
    ctx = browser.new_context(base_url=served, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/ui/")
    page.fill("#q", "tiny")
    page.wait_for_function("() => document.querySelector('#count')?.textContent === '1 assets match.'")
    assert page.url.endswith("/ui/?q=tiny")
    page.click("#results a")
    page.wait_for_url("**/ui/asset?ref=*")
    page.wait_for_function("() => document.querySelector('#graph') && document.querySelector('#graph')?.dataset.nodes > 1")
    assert page.get_attribute("nav a[href='/ui/gateway']", "href") == "/ui/gateway"
    page.click("nav a[href='/ui/gateway']")
    page.wait_for_selector("#verify .badge")
    page.screenshot(path=str(tmp_path / "serve-ui-gateway.png"), full_page=True)
    ctx.close()
    assert not errors, errors


def test_the_view_in_every_worker_and_left_out_on_request(db):  # noqa: F811
    """--workers 2: each worker process builds the app named in the configuration, the view included; --no-ui: none."""
    with serve_process(db, "--workers", "2") as (proc, base):
        for _ in range(4):  # answered by either worker
            assert [a["id"] for a in httpx.get(base + "/ui/api/ls", params={"q": "tiny"}, timeout=10).json()["assets"]] == [MODEL]
    with serve_process(db, "--no-ui") as (proc, base):
        assert httpx.get(base + "/ui/", timeout=10).status_code == 404
        assert httpx.get(base + "/health", timeout=10).status_code == 200
