"""charter app add | app key | app keys | app revoke | audit [verify] | serve (a real process, stopped by SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.clirun import run
from tests.pgfixtures import ON_POSTGRES
from tests.serve.conftest import MODEL, PUBLISHER, auth


def test_app_add_key_revoke(db, capsys):
    code, out, _ = run(capsys, "app", "add", "mt", "--model", "model/tiny-lm", "--for", "machine-translation", "commercial", "--registry", db, "--json")
    assert code == 0 and out["application"] == "application/mt@1" and out["model"] == MODEL and out["added"] is True
    assert out["uses"] == ["inference", "machine-translation", "commercial"] and out["decision"]["allowed"] is True
    code, out, _ = run(capsys, "app", "add", "spy", "--model", MODEL, "--for", "surveillance", "--registry", db)
    assert code == 0 and "registered application/spy@1" in out and "refused today" in out and PUBLISHER in out
    code, out, _ = run(capsys, "app", "key", "mt", "--registry", db, "--json")
    assert code == 0 and out["key"].startswith("ck-") and out["application"] == "application/mt@1"
    key = out["key"]
    code, text, err = run(capsys, "app", "key", "application/mt@1", "--registry", db)
    assert code == 0 and text.strip().startswith("ck-") and "shown once" in err
    code, keys, _ = run(capsys, "app", "keys", "mt", "--registry", db, "--json")
    assert [k["key_id"] for k in keys][0] == key.split("-")[1] and len(keys) == 2 and all(k["revoked"] is None for k in keys)
    assert key not in json.dumps(keys)
    code, out, _ = run(capsys, "app", "revoke", keys[0]["key_id"], "--registry", db, "--json")
    assert code == 0 and out["revoked"]
    code, out, _ = run(capsys, "app", "revoke", keys[0]["key_id"], "--registry", db, "--json")
    assert code == 1 and out["error"] == "conflict"
    code, out, _ = run(capsys, "app", "key", "nope", "--registry", db, "--json")
    assert code == 1 and out["error"] == "not-found"
    code, out, _ = run(capsys, "app", "add", "bad", "--model", MODEL, "--for", "face-recogniton", "--registry", db, "--json")
    assert code == 1 and out["error"] == "unknown-use" and "face-recognition" in out["hint"]


def test_audit_summary_and_verify(client, world, db, capsys):
    from tests.serve.conftest import FACES, TRANSLATE

    client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 2, "temperature": 0}, headers=auth(world.keys[TRANSLATE]))
    client.post("/v1/completions", json={"model": MODEL, "prompt": "x"}, headers=auth(world.keys[FACES]))
    code, out, _ = run(capsys, "audit", "--registry", db, "--json")
    assert code == 0 and out["requests"] == 2 and out["by_decision"] == {"allowed": 1, "denied": 1}
    rows = {(r["application"], r["use"], r["decision"]): r for r in out["rows"]}
    assert rows[(TRANSLATE, "machine-translation", "allowed")]["requests"] == 1
    assert rows[(FACES, "face-recognition", "denied")]["completion_tokens"] == 0
    code, out, _ = run(capsys, "audit", "--registry", db, "--json", "--app", "faces")
    assert out["requests"] == 1
    code, text, _ = run(capsys, "audit", "--registry", db)
    assert code == 0 and "application/faces@1" in text and "denied" in text and "allowed 1, denied 1" in text
    code, out, _ = run(capsys, "audit", "verify", "--registry", db, "--json")
    assert code == 0 and out["ok"] and out["entries"] == 3 and out["broken_seq"] is None  # the completion's start and end, the refusal


def test_serve_process_streams_and_shuts_down_gracefully(world, db):
    """`charter serve` as users run it: SIGTERM during a stream lets it finish, audits it, exits 0."""
    from charter.serve.server import free_port
    from tests.serve.conftest import TRANSLATE

    port = free_port()
    exe = Path(sys.executable).parent / "charter"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([str(exe), "serve", MODEL, "--port", str(port), "--registry", db, "--log-level", "warning", "--max-tokens", "200"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert p.poll() is None, p.communicate()[1]
            assert time.monotonic() < deadline, "charter serve did not start"
            time.sleep(0.2)
        body = {"model": MODEL, "prompt": "the river", "max_tokens": 150, "temperature": 0, "stream": True}
        lines = []
        with httpx.stream("POST", base + "/v1/completions", json=body, headers=auth(world.keys[TRANSLATE]), timeout=60) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line and not lines:
                    p.send_signal(signal.SIGTERM)  # mid-stream
                if line:
                    lines.append(line)
        assert lines[-1] == "data: [DONE]"
        assert p.wait(timeout=60) == 0, p.communicate()[1]
        err = p.stderr.read()
        assert "charter gateway stopped" in err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    from charter.registry import Registry

    reg = Registry.open(db)
    try:
        rec = reg.store.audit_entries()[-1].data
        assert rec["decision"] == "allowed" and rec["stream"] and rec["error"] is None and rec["completion_tokens"] > 0
    finally:
        reg.close()


def _child_procs(pid: int) -> dict[int, str]:
    """pid -> command line of the processes whose parent is ``pid`` (from /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text()
            if d.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, ValueError, IndexError):
            pass
    return out


