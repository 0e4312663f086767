"""The gateway in process (httpx.ASGITransport): every status code, streaming, limits, bad bodies,
audit records, live policy across registry connections."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charter.serve import audit
from tests.serve.conftest import FACES, MODEL, OTHER, OTHER_APP, PUBLISHER, SUMMARIZE, TRANSLATE, Client, auth


def complete(client, key, **body):
    return client.post("/v1/completions", json={"model": MODEL, "prompt": "the river", "max_tokens": 4, "temperature": 0, **body},
                       headers=auth(key))


def last_record(reg) -> dict:
    return reg.store.audit_entries()[-1].data


def sse(text: str) -> list:
    lines = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(x) for x in lines[:-1]]


# --- allowed ----------------------------------------------------------------------------------

def test_models_list_and_retrieve(client, world, reg):
    r = client.get("/v1/models", headers=auth(world.keys[TRANSLATE]))
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == [MODEL, OTHER] and r.json()["object"] == "list"
    assert client.get("/v1/models/model/tiny-lm@1", headers=auth(world.keys[TRANSLATE])).json()["id"] == MODEL
    assert client.get("/v1/models/tiny-lm", headers=auth(world.keys[TRANSLATE])).json()["id"] == MODEL
    r = client.get("/v1/models/nope", headers=auth(world.keys[TRANSLATE]))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert [e.data["endpoint"] for e in reg.store.audit_entries()] == ["models"] * 4


def test_completion_is_served_decided_and_audited(client, world, reg, engine):
    r = complete(client, world.keys[TRANSLATE])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "text_completion" and body["model"] == MODEL and body["id"].startswith("cmpl-")
    (choice,) = body["choices"]
    assert choice["finish_reason"] in ("length", "stop") and isinstance(choice["text"], str)
    u = body["usage"]
    assert u["completion_tokens"] <= 4 and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["prompt_tokens"] > 0
    assert r.headers["x-charter-decision"] == "allowed" and r.headers["x-charter-uses"] == "inference,machine-translation,commercial"
    # greedy through the gateway == the same call in process
    assert choice["text"] == engine.complete(reg, MODEL, "the river", max_tokens=4, temperature=0).text
    rec = last_record(reg)
    assert rec["decision"] == "allowed" and rec["status"] == 200 and rec["application"] == TRANSLATE and rec["model"] == MODEL
    assert rec["uses"] == ["inference", "machine-translation", "commercial"] and rec["reasons"] == []
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (u["prompt_tokens"], u["completion_tokens"])
    assert rec["key"] == reg.store.api_keys(TRANSLATE)[0].key_id and world.keys[TRANSLATE] not in json.dumps(rec)
    # two records: the decision (committed before the answer; its seq in the header) and the end (tokens)
    start, end = [e for e in reg.store.audit_entries()][-2:]
    assert int(r.headers["x-charter-audit-seq"]) == start.seq and (start.data["phase"], rec["phase"]) == ("start", "end")
    assert start.data["request_id"] == rec["request_id"] == body["id"] and start.data["prompt_tokens"] is None


def test_model_names(client, world):
    for name in ("model/tiny-lm@1", "model/tiny-lm", "tiny-lm", "tiny-lm@1"):
        assert complete(client, world.keys[TRANSLATE], model=name).json()["model"] == MODEL


def test_chat_completion(client, world, reg):
    r = client.post("/v1/chat/completions", headers=auth(world.keys[TRANSLATE]), json={
        "model": MODEL, "max_tokens": 3, "temperature": 0,
        "messages": [{"role": "system", "content": "translate"}, {"role": "user", "content": [{"type": "text", "text": "good morning"}]}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"]["role"] == "assistant" and body["usage"]["completion_tokens"] <= 3
    assert last_record(reg)["endpoint"] == "chat.completions"


def test_several_prompts_and_n(client, world):
    r = complete(client, world.keys[TRANSLATE], prompt=["a", "b"], n=2)
    assert [c["index"] for c in r.json()["choices"]] == [0, 1, 2, 3]


def test_sampling_is_seeded(client, world):
    texts = [complete(client, world.keys[TRANSLATE], temperature=1.5, top_p=0.9, seed=7, max_tokens=8).json()["choices"][0]["text"]
             for _ in range(2)]
    assert texts[0] == texts[1]


def test_streaming_completion(client, world, reg):
    plain = complete(client, world.keys[TRANSLATE], max_tokens=6).json()
    r = complete(client, world.keys[TRANSLATE], max_tokens=6, stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    chunks = sse(r.text)
    assert all(c["object"] == "text_completion" and c["id"] == chunks[0]["id"] for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == plain["choices"][0]["text"]
    assert chunks[-2]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    rec = last_record(reg)
    assert rec["stream"] and rec["decision"] == "allowed" and rec["completion_tokens"] == plain["usage"]["completion_tokens"] and rec["error"] is None


def test_streaming_chat(client, world):
    r = client.post("/v1/chat/completions", headers=auth(world.keys[TRANSLATE]), json={
        "model": MODEL, "max_tokens": 4, "temperature": 0, "stream": True, "messages": [{"role": "user", "content": "hello"}]})
    chunks = sse(r.text)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop") and chunks[-1]["choices"][0]["delta"] == {}


def test_stop_sequence(client, world, engine, reg):
    full = engine.complete(reg, MODEL, "the river", max_tokens=12, temperature=0).text
    assert len(full) > 2
    stop = full[1:3]
    r = complete(client, world.keys[TRANSLATE], max_tokens=12, stop=[stop])
    assert r.json()["choices"][0]["text"] == full[:full.find(stop)] and r.json()["choices"][0]["finish_reason"] == "stop"
    chunks = sse(complete(client, world.keys[TRANSLATE], max_tokens=12, stop=stop, stream=True).text)
    assert "".join(c["choices"][0]["text"] for c in chunks) == full[:full.find(stop)]


# --- refused ----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ck-000000000000-nope"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_401_without_a_valid_key(client, reg, headers):
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x"}, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "invalid_api_key" and r.json()["error"]["type"] == "authentication_error"
    assert client.get("/v1/models", headers=headers).status_code == 401
    rec = last_record(reg)
    assert rec["decision"] == "unauthorized" and rec["application"] is None and rec["status"] == 401


def test_401_comes_before_body_errors(client):
    assert client.post("/v1/completions", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 401
    assert client.post("/v1/completions", json={"model": 3}).status_code == 401


def test_403_face_recognition_with_its_chain(client, world, reg):
    r = complete(client, world.keys[FACES])
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["type"] == "permission_denied" and err["code"] == "denied_by_charter"
    assert PUBLISHER in err["message"] and "biometric-identification" in err["message"]
    ch = err["charter"]
    assert ch["allowed"] is False and ch["application"] == FACES and ch["model"] == MODEL
    assert ch["uses"] == ["inference", "face-recognition", "commercial"]
    (reason,) = ch["reasons"]
    assert reason["rule"] == "deny" and reason["use"] == "face-recognition" and reason["entries"] == ["biometric-identification"]
    assert reason["path"] == [FACES, MODEL, PUBLISHER]
    rec = last_record(reg)
    assert rec["decision"] == "denied" and rec["status"] == 403 and rec["reasons"] == ch["reasons"]
    assert rec["prompt_tokens"] is None and rec["completion_tokens"] is None


def test_a_denied_request_needs_no_model(make_app, world, reg):
    from charter.serve.engine import Engine

    app = make_app()
    gw = app.state.gateway
    gw.engine = Engine()  # nothing loaded
    try:
        assert Client(app).post("/v1/completions", json={"model": MODEL, "prompt": "x"}, headers=auth(world.keys[FACES])).status_code == 403
        assert gw.engine.loaded(MODEL) is None
    finally:
        gw.engine.close()


def test_the_uses_header_narrows(client, world, reg):
    key = world.keys[SUMMARIZE]  # declared: inference, summarization, machine-translation
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1}, headers={**auth(key), "X-Charter-Uses": "summarization"})
    assert r.status_code == 200 and r.headers["x-charter-uses"] == "summarization,inference"
    assert last_record(reg)["uses"] == ["summarization", "inference"]
    # a use outside the declaration: 403 naming it
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x"}, headers={**auth(key), "X-Charter-Uses": "summarization, face-recognition"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "use_not_declared" and r.json()["error"]["param"] == "X-Charter-Uses"
    (reason,) = r.json()["error"]["charter"]["reasons"]
    assert reason["rule"] == "not-declared" and reason["use"] == "face-recognition" and reason["path"] == [SUMMARIZE]
    # a descendant of a declared use is a narrowing too; an unknown use is a 400
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1},
                    headers={**auth(world.keys[TRANSLATE]), "X-Charter-Uses": "machine-translation"})
    assert r.status_code == 200
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x"}, headers={**auth(key), "X-Charter-Uses": "sumarization"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_use" and "summarization" in r.json()["error"]["message"]


def test_a_narrowing_that_the_lineage_denies(client, world):
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x"},
                    headers={**auth(world.keys[FACES]), "X-Charter-Uses": "inference"})
    assert r.status_code == 403  # the face-recognition purpose is still declared, so still denied


def test_404_and_model_not_deployed(client, world, reg):
    r = complete(client, world.keys[TRANSLATE], model="model/nope@1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found" and r.json()["error"]["param"] == "model"
    assert last_record(reg)["decision"] == "error"
    r = complete(client, world.keys[TRANSLATE], model=OTHER)
    assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_deployed"
    assert r.json()["error"]["charter"]["reasons"][0]["rule"] == "not-deployed"
    assert complete(client, world.keys[OTHER_APP], model=OTHER).status_code == 200


# --- live policy --------------------------------------------------------------------------------

def test_451_after_a_withdrawal_by_another_connection(client, world, db):
    from charter.registry import Registry

    assert complete(client, world.keys[TRANSLATE]).status_code == 200
    other = Registry.open(db)  # another process's view of the same SQLite registry
    try:
        other.withdraw(PUBLISHER, "the publisher withdrew the weights")
    finally:
        other.close()
    r = complete(client, world.keys[TRANSLATE])
    assert r.status_code == 451
    err = r.json()["error"]
    assert err["code"] == "withdrawn" and "the publisher withdrew the weights" in err["message"]
    (w,) = [x for x in err["charter"]["reasons"] if x["rule"] == "withdrawn"]
    assert w["asset"] == PUBLISHER and w["path"] == [TRANSLATE, MODEL, PUBLISHER]
    assert complete(client, world.keys[FACES]).status_code == 451  # withdrawn wins over denied


def test_451_after_a_withdrawal_by_another_process(client, world, db, reg):
    assert complete(client, world.keys[TRANSLATE]).status_code == 200
    exe = Path(sys.executable).parent / "charter"
    subprocess.run([str(exe), "withdraw", MODEL, "--reason", "recalled", "--registry", db], check=True, capture_output=True)
    r = complete(client, world.keys[TRANSLATE])
    assert r.status_code == 451 and "recalled" in r.json()["error"]["message"]
    assert last_record(reg)["decision"] == "withdrawn"


def test_a_new_restriction_upstream_takes_effect(client, world, db):
    from charter.registry import Registry

    assert complete(client, world.keys[TRANSLATE]).status_code == 200
    other = Registry.open(db)
    try:
        other.restrict(PUBLISHER, ["machine-translation"], "no translation from now on")
    finally:
        other.close()
    assert complete(client, world.keys[TRANSLATE]).status_code == 403
    assert complete(client, world.keys[SUMMARIZE], max_tokens=1).status_code == 403  # declares machine-translation too


def test_keys_added_and_revoked_take_effect(client, world, db, reg):
    from charter.registry import Registry
    from charter.serve.keys import new_key

    key = world.keys[TRANSLATE]
    assert complete(client, key, max_tokens=1).status_code == 200  # now cached
    other = Registry.open(db)
    try:
        fresh, _ = new_key(other, TRANSLATE)
        assert complete(client, fresh, max_tokens=1).status_code == 200
        other.store.revoke_api_key(other.store.api_keys(TRANSLATE)[0].key_id)
    finally:
        other.close()
    assert complete(client, key, max_tokens=1).status_code == 401
    assert complete(client, fresh, max_tokens=1).status_code == 200


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, param", [
    ({"prompt": "x"}, 422, "model"),
    ({"model": MODEL}, 422, "prompt"),
    ({"model": MODEL, "prompt": "x", "max_tokens": "many"}, 422, "max_tokens"),
    ({"model": MODEL, "prompt": "x", "max_tokens": -1}, 422, "max_tokens"),
    ({"model": MODEL, "prompt": "x", "temperature": 9}, 422, "temperature"),
    ({"model": MODEL, "prompt": "x", "top_p": 0}, 422, "top_p"),
    ({"model": MODEL, "prompt": "x", "n": 99}, 422, "n"),
    ({"model": MODEL, "prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, 422, "stop"),
    ({"model": MODEL, "prompt": []}, 422, "prompt"),
    ({"model": MODEL, "prompt": [1, 2]}, 422, "prompt"),
    ({"model": MODEL, "prompt": "x", "stream": "yes please"}, 422, "stream"),
])
def test_malformed_completion_bodies(client, world, reg, body, status, param):
    r = client.post("/v1/completions", json=body, headers=auth(world.keys[TRANSLATE]))
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"].startswith(param)
    rec = last_record(reg)
    assert rec["decision"] == "invalid" and rec["application"] == TRANSLATE and rec["status"] == status


@pytest.mark.parametrize("messages, param", [
    (None, "messages"), ([], "messages"), ([{"role": "wizard", "content": "x"}], "messages.0.role"),
    ([{"content": "x"}], "messages.0.role"), ([{"role": "user", "content": [{"type": "image", "url": "x"}]}], "messages.0.content"),
])
def test_malformed_chat_bodies(client, world, messages, param):
    body = {"model": MODEL} if messages is None else {"model": MODEL, "messages": messages}
    r = client.post("/v1/chat/completions", json=body, headers=auth(world.keys[TRANSLATE]))
    assert r.status_code == 422 and r.json()["error"]["param"] == param


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"", b"\xff\xfe", b'"just a string"', b"null"])
def test_bodies_that_are_not_json_objects(client, world, content):
    r = client.post("/v1/completions", content=content, headers={**auth(world.keys[TRANSLATE]), "Content-Type": "application/json"})
    assert r.status_code in (400, 422) and r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("prompt", ["\ud800", "\x00" * 10, "é" * 50, "", " "])
def test_odd_prompts_never_crash(client, world, reg, prompt):
    body = json.dumps({"model": MODEL, "prompt": prompt, "max_tokens": 2})  # ASCII JSON: a lone surrogate travels as \\ud800
    r = client.post("/v1/completions", content=body, headers={**auth(world.keys[TRANSLATE]), "Content-Type": "application/json"})
    assert r.status_code in (200, 400, 422), r.text
    assert audit.verify(reg.store).ok


def test_unknown_route_and_method(client, world):
    assert client.get("/v2/nothing").status_code == 404
    r = client.get("/v1/completions", headers=auth(world.keys[TRANSLATE]))
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


# --- limits ----------------------------------------------------------------------------------------

def test_size_limits(make_app, world, reg):
    c = Client(make_app(max_tokens=8, max_prompt_chars=50, max_prompt_tokens=20, max_body_bytes=2000))
    key = world.keys[TRANSLATE]
    r = complete(c, key, max_tokens=9)
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"
    r = complete(c, key, prompt="x" * 51)
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    r = complete(c, key, prompt="the river and the bridge " * 2)  # under 50 characters, over 20 tokens
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded" and "tokens" in r.json()["error"]["message"]
    r = complete(c, key, prompt=["x" * 30, "y" * 30])
    assert r.status_code == 400
    r = c.post("/v1/completions", content=json.dumps({"model": MODEL, "prompt": "x" * 3000}), headers={**auth(key), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    async def chunked():  # no Content-Length: counted as it arrives
        for _ in range(30):
            yield b" " * 100

    r = c.post("/v1/completions", content=chunked(), headers={**auth(key), "Content-Type": "application/json"})
    assert r.status_code == 413 and "content-length" not in {k.lower() for k in r.request.headers}
    assert complete(c, key, max_tokens=8).status_code == 200
    recs = [e.data for e in reg.store.audit_entries()]
    assert [r["decision"] for r in recs] == ["invalid"] * 6 + ["allowed"] * 2  # issue 12: the 413s are audited too, with the key's id
    assert [(r["status"], r["key"], r["application"]) for r in recs[4:6]] == [(413, key.split("-")[1], TRANSLATE)] * 2
    assert recs[4]["error"] == "the request body is larger than 2,000 bytes" and key not in json.dumps(recs)


def test_context_window(make_app, world):
    c = Client(make_app(max_tokens=10_000, max_prompt_tokens=10_000))
    r = complete(c, world.keys[TRANSLATE], max_tokens=300)  # the tiny model takes 256 positions
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


def test_rate_limit_per_key(make_app, world, reg):
    c = Client(make_app(rate=0.01, burst=2))
    assert [complete(c, world.keys[FACES]).status_code for _ in range(3)] == [403, 403, 429]
    r = complete(c, world.keys[FACES])
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert complete(c, world.keys[TRANSLATE], max_tokens=1).status_code == 200  # another key has its own bucket
    assert last_record(reg)["decision"] == "allowed" and reg.store.audit_entries()[-3].data["decision"] == "rate-limited"


def test_concurrency_cap(make_app, world, reg):
    app = make_app(max_concurrent=1)
    c = Client(app)
    gw = app.state.gateway
    gw.concurrency.active = 1  # one request already in model work
    r = complete(c, world.keys[TRANSLATE])
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "overloaded"
    assert complete(c, world.keys[FACES]).status_code == 403  # refusals need no slot
    gw.concurrency.active = 0
    assert complete(c, world.keys[TRANSLATE]).status_code == 200 and gw.concurrency.active == 0
    complete(c, world.keys[TRANSLATE], stream=True)
    assert gw.concurrency.active == 0  # the stream gave its slot back
    recs = [e.data for e in reg.store.audit_entries()]
    assert [(r["decision"], r["phase"]) for r in recs] == [("overloaded", None), ("denied", None), ("allowed", "start"), ("allowed", "end"),
                                                            ("allowed", "start"), ("allowed", "end")]  # a completion: two records


def test_a_failing_model_is_a_500_that_is_audited(make_app, world, reg, monkeypatch):
    app = make_app()
    gw = app.state.gateway
    complete(Client(app), world.keys[TRANSLATE], max_tokens=1)

    def boom(*a, **k):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(gw.engine, "generate", boom)
    r = complete(Client(app), world.keys[TRANSLATE])
    assert r.status_code == 500 and r.json()["error"]["code"] == "model_error" and gw.concurrency.active == 0
    start, end = [e for e in reg.store.audit_entries()][-2:]  # the decision, then the failure as its end record
    assert (start.data["phase"], start.data["decision"], end.data["phase"], end.data["decision"]) == ("start", "allowed", "end", "error")
    assert end.data["status"] == 500 and end.data["code"] == "model_error" and "out of memory" in end.data["error"]
    assert start.data["request_id"] == end.data["request_id"] and int(r.headers["x-charter-audit-seq"]) == start.seq
    chunks = complete(Client(app), world.keys[TRANSLATE], stream=True).text
    assert "model_error" in chunks and chunks.rstrip().endswith("data: [DONE]")
    assert last_record(reg)["decision"] == "error" and gw.concurrency.active == 0


# --- the audit log ----------------------------------------------------------------------------------

def test_every_request_is_audited_and_the_chain_verifies(client, world, reg):
    complete(client, world.keys[TRANSLATE])
    complete(client, world.keys[FACES])
    client.post("/v1/completions", json={"model": MODEL, "prompt": "x"})
    client.post("/v1/completions", json={"model": MODEL}, headers=auth(world.keys[TRANSLATE]))
    complete(client, world.keys[TRANSLATE], model="nope")
    decisions = [e.data["decision"] for e in reg.store.audit_entries()]
    assert decisions == ["allowed", "allowed", "denied", "unauthorized", "invalid", "error"]  # a completion's start and end
    v = audit.verify(reg.store)
    assert v.ok and v.entries == 6 and v.head == reg.store.audit_entries()[-1].hash
    s = audit.summarize(reg.store)
    assert s.requests == 5 and s.by_decision == {"allowed": 1, "denied": 1, "unauthorized": 1, "invalid": 1, "error": 1}
    row = {(r.application, r.use, r.decision): r for r in s.rows}[(TRANSLATE, "machine-translation", "allowed")]
    assert row.requests == 1 and row.completion_tokens == reg.store.audit_entries()[1].data["completion_tokens"] > 0


def test_narrowing_cannot_revive_an_application_whose_declared_uses_are_denied(client, world, db):
    """Issue 12: SUMMARIZE declares machine-translation; once that is restricted upstream, narrowing the request
    to summarization alone used to pass. The application's own declaration must still hold."""
    from charter.registry import Registry

    key = world.keys[SUMMARIZE]
    narrowed = {**auth(key), "X-Charter-Uses": "summarization"}
    assert client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1}, headers=narrowed).status_code == 200
    other = Registry.open(db)
    try:
        other.restrict(PUBLISHER, ["machine-translation"], "no translation from now on")
    finally:
        other.close()
    r = client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1}, headers=narrowed)
    assert r.status_code == 403 and r.json()["error"]["code"] == "denied_by_charter"
    reasons = r.json()["error"]["charter"]["reasons"]
    assert any(x["use"] == "machine-translation" and x["source"] == "restriction" for x in reasons)


