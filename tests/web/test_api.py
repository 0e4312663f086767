"""The web view's JSON API (in process): the CLI's objects, errors as the CLI's, the bounded graph, the impact of a
withdrawal, read-only; and the consistency of its verdicts and reasons with `charter can --json` on 100 random pairs."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.cli.main import main
from charter.registry import Registry
from charter.web.app import create_app
from tests.web.conftest import ASSETS, GATEWAY_APP, RESTRICTED, WITHDRAWN, make_registry


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("webapi") / "registry.db")
    make_registry(path).close()
    return path


@pytest.fixture(scope="module")
def client(db):
    reg = Registry.open(db, create=False)
    with TestClient(create_app(reg)) as c:
        yield c
    reg.close()


def cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_cli_objects(client, db, capsys):
    import json

    for path, argv in ((f"/api/show?ref={WITHDRAWN}", ["show", WITHDRAWN]),
                       ("/api/trace?ref=model/photo-tagger@1&direction=up", ["trace", "model/photo-tagger@1", "--up"]),
                       ("/api/uses", ["uses"])):
        code, out = cli(capsys, *argv, "--json", "--registry", db)
        assert code == 0
        got = client.get(path).json()
        want = json.loads(out)
        if argv[0] == "show":  # the CLI's own decisions are logged, the web's are not: events other than decisions compared
            assert got["events"] == want["events"]
        assert got == want, path
    code, out = cli(capsys, "ls", "--json", "--registry", db)
    assert client.get("/api/ls?limit=1000").json()["assets"] == json.loads(out)


def test_search_filters(client):
    r = client.get("/api/ls", params={"q": "photo TAGGER"}).json()
    assert [a["id"] for a in r["assets"]] == ["model/photo-tagger@1"] and r["total"] == 1
    assert {a["kind"] for a in client.get("/api/ls?kind=dataset").json()["assets"]} == {"dataset"}
    assert [a["id"] for a in client.get("/api/ls?state=withdrawn").json()["assets"]] == [WITHDRAWN]
    assert [a["id"] for a in client.get("/api/ls?state=restricted").json()["assets"]] == [RESTRICTED]
    assert all(any("apache" in x.lower() for x in a["licenses"]) for a in client.get("/api/ls?license=apache").json()["assets"])
    r = client.get("/api/ls?limit=3").json()
    assert len(r["assets"]) == 3 and r["total"] == ASSETS
    r = client.get("/api/ls", params={"q": "model", "allowed": "commercial"}).json()
    assert r["assets"] and all(a["kind"] == "model" for a in r["assets"])
    # denied: the complement of allowed, among the same matches
    everything = {a["id"] for a in client.get("/api/ls", params={"q": "/", "limit": 1000}).json()["assets"]}
    ok = {a["id"] for a in client.get("/api/ls", params={"allowed": "commercial", "limit": 1000}).json()["assets"]}
    no = client.get("/api/ls", params={"denied": "commercial", "limit": 1000}).json()
    assert {a["id"] for a in no["assets"]} == everything - ok and ok and no["assets"] and no["total"] == len(everything - ok)
    assert WITHDRAWN in {a["id"] for a in no["assets"]} and RESTRICTED in {a["id"] for a in no["assets"]}
    assert client.get("/api/ls", params={"denied": "comercial"}).status_code == 400  # a typo'd use is an error, not "nothing denied"


def test_search_facets_count_every_match(client):
    r = client.get("/api/ls", params={"q": "/", "limit": 2}).json()
    assert len(r["assets"]) == 2 and sum(r["facets"]["kind"].values()) == r["total"] == ASSETS  # counted over all, not the page
    want: dict = {}
    for a in client.get("/api/ls", params={"q": "/", "limit": 1000}).json()["assets"]:
        for x in a["licenses"] or ["(none)"]:
            want[x] = want.get(x, 0) + 1
    got = r["facets"]["license"]
    assert all(got[k] == want[k] for k in got) and list(got.values()) == sorted(got.values(), reverse=True)
    assert client.get("/api/ls").json()["facets"] is None  # nothing asked: no scan of the registry
    assert set(client.get("/api/ls?kind=dataset").json()["facets"]["kind"]) == {"dataset"}


def test_listing_on_the_index_matches_the_default(db):
    """SQLite's listing (ids matched on the id index, LIKE wildcards escaped) equals the store contract's default."""
    from charter.store.base import Store

    store = Registry.open(db, create=False).store
    for kind, words in ((None, ()), (None, ("PHOTO-",)), ("model", ("o", "-")), (None, ("%",)), (None, ("_",)), ("dataset", ())):
        assert store.listing(kind, words) == Store.listing(store, kind, words), (kind, words)
        assert store.listing(kind, words, 2) == Store.listing(store, kind, words, 2), (kind, words)


def test_errors_are_the_cli_errors(client):
    r = client.get("/api/show?ref=model/nope@1")
    assert r.status_code == 404 and r.json()["error"] == "not-found" and r.json()["hint"]
    r = client.get("/api/can?ref=model/photo-tagger@1&uses=comercial")
    assert r.status_code == 400 and r.json()["error"] == "unknown-use"


def test_graph_bounded_and_highlighted(client):
    g = client.get("/api/graph", params={"ref": "model/photo-tagger@1", "up": 1, "down": 0, "uses": ["fine-tuning", "face-recognition"]}).json()
    ids = {n["id"] for n in g["nodes"]}
    assert g["decision"]["allowed"] is False
    for r in g["decision"]["reasons"]:
        assert set(r["path"]) <= ids  # a reason's path is always drawn
    root = next(n for n in g["nodes"] if n["id"] == "model/photo-tagger@1")
    assert root["denied"] is True and root["side"] == "root"
    assert all({e["source"], e["target"]} <= ids for e in g["edges"])
    small = client.get("/api/graph", params={"ref": "model/foundation-lm@1", "up": 5, "down": 5, "limit": 2}).json()
    assert len(small["nodes"]) == 2
    assert sum(n["hidden_up"] + n["hidden_down"] for n in small["nodes"]) > 0  # the rest is collapsed, counted per node
    layers = {n["id"]: n["layer"] for n in client.get("/api/graph", params={"ref": "model/photo-tagger@1", "up": 2, "down": 2}).json()["nodes"]}
    assert layers["model/photo-tagger@1"] == 0 and layers["model/vision-encoder@1"] == -1 and layers["application/photo-search@1"] == 1
    wd = client.get("/api/graph", params={"ref": WITHDRAWN, "up": 0, "down": 3}).json()
    assert next(n for n in wd["nodes"] if n["id"] == WITHDRAWN)["withdrawn"]


def test_impact(client):
    r = client.get(f"/api/impact?ref={WITHDRAWN}").json()
    assert r["withdrawn"]["reason"].startswith("consent revoked")
    assert GATEWAY_APP in {h["id"] for h in r["affected"]}
    assert [a for a in r["applications"] if a["id"] == GATEWAY_APP][0]["keys"] == 1
    r = client.get(f"/api/impact?ref={RESTRICTED}").json()
    assert r["restrictions"][0]["deny"] == ["commercial"] and r["affected"]
    r = client.get(f"/api/impact?ref={WITHDRAWN}&limit=1").json()
    assert r["total"] == 3 and len(r["affected"]) == 1 and r["affected"][0]["depth"] == 1  # the nearest, and how many in all
    s = client.get(f"/api/show?ref={WITHDRAWN}&limit=0").json()
    assert s["downstream"] == [] and s["downstream_total"] == 3 and "upstream_total" in s
    held = client.get("/api/held").json()
    assert {(h["id"], h["state"]) for h in held} == {(WITHDRAWN, "withdrawn"), (RESTRICTED, "restricted")}


def test_read_only(client, db):
    reg = Registry.open(db, create=False)
    before = len(reg.store.events())
    client.get("/api/can?ref=model/photo-tagger@1&uses=fine-tuning")
    client.get("/api/graph?ref=model/photo-tagger@1&uses=commercial")
    reg.store.flush()
    assert len(Registry.open(db, create=False).store.events()) == before  # nothing recorded
    assert client.post("/api/can?ref=model/photo-tagger@1&uses=fine-tuning").status_code == 405
    assert "/api/show" in client.get("/openapi.json").json()["paths"]
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]
    assert 'data-page="search"' in client.get('/?page="><b>x</b>&title=x').text  # the shell takes nothing from the query


def test_verdicts_and_reasons_equal_the_cli(db, capsys, tmp_path):
    """100 random (asset, uses) pairs on the example registry: /api/can equals `charter can --json` (verdict,
    reasons, withdrawn records) and its text equals what `charter can` prints."""
    copy = str(tmp_path / "cli.db")  # the CLI records its decisions: on a copy
    shutil.copy(db, copy)
    reg = Registry.open(db, create=False)
    assets = [a.id for a in reg.store.find()]
    uses = [u for u in reg.taxonomy.order]
    rng = random.Random(19)
    denied = 0
    with TestClient(create_app(reg)) as c:
        for _ in range(100):
            ref = rng.choice(assets)
            asked = rng.sample(uses, rng.randint(1, 3))
            web = c.get("/api/can", params={"ref": ref, "uses": asked}).json()
            explain = web.pop("explain")
            code, out = cli(capsys, "can", ref, *asked, "--json", "--registry", copy)
            import json

            assert web == json.loads(out), (ref, asked)
            assert code == (0 if web["allowed"] else 3)
            denied += not web["allowed"]
            code, text = cli(capsys, "can", ref, *asked, "--registry", copy)
            lines = [explain["verdict"]] + [f"  - {r['text']}\n      path: {r['path']}" for r in explain["reasons"]]
            lines += [f"  - {x['text']}\n      {x['by']}" for x in explain["conditions"]]
            assert text == "\n".join(lines) + "\n", (ref, asked)
    assert 10 < denied < 100  # both verdicts are exercised


def test_the_cards_uses_are_worded_as_the_cli_words_them(db, capsys, tmp_path):
    """/api/verdicts (the asset page's Uses table): each blocking rule's text is a line `charter can ASSET USE`
    prints for that use, and the same rule's path."""
    copy = str(tmp_path / "cli.db")
    shutil.copy(db, copy)
    reg = Registry.open(db, create=False)
    seen = 0
    with TestClient(create_app(reg)) as c:
        for ref in ("model/photo-tagger@1", WITHDRAWN, RESTRICTED):
            for u in c.get("/api/verdicts", params={"ref": ref}).json()["uses"]:
                if not u["why"]:
                    continue
                code, text = cli(capsys, "can", ref, u["use"], "--registry", copy)
                assert code == 3
                for w in u["why"]:
                    assert f"  - {w['text']}\n      path: {' -> '.join(w['path'])}" in text, (ref, u["use"], w)
                    seen += 1
    assert seen >= 10


def test_charter_ui_serves(db, tmp_path):
    """`charter ui --port P --registry DB` serves the pages and the API until stopped."""
    import signal
    import time

    import httpx

    proc, port = start_ui(db)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/ls?q=photo-tagger", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "charter ui did not answer within 60 s"
                time.sleep(0.2)
        assert [a["id"] for a in r.json()["assets"]] == ["model/photo-tagger@1"]
        assert 'data-page="can"' in httpx.get(f"http://127.0.0.1:{port}/can").text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)