def _children(pid: int) -> list[str]:
    """Command lines of the processes whose parent is ``pid``."""
    return list(_child_procs(pid).values())


@pytest.mark.parametrize("flag", [None, "--model-in-process"])
def test_serve_runs_the_model_in_a_child_process_unless_told_not_to(world, db, flag):
    """`charter serve` runs its models in a child process (serve/worker.py), which ends with the gateway;
    --model-in-process keeps them on a thread of the server. The answers are the same."""
    from tests.serve.conftest import TRANSLATE, serve_process

    body = {"model": MODEL, "prompt": "the river", "max_tokens": 6, "temperature": 0}
    with serve_process(db, *([flag] if flag else [])) as (p, base):
        r = httpx.post(base + "/v1/completions", json=body, headers=auth(world.keys[TRANSLATE]), timeout=60)
        assert r.status_code == 200
        kids = [c for c in _children(p.pid) if "charter.serve.worker" in c]
        assert len(kids) == (0 if flag else 1)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0
        assert not [c for c in _children(p.pid) if "charter.serve.worker" in c]
    from charter.registry import Registry
    from charter.serve.engine import Engine

    reg, e = Registry.open(db), Engine()
    try:
        assert r.json()["choices"][0]["text"] == e.complete(reg, MODEL, "the river", max_tokens=6, temperature=0).text
    finally:
        reg.close()
        e.close()


def _records(db) -> list[dict]:
    from charter.registry import Registry

    reg = Registry.open(db)
    try:
        return [e.data for e in reg.store.audit_entries()]
    finally:
        reg.close()


def test_a_gateway_killed_mid_stream_leaves_the_started_record(world, db):
    """Issue 12: a stream used to be audited only when it ended, so `kill -9` mid-stream left no trace of it.
    Now its start (decision, uses) is durable before its first byte."""
    from charter.serve import audit
    from charter.serve.app import TOKEN_DELAY_ENV
    from charter.store import open_store
    from tests.serve.conftest import TRANSLATE, serve_process

    body = {"model": MODEL, "prompt": "the river", "max_tokens": 100, "temperature": 0, "stream": True}
    with serve_process(db, env={TOKEN_DELAY_ENV: "0.2"}) as (p, base):  # 100 tokens: 20 s at least
        with httpx.stream("POST", base + "/v1/completions", json=body, headers=auth(world.keys[TRANSLATE]), timeout=60) as r:
            assert r.status_code == 200
            seq = int(r.headers["x-charter-audit-seq"])
            first = next(line for line in r.iter_lines() if line)
            p.send_signal(signal.SIGKILL)
            assert p.wait(timeout=30) == -signal.SIGKILL
    (rec,) = _records(db)
    assert seq == 1 and rec["phase"] == "start" and rec["request_id"] == json.loads(first.removeprefix("data: "))["id"]
    assert (rec["decision"], rec["status"], rec["stream"]) == ("allowed", 200, True)
    assert rec["uses"] == ["inference", "machine-translation", "commercial"] and rec["prompt_tokens"] > 0
    store = open_store(db)
    try:
        assert audit.verify(store).ok and audit.summarize(store).unfinished == [rec["request_id"]]
    finally:
        store.close()
    if ON_POSTGRES:
        return  # a PostgreSQL registry has no folder for a default anchor file: anchors only with --anchor-file
    anchors = Path(db).with_name("registry.anchors.jsonl")  # the default anchor file, beside the registry
    assert audit.read_anchors(anchors)[0] == (0, "0" * 64)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the death signal is Linux's prctl")