# --- issue 12: streams, keyless requests, the audit writer -------------------------------------------

def test_a_stream_is_recorded_when_it_starts_and_when_it_ends(client, world, reg):
    r = complete(client, world.keys[TRANSLATE], max_tokens=5, stream=True, stream_options={"include_usage": True})
    chunks = sse(r.text)
    start, end = [e for e in reg.store.audit_entries()]
    assert int(r.headers["x-charter-audit-seq"]) == start.seq == 1  # the start, committed before the first byte
    start, end = start.data, end.data
    assert (start["phase"], end["phase"]) == ("start", "end") and start["request_id"] == end["request_id"] == chunks[0]["id"]
    assert start["decision"] == end["decision"] == "allowed" and start["uses"] == ["inference", "machine-translation", "commercial"]
    assert start["prompt_tokens"] == chunks[-1]["usage"]["prompt_tokens"] and start["completion_tokens"] is None
    assert end["completion_tokens"] == chunks[-1]["usage"]["completion_tokens"] == 5 and end["prompt_tokens"] is None
    assert end["finish_reasons"] == ["length"] and end["disconnected"] is False and end["error"] is None
    s = audit.summarize(reg.store)  # one request, its tokens from both records
    assert s.requests == 1 and s.unfinished == []
    row = {(x.application, x.use): x for x in s.rows}[(TRANSLATE, "machine-translation")]
    assert (row.requests, row.prompt_tokens, row.completion_tokens) == (1, start["prompt_tokens"], 5)