def start_ui(db: str, *more: str):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "charter.cli.main", "ui", "--port", str(port), "--registry", db, *more],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    return proc, port


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_charter_ui_writes_prints_its_token_once(tmp_path):
    """`charter ui --writes --as NAME` prints the address with the token; that token writes as NAME, nothing else does."""
    import re
    import signal
    import time

    import httpx

    db = str(tmp_path / "r.db")
    make_registry(db).close()
    proc, port = start_ui(db, "--writes", "--as", "dana")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/session", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "charter ui did not answer within 60 s"
                time.sleep(0.2)
        proc.stderr.readline()
        line = proc.stderr.readline().decode()
        m = re.search(rf"writes as dana: open http://127\.0\.0\.1:{port}/#write-token=([A-Za-z0-9_-]{{40,}}) ", line)
        assert m, line
        url, body = f"http://127.0.0.1:{port}/api/withdraw", {"ref": "model/open-lm@1", "reason": "test", "affected": 2}
        assert httpx.post(url, json=body, timeout=10).status_code == 401
        r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {m.group(1)}"}, timeout=10)
        assert r.status_code == 200 and r.json()["reason"] == "test"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    assert Registry.open(db, create=False).actions("model/open-lm@1")[-1]["actor"] == "dana"


def test_evals_and_compare(client, capsys, db):
    import json

    from tests.web.conftest import COMPARED, EVALUATED

    r = client.get("/api/evals", params={"ref": ",".join(COMPARED)}).json()
    assert r["assets"] == list(COMPARED)
    pct = next(m for m in r["metrics"] if m["metric"] == "pct_stereotype")
    assert pct["better"] == "closest to 0.5"
    assert [(v["asset"], v["value"]) for v in pct["values"]] == [(COMPARED[0], 134 / 200), (COMPARED[1], 20 / 200)]
    assert all(v["version"].startswith("crows-pairs/") and len(v["ci"]) == 2 and v["n"] == 200 for v in pct["values"])
    assert set(pct["values"][0]["groups"]) == {"gender", "race-color"}  # the items' breakdown
    assert client.get("/api/evals", params={"ref": EVALUATED}).json()["metrics"][0]["values"][0]["ci"] == [0.012, 0.05]
    got = client.get("/api/compare", params={"a": COMPARED[0], "b": COMPARED[1]}).json()
    code, out = cli(capsys, "eval", "--compare", *COMPARED, "--json", "--registry", db, "--chart", str(Path(db).parent / "cmp"))
    want = json.loads(out)
    assert code == 0 and want.pop("charts")
    assert {k: v for k, v in got.items() if k != "summary"} == want  # the CLI's object, without the chart files
    assert got["summary"].startswith("1 of 2 tested properties significantly worse (crows-pairs.pct_stereotype)")
    r = client.get("/api/evals")
    assert r.status_code == 422


