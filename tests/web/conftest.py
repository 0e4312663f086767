"""The web view's fixtures: the example registry (ecosystem, a volunteer's compute, Llama's upstream) with a
withdrawal, a restriction and a gateway key; the app served by uvicorn on a free port in a thread; Debian's
chromium driven by Playwright (skipped where it is missing, a failure when $CHARTER_CI is set)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from importlib import resources
from pathlib import Path

import pytest

WITHDRAWN = "dataset/forum-posts@1"
RESTRICTED = "dataset/parallel-corpus@1"
GATEWAY_APP = "application/helpdesk-bot@1"
EVALUATED = "model/translator@1"
EXAMPLES = ("ecosystem.yaml", "compute-alice.yaml", "llama-upstream.yaml")
COMPARED = ("model/foundation-lm@1", "model/support-assistant@1")  # evaluated on the same CrowS-Pairs items
CURATED = "dataset/community-mt@1"
CURATED_SOURCES = ("dataset/community-messages@1", "dataset/public-domain-books@2")
ASSETS = 23  # the examples' 19, the synthetic corpus's three sources and their curation
DENIED_USE = "face-recognition"  # the gateway application's requests for it are refused (its lineage denies biometric identification)


def make_registry(path: str):
    from charter.registry import Registry
    from charter.serve.keys import new_key

    reg = Registry.open(path)
    ex = resources.files("charter") / "resources" / "examples"
    reg.add_files([ex / f for f in EXAMPLES])
    gateway_traffic(reg)  # before the withdrawal, which reaches GATEWAY_APP
    reg.withdraw(WITHDRAWN, "consent revoked by the forum's members")
    gateway_traffic(reg, withdrawn=True)
    reg.restrict(RESTRICTED, ["commercial"], "translators' agreement under review")
    new_key(reg, GATEWAY_APP)
    from charter.core.assets import Property

    reg.attach([Property(EVALUATED, "bbq", "bbq/1.0", "amb_bias_score", 0.031, (0.012, 0.05), 1200, "2026-12-01T00:00:00+00:00"),
                Property(EVALUATED, "winobias", "winobias/1.0", "gap", -0.02, (-0.06, 0.02), 396, "2026-12-01T00:00:00+00:00")])
    home = Path(path).parent
    evaluate_pair(reg, home / "runs")
    curate_corpus(reg, home / "data")
    return reg


def crows_rows(stereotyped: set[int], pairs: int = 200) -> list[dict]:
    """Item rows as crows_pairs.score writes them: pair i stereotyped or not, half gender, half race."""
    return [{"id": i, "bias_type": "gender" if i % 2 else "race-color", "stereo_antistereo": "stereo",
             "ll_more": -10.0 if i in stereotyped else -11.0, "ll_less": -11.0 if i in stereotyped else -10.0,
             "likelihood_diff": 1.0, "pct_stereotype": 1.0 if i in stereotyped else 0.0} for i in range(pairs)]


def evaluate_pair(reg, runs: Path) -> None:
    """Run folders as `charter eval` writes them (config.json, items/crows-pairs.jsonl) for COMPARED, the second
    stereotyped on far fewer pairs, and their properties (values and CIs from the benchmark's own aggregate)."""
    from charter.core.assets import Property
    from charter.evals import crows_pairs

    for asset, stereotyped in zip(COMPARED, (set(range(0, 200, 3)) | set(range(1, 200, 2)), set(range(0, 200, 10)))):
        run = runs / asset.split("/")[1].replace("@", "-")
        (run / "items").mkdir(parents=True)
        cfg = {"kind": "eval", "model": asset, "weights_sha256": asset, "benchmarks": {"crows-pairs": crows_pairs.VERSION},
               "limit": None, "batch_size": 16, "uses": ["evaluation"]}
        (run / "config.json").write_text(json.dumps({"hash": "x", "config": cfg}))
        rows = crows_rows(stereotyped)
        (run / "items" / "crows-pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        metrics = crows_pairs.aggregate(rows, n_boot=200)
        reg.attach([Property(asset, "crows-pairs", crows_pairs.VERSION, m, v["value"], tuple(v["ci"]) if v.get("ci") else None, v["n"],
                             run=str(run), detail={"groups": {g: {k: x[k] for k in ("value", "ci", "n") if k in x} if isinstance(x, dict) else {"value": x}
                                                              for g, x in (v.get("groups") or {}).items()}})
                    for m, v in metrics.items() if v["value"] is not None])


def curate_corpus(reg, folder: Path) -> None:
    """The synthetic community corpus (charter.data.synth, 200 messages) curated for machine-translation fine-tuning."""
    from charter.data.curate import CurateConfig, curate
    from charter.data.synth import write_community_corpus

    reg.add_files([write_community_corpus(folder / "corpus", messages=200)])
    curate(reg, CurateConfig(CURATED_SOURCES, ("fine-tuning", "machine-translation", "commercial"), folder / "curated",
                             name="community-mt", version="1"))


def gateway_traffic(reg, withdrawn: bool = False) -> None:
    """Audit records as the gateway writes them for GATEWAY_APP, with the registry's own decisions: over three hours,
    allowed requests with tokens and requests for DENIED_USE refused; once WITHDRAWN is withdrawn, at 13:00, two
    requests refused 451 (the withdrawal reaches the application)."""
    from charter.serve import audit

    model = next(e.parent for e in reg.get(GATEWAY_APP).derived_from if e.relation == "deployed-from")
    uses = reg.get(GATEWAY_APP).allow
    if withdrawn:
        d = reg.check(GATEWAY_APP, uses)
        assert not d.allowed and d.reasons[0].rule == "withdrawn"
        for _ in range(2):
            reg.store.append_audit(audit.record(time="2026-12-01T13:05:00+00:00", endpoint="chat.completions", status=451, outcome="withdrawn",
                                                application=GATEWAY_APP, key="k1", model=model, uses=d.uses, reasons=d.reasons,
                                                error="withdrawn", code="withdrawn"))
        return
    for hour, (ok, refused) in enumerate(((5, 1), (3, 0), (4, 2))):
        t = f"2026-12-01T{10 + hour:02d}:15:00+00:00"
        d = reg.check(GATEWAY_APP, uses)
        assert d.allowed
        for _ in range(ok):
            reg.store.append_audit(audit.record(time=t, endpoint="chat.completions", status=200, outcome="allowed", application=GATEWAY_APP,
                                                key="k1", model=model, uses=d.uses, prompt_tokens=12, completion_tokens=30))
        denied = reg.check(GATEWAY_APP, (DENIED_USE,))
        for _ in range(refused):
            reg.store.append_audit(audit.record(time=t, endpoint="chat.completions", status=403, outcome="denied", application=GATEWAY_APP,
                                                key="k1", model=model, uses=denied.uses, reasons=denied.reasons, error="denied",
                                                code="denied_by_charter"))


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


@pytest.fixture(scope="module")
def browser():
    # per module, not per session: while sync_playwright runs, its event loop is the main thread's running
    # loop, and every later test in the same worker that calls asyncio.run() would fail
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