def test_keyless_requests_are_rate_limited_per_address_and_their_429s_counted_in_aggregate(make_app, world, reg):
    """Issue 12: a flood of bad keys wrote one audit record each, without limit. Now each address has a bucket:
    beyond it, 429s that are counted and written as one record per address and period."""
    app = make_app(keyless_rate=0.001, keyless_burst=3)
    c, gw = Client(app), app.state.gateway
    bad = {"Authorization": "Bearer ck-000000000000-guessed"}
    statuses = [c.post("/v1/completions", json={"model": MODEL, "prompt": "x"}, headers=bad).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    r = c.get("/v1/models")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded" and int(r.headers["retry-after"]) >= 1
    assert "x-charter-audit-seq" not in r.headers
    assert complete(c, world.keys[FACES]).status_code == 403  # a valid key is not held back by the address's keyless bucket
    assert [e.data["decision"] for e in reg.store.audit_entries()] == ["unauthorized"] * 3 + ["denied"]
    for f in gw.flush_suppressed(force=True):
        f.result(10)
    agg = last_record(reg)
    assert (agg["status"], agg["decision"], agg["count"], agg["client"], agg["key"]) == (429, "rate-limited", 3, "127.0.0.1", None)
    text = json.dumps([e.data for e in reg.store.audit_entries()])
    assert "guessed" not in text and "Bearer" not in text  # never the key or the Authorization header
    s = audit.summarize(reg.store)
    assert s.requests == 7 and s.by_decision == {"unauthorized": 3, "denied": 1, "rate-limited": 3}


def test_keyless_aggregates_are_bounded(make_app):
    from charter.serve.app import SUPPRESSED_CLIENTS

    gw = make_app().state.gateway
    for i in range(SUPPRESSED_CLIENTS + 50):
        for _ in range(2):
            gw.suppress(f"10.0.{i // 256}.{i % 256}", "t")
    assert len(gw.suppressed) == SUPPRESSED_CLIENTS + 1 and gw.suppressed[None][0] == 100  # the rest share one record
    recs = [f.result(10) for f in gw.flush_suppressed(force=True)]
    assert len(recs) == SUPPRESSED_CLIENTS + 1 and sum(e.data["count"] for e in recs) == 2 * (SUPPRESSED_CLIENTS + 50)
    assert gw.suppressed == {} and gw.flush_suppressed(force=True) == []


def test_malformed_and_refused_requests_never_record_the_key(client, world, reg):
    key = world.keys[TRANSLATE]
    assert client.post("/v1/completions", content=b"{not json", headers={**auth(key), "Content-Type": "application/json"}).status_code == 400
    assert client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "temperature": 9}, headers=auth(key)).status_code == 422
    assert client.post("/v1/completions", json={"model": MODEL, "prompt": "x"}, headers={"Authorization": "Bearer " + key + "x"}).status_code == 401
    recs = [e.data for e in reg.store.audit_entries()]
    assert [(r["status"], r["key"]) for r in recs] == [(400, key.split("-")[1]), (422, key.split("-")[1]), (401, None)]
    assert key.split("-", 2)[2] not in json.dumps(recs)