def test_curation_manifest(client):
    from tests.web.conftest import CURATED, CURATED_SOURCES

    r = client.get("/api/curation", params={"ref": CURATED}).json()
    m = r["manifest"]
    assert r["intact"] and r["problem"] == "" and m["dataset"] == CURATED
    assert m["input"] == m["output"] + sum(m["excluded"].values()) == r["summary"]["input"]
    assert [s["asset"] for s in m["sources"]] == list(CURATED_SOURCES)
    assert all(len(f["sha256"]) == 64 for s in m["sources"] for f in s["files"]) and all(len(o["sha256"]) == 64 for o in m["outputs"])
    r = client.get("/api/curation", params={"ref": WITHDRAWN})
    assert r.status_code == 400 and r.json()["field"] == "ref" and "curate" in r.json()["hint"]


def test_curation_manifest_changed(tmp_path):
    """A manifest edited after registration is reported and not served (only the summary recorded at registration):
    a path in an asset's notes cannot make the view serve another file."""
    from charter.web import reports
    from tests.web.conftest import CURATED

    reg = make_registry(str(tmp_path / "r.db"))
    path = Path(reg.get(CURATED).notes["curation"]["manifest"])
    path.write_text(path.read_text().replace('"output"', '"output" ', 1))
    r = reports.curation(reg, CURATED)
    assert not r["intact"] and "sha256 differs" in r["problem"] and r["manifest"] is None and r["summary"]["output"] > 0
    path.unlink()
    r = reports.curation(reg, CURATED)
    assert not r["intact"] and r["manifest"] is None and "cannot be read" in r["problem"]
    reg.close()