def test_workers_end_when_their_supervisor_is_sigkilled(world, db):
    """`charter serve --workers 2` killed with SIGKILL: uvicorn's workers used to go on serving the port, orphaned;
    now each is told SIGTERM when its parent ends, shuts down, and the port is free again. Their model processes
    end with them (their input closes)."""
    from tests.serve.conftest import TRANSLATE, serve_process

    body = {"model": MODEL, "prompt": "the river", "max_tokens": 2, "temperature": 0}
    with serve_process(db, "--workers", "2") as (p, base):
        for _ in range(4):  # (each worker starts its model process on its first completion)
            r = httpx.post(base + "/v1/completions", json=body, headers=auth(world.keys[TRANSLATE]), timeout=60)
            assert r.status_code == 200, r.text
        workers = {w for w, cmd in _child_procs(p.pid).items() if "spawn_main" in cmd}  # (uvicorn's: multiprocessing's spawn)
        assert len(workers) == 2, _child_procs(p.pid)
        below = {m for w in workers for m, cmd in _child_procs(w).items() if "charter.serve.worker" in cmd}  # their model processes
        assert below
        p.send_signal(signal.SIGKILL)
        assert p.wait(timeout=30) == -signal.SIGKILL
        deadline = time.monotonic() + 30
        try:
            while any(_alive(x) for x in workers | below) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [x for x in workers | below if _alive(x)], "workers left serving after their supervisor was killed"
            with pytest.raises(httpx.TransportError):
                httpx.get(base + "/health", timeout=2)
        finally:  # (had they stayed: not left behind by this test)
            for x in workers | below:
                if _alive(x):
                    os.kill(x, signal.SIGKILL)


@pytest.mark.sqlite_only("ends by tampering with the registry file with raw sqlite3")
def test_a_real_server_writes_anchors_and_verify_checks_them(world, db, tmp_path, capsys):
    """Issue 12: `charter serve --anchor-file` appends (count, hash, time) outside the registry while it runs and
    once more when it stops; `charter audit verify --anchors` then catches a cut tail that the chain alone passes."""
    from charter.serve import audit
    from tests.serve.conftest import FACES, TRANSLATE, serve_process

    witness = tmp_path / "elsewhere" / "anchors.jsonl"
    with serve_process(db, "--anchor-file", str(witness), "--anchor-every", "0.2") as (p, base):
        for key in (TRANSLATE, FACES, TRANSLATE):
            for _ in range(2):
                httpx.post(base + "/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1}, headers=auth(world.keys[key]), timeout=60)
            time.sleep(0.8)  # several anchor periods
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0, p.communicate()[1]
    lines = [json.loads(x) for x in witness.read_text().splitlines()]
    assert lines[0]["count"] == 0 and set(lines[0]) == {"count", "hash", "time"}
    counts = [a["count"] for a in lines]
    # at start, when the head moved (timing-dependent under load), and at stop: 4 completions (start and end) + 2 refusals
    assert counts == sorted(set(counts)) and counts[0] == 0 and counts[-1] == 10
    recs = _records(db)
    assert len(recs) == 10
    code, out, _ = run(capsys, "audit", "verify", "--anchors", str(witness), "--registry", db, "--json")
    assert code == 0 and out["ok"] and out["entries"] == 10
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_append_only_d")
    con.execute("DELETE FROM audit WHERE seq > 4")  # the tail cut off: every remaining link still fits
    con.commit()
    con.close()
    assert run(capsys, "audit", "verify", "--registry", db)[0] == 0
    code, out, _ = run(capsys, "audit", "verify", "--anchors", str(witness), "--registry", db, "--json")
    first_cut = min(c for c in counts if c > 4)  # the first anchor past the cut (when periodic anchors fell between commits)
    assert code == 1 and out["broken_seq"] == 5 and f"fewer than the {first_cut} anchored" in out["problem"]
    assert audit.read_anchors(witness)[-1][0] == 10