def test_a_licence_condition_is_attested_by_the_application_and_audited(make_app, world, reg):
    """A model under a licence that permits commercial use only under a condition (Stability's revenue
    threshold): the application that attests it is served, and its audit records say what it rests on;
    one that does not is refused with rule `condition`."""
    from charter.models.registry import add_folder
    from charter.serve.apps import add_application
    from charter.serve.keys import new_key

    sd = "model/sd-lm@1"
    add_folder(reg, world.tiny, sd, ("stabilityai-community",))
    add_application(reg, "application/posters@1", sd, ["text-generation", "commercial"], attest=["stability-under-1m-revenue"])
    add_application(reg, "application/unattested@1", sd, ["text-generation", "commercial"])
    with pytest.raises(Exception, match="is not a licence condition"):
        add_application(reg, "application/typo@1", sd, ["text-generation"], attest=["stability-under-1m"])
    client = Client(make_app(models=(sd,)))
    body = {"model": sd, "prompt": "x", "max_tokens": 2, "temperature": 0}
    r = client.post("/v1/completions", json=body, headers=auth(new_key(reg, "application/posters@1")[0]))
    assert r.status_code == 200
    rec = last_record(reg)
    assert rec["decision"] == "allowed" and [c["condition"] for c in rec["conditions"]] == ["stability-under-1m-revenue"]
    assert rec["conditions"][0]["path"] == ["application/posters@1", sd]
    r = client.post("/v1/completions", json=body, headers=auth(new_key(reg, "application/unattested@1")[0]))
    assert r.status_code == 403
    rec = last_record(reg)
    assert [(x["rule"], x["use"]) for x in rec["reasons"]] == [("condition", "commercial")] and "conditions" not in rec