def test_gateway_audit(client, capsys, db):
    import json

    from tests.web.conftest import DENIED_USE

    s = client.get("/api/audit/series").json()
    assert s["bucket"] == "hour" and s["buckets"] == ["2026-12-01T10", "2026-12-01T11", "2026-12-01T12", "2026-12-01T13"]
    every = {x["decision"]: x for x in s["series"] if x["use"] == "*"}
    assert every["allowed"]["requests"] == [5, 3, 4, 0] and every["allowed"]["tokens"] == [210, 126, 168, 0]
    assert every["denied"]["requests"] == [1, 0, 2, 0] and every["withdrawn"]["requests"] == [0, 0, 0, 2]
    assert next(x for x in s["series"] if x["use"] == DENIED_USE)["requests"] == [1, 0, 2, 0]
    assert len(client.get("/api/audit/series?bucket=minute").json()["buckets"]) == 171  # 10:15 to 13:05, empty minutes included
    assert client.get("/api/audit/series?bucket=week").status_code == 422
    for path, argv in (("/api/audit/summary", ["audit", "summary"]), ("/api/audit/verify", ["audit", "verify"])):
        code, out = cli(capsys, *argv, "--json", "--registry", db)
        assert client.get(path).json() == json.loads(out), path
    assert client.get("/api/audit/verify").json()["ok"] is True
    d = client.get("/api/audit/denials?limit=3").json()
    assert [x["decision"] for x in d] == ["withdrawn", "withdrawn", "denied"] and d[0]["seq"] > d[1]["seq"] > d[2]["seq"]
    assert d[0]["reasons"][0]["text"] == f"withdrawn: {WITHDRAWN} (consent revoked by the forum's members)"
    assert d[0]["reasons"][0]["path"].endswith(f"-> {WITHDRAWN}")
    assert d[2]["reasons"][0]["text"].startswith(f"allow-only {DENIED_USE}: {GATEWAY_APP} permits only")


