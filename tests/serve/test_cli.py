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

from tests.cli.clirun import run
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
    assert code == 0 and out["ok"] and out["entries"] == 2 and out["broken_seq"] is None


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
