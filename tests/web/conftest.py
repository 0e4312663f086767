"""The web view's fixtures: the example registry (ecosystem, a volunteer's compute, Llama's upstream) with a
withdrawal, a restriction and a gateway key; the app served by uvicorn on a free port in a thread; Debian's
chromium driven by Playwright (skipped where it is missing, a failure when $CHARTER_CI is set)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from importlib import resources

import pytest

WITHDRAWN = "dataset/forum-posts@1"
RESTRICTED = "dataset/parallel-corpus@1"
GATEWAY_APP = "application/helpdesk-bot@1"
EVALUATED = "model/translator@1"
EXAMPLES = ("ecosystem.yaml", "compute-alice.yaml", "llama-upstream.yaml")


def make_registry(path: str):
    from charter.registry import Registry
    from charter.serve.keys import new_key

    reg = Registry.open(path)
    ex = resources.files("charter") / "resources" / "examples"
    reg.add_files([ex / f for f in EXAMPLES])
    reg.withdraw(WITHDRAWN, "consent revoked by the forum's members")
    reg.restrict(RESTRICTED, ["commercial"], "translators' agreement under review")
    new_key(reg, GATEWAY_APP)
    from charter.core.assets import Property

    reg.attach([Property(EVALUATED, "bbq", "bbq/1.0", "amb_bias_score", 0.031, (0.012, 0.05), 1200, "2026-12-01T00:00:00+00:00"),
                Property(EVALUATED, "winobias", "winobias/1.0", "gap", -0.02, (-0.06, 0.02), 396, "2026-12-01T00:00:00+00:00")])
    return reg


@pytest.fixture(scope="session")
def example_db(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("web") / "registry.db")
    make_registry(db).close()
    return db


@pytest.fixture(scope="session")
def server(example_db):
    """The web view on http://127.0.0.1:PORT, served like `charter ui` (uvicorn), for the session."""
    import uvicorn

    from charter.registry import Registry
    from charter.web.app import create_app

    reg = Registry.open(example_db, create=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(reg), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the web view did not start within 20 s"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)
    reg.close()


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CHARTER_CI"):
            pytest.fail("chromium is not installed: .ci/run installs it with apt-get (the browser tests must run in CI)")
        pytest.skip("chromium is not installed (apt-get install chromium); the browser tests drive Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CHARTER_CI"):
            raise
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server, tmp_path):
    """A fresh page on the server; every console error and uncaught exception fails the test."""
    ctx = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.shots = tmp_path  # screenshots go under the test's tmp dir
    yield pg
    ctx.close()
    assert not errors, errors