def test_latest_denials_read_backwards_in_pages_equal_one_read(db):
    """Denials are read from the end of the log a page at a time: every page size gives the same list, newest
    first, and no more than asked."""
    from charter.web import reports

    reg = Registry.open(db, create=False)
    whole = reports.denials(reg, limit=1000, page=10**6)
    assert len(whole) >= 5 and [d["seq"] for d in whole] == sorted((d["seq"] for d in whole), reverse=True)
    for page in (1, 2, 3, 7):
        for limit in (1, 3, len(whole), 1000):
            assert reports.denials(reg, limit=limit, page=page) == whole[:limit], (page, limit)


def test_openapi_documents_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/evals", "/api/compare", "/api/curation", "/api/audit/summary", "/api/audit/series", "/api/audit/denials", "/api/audit/verify"):
        assert p in paths and paths[p]["get"]["summary"], p


@pytest.fixture
def writable(tmp_path):
    """A fresh example registry and its view with writes on (token "t0k"), acting as alice."""
    from charter.web.writes import WriteAccess

    reg = make_registry(str(tmp_path / "w.db"))
    reg.actor = "alice"
    with TestClient(create_app(reg, WriteAccess("t0k"))) as c:
        yield reg, c
    reg.close()


TOKEN = {"Authorization": "Bearer t0k"}
OPEN_LM = "model/open-lm@1"


def refusals(reg) -> list[tuple]:
    return [(a["action"], a["asset"], a["rule"]) for a in reg.actions() if not a["allowed"]]