def test_a_repeated_refusal_is_the_same_bytes_until_the_decision_changes(client, world, db):
    """The gateway encodes a refusal's body once per decision (a flood of the same denial costs a lookup);
    a restriction upstream makes a new decision, whose body names it."""
    from charter.registry import Registry

    gw = client.app.state.gateway
    first, second = complete(client, world.keys[FACES]), complete(client, world.keys[FACES])
    assert first.status_code == second.status_code == 403 and first.content == second.content and len(gw._bodies) == 1
    other = Registry.open(db)
    try:
        other.restrict(PUBLISHER, ["face-recognition"], "no faces, ever")
    finally:
        other.close()
    third = complete(client, world.keys[FACES])
    assert third.status_code == 403 and third.content != first.content and "no faces, ever" in third.text
    assert len(gw._bodies) == 2


def test_a_data_contributor_withdraws_with_a_consent_token(client, world, db, reg):
    """POST /v1/consent/withdraw: the consent token as the bearer acts for its own owner only; audited, and
    recorded in the registry's action log with the owner as actor."""
    from charter.registry import Registry

    other = Registry.open(db)
    try:
        token = other.consent_token("member-007")
    finally:
        other.close()
    body = {"owner": "member-007", "reason": "please remove my messages"}
    assert client.post("/v1/consent/withdraw", json=body).status_code == 401
    r = client.post("/v1/consent/withdraw", json={**body, "owner": "member-008"}, headers=auth(token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "not-permitted" and "member-007 only" in r.json()["error"]["message"]
    r = client.post("/v1/consent/withdraw", json=body, headers=auth(token))
    assert r.status_code == 200 and r.json()["withdrawn"] is True, r.text
    assert set(reg.store.owner_withdrawals()) == {"member-007"}
    assert [e.data["status"] for e in audit.entries(reg.store)][-3:] == [401, 403, 200]
    acts = reg.actions()
    role = getattr(reg.store, "authenticated_actor", None)  # PostgreSQL: the server's role acts, the token decides (Gateway.withdraw_records)
    assert [(a["actor"], a["allowed"], a["rule"]) for a in acts if a["action"] == "withdraw-records"] == [
        (role or "consent:member-008", False, "bad-token"), (role or "consent:member-007", True, "token")]