def test_writes_are_off_by_default(client, db):
    r = client.post("/api/withdraw", json={"ref": OPEN_LM, "reason": "x", "affected": 0})
    assert r.status_code == 403 and r.json()["rule"] == "read-only" and "charter ui --writes" in r.json()["hint"]
    assert ("withdraw", OPEN_LM, "read-only") in refusals(Registry.open(db, create=False))  # recorded
    assert client.get("/api/session").json() == {"writes": False, "authenticated": False, "actor": client.app.state.registry.actor, "users": False}


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_writes_need_the_token_and_the_impact_shown(writable):
    reg, c = writable
    n = len(c.get("/api/impact", params={"ref": OPEN_LM}).json()["affected"])
    body = {"ref": OPEN_LM, "reason": "licence dispute", "affected": n}
    assert c.get("/api/session").json()["authenticated"] is False and c.get("/api/session", headers=TOKEN).json()["authenticated"] is True
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "t0k"}):
        r = c.post("/api/withdraw", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["rule"] == "bad-token", headers
    assert refusals(reg).count(("withdraw", OPEN_LM, "bad-token")) == 3
    r = c.post("/api/withdraw", json={**body, "affected": n + 1}, headers=TOKEN)
    assert r.status_code == 409 and r.json()["field"] == "affected" and f"reaches {n} assets" in r.json()["message"]
    assert OPEN_LM not in reg.withdrawals()
    r = c.post("/api/withdraw", json=body, headers=TOKEN)
    assert r.status_code == 200 and r.json()["reason"] == "licence dispute" and len(r.json()["affected"]) == n
    assert c.get("/api/impact", params={"ref": OPEN_LM}).json()["withdrawn"]["reason"] == "licence dispute"
    assert reg.actions(OPEN_LM)[-1] | {"time": None, "seq": None} == {
        "time": None, "seq": None, "actor": "alice", "action": "withdraw", "asset": OPEN_LM, "allowed": True, "rule": "open-registry",
        "detail": {"reason": "licence dispute"}}
    assert c.post("/api/lift", json={**body, "reason": "settled"}, headers=TOKEN).json()["lifted"] is True
    r = c.post("/api/restrict", json={**body, "deny": ["commercial"]}, headers=TOKEN)
    assert r.json()["deny"] == ["commercial"] and not c.get("/api/can", params={"ref": OPEN_LM, "uses": "commercial"}).json()["allowed"]
    assert c.post("/api/lift-restrictions", json={**body, "reason": "ok"}, headers=TOKEN).json()["deny"] == ["commercial"]
    r = c.post("/api/restrict", json={**body, "deny": ["comercial"]}, headers=TOKEN)
    assert r.status_code == 400 and r.json()["error"] == "unknown-use"
    assert c.post("/api/withdraw", json={"ref": OPEN_LM, "reason": "", "affected": n}, headers=TOKEN).status_code == 422


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_writes_within_the_identitys_rights(writable):
    """With users, the view's identity writes what its role allows; a refusal says why (403) and is recorded."""
    reg, c = writable
    reg.add_user("alice", "admin")
    reg.add_user("bob", "publisher", ["model/open-*"])
    reg.actor = "bob"
    p = c.get("/api/permits", params={"ref": WITHDRAWN}).json()
    assert p["actor"] == "bob" and p["permits"]["lift"]["allowed"] is False and p["permits"]["lift"]["code"] == "outside-namespace"
    n = len(c.get("/api/impact", params={"ref": WITHDRAWN}).json()["affected"])
    r = c.post("/api/lift", json={"ref": WITHDRAWN, "reason": "mine now", "affected": n}, headers=TOKEN)
    assert r.status_code == 403 and r.json()["rule"] == "outside-namespace" and "outside bob's namespaces" in r.json()["message"]
    assert ("lift", WITHDRAWN, "outside-namespace") in refusals(reg) and WITHDRAWN in reg.withdrawals()
    assert c.get("/api/permits", params={"ref": OPEN_LM}).json()["permits"]["withdraw"]["allowed"] is True
    n = len(c.get("/api/impact", params={"ref": OPEN_LM}).json()["affected"])
    assert c.post("/api/withdraw", json={"ref": OPEN_LM, "reason": "ours", "affected": n}, headers=TOKEN).status_code == 200
