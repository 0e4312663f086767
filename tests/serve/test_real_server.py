"""A real server (uvicorn on 127.0.0.1, a free port) driven by the official openai client, and by curl."""

from __future__ import annotations

import json
import shutil
import subprocess

import openai
import pytest

from tests.serve.conftest import FACES, MODEL, OTHER, PUBLISHER, SUMMARIZE, TRANSLATE


@pytest.fixture(params=["model thread", "model process"])
def server(request, make_app, reg):
    """The gateway with the model on its thread (the Python API's default), and in a child process as
    `charter serve` runs it (serve/worker.py): every test here holds for both."""
    from charter.serve.app import create_app
    from charter.serve.limits import Limits
    from charter.serve.server import Background

    if request.param == "model thread":
        app = make_app()
    else:
        app = create_app(reg, [MODEL, OTHER], Limits(rate=0), model_process=True, preload=True)
    with Background(app) as srv:
        yield srv


def client(server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_the_openai_client_works_unchanged(server, world, reg):
    c = client(server, world.keys[TRANSLATE])
    assert [m.id for m in c.models.list()] == [MODEL, OTHER]
    assert c.models.retrieve("tiny-lm").id == MODEL
    r = c.completions.create(model=MODEL, prompt="the river", max_tokens=4, temperature=0)
    assert r.object == "text_completion" and r.model == MODEL and r.usage.completion_tokens <= 4
    text = r.choices[0].text
    r = c.chat.completions.create(model="tiny-lm", messages=[{"role": "user", "content": "good morning"}], max_tokens=3, temperature=0)
    assert r.choices[0].message.role == "assistant" and r.choices[0].finish_reason in ("stop", "length")
    chunks = list(c.completions.create(model=MODEL, prompt="the river", max_tokens=4, temperature=0, stream=True,
                                       stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == text and chunks[-1].usage.completion_tokens <= 4
    chunks = list(c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3, temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason in ("stop", "length")
    raw = c.completions.with_raw_response.create(model=MODEL, prompt="x", max_tokens=1, extra_headers={"X-Charter-Uses": "machine-translation"})
    assert raw.headers["x-charter-uses"] == "machine-translation,inference,commercial"
    server.config.app.state.gateway.writer.settled()  # the last completion's end record follows its answer
    recs = [e.data for e in reg.store.audit_entries()]
    assert [r["decision"] for r in recs] == ["allowed"] * 12  # each completion has a start and an end record
    assert [r["phase"] for r in recs] == [None] * 2 + ["start", "end"] * 5


def test_refusals_raise_the_openai_errors(server, world, db):
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(server, world.keys[FACES]).completions.create(model=MODEL, prompt="whose face is this?", max_tokens=4)
    assert e.value.status_code == 403 and e.value.code == "denied_by_charter"
    (reason,) = e.value.body["charter"]["reasons"]
    assert reason["path"] == [FACES, MODEL, PUBLISHER] and reason["use"] == "face-recognition"
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(server, world.keys[SUMMARIZE]).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], extra_headers={"X-Charter-Uses": "surveillance"})
    assert e.value.code == "use_not_declared"
    with pytest.raises(openai.AuthenticationError):
        client(server, "ck-000000000000-wrong").models.list()
    with pytest.raises(openai.NotFoundError):
        client(server, world.keys[TRANSLATE]).completions.create(model="model/nope@1", prompt="x")
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client(server, world.keys[TRANSLATE]).completions.create(model=MODEL, prompt="x", temperature=7)
    assert e.value.param == "temperature"
    from charter.registry import Registry

    other = Registry.open(db)
    try:
        other.withdraw(PUBLISHER, "licence revoked by the publisher")
    finally:
        other.close()
    with pytest.raises(openai.APIStatusError) as e:
        client(server, world.keys[TRANSLATE]).completions.create(model=MODEL, prompt="x", max_tokens=1)
    assert e.value.status_code == 451 and "licence revoked by the publisher" in e.value.message
    assert [r["rule"] for r in e.value.body["charter"]["reasons"]] == ["withdrawn"]


@pytest.mark.skipif(not shutil.which("curl"), reason="no curl")
def test_curl(server, world):
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", server.url + "/v1/completions", "-H", f"Authorization: Bearer {world.keys[TRANSLATE]}",
                          "-H", "Content-Type: application/json", "-d", json.dumps({"model": MODEL, "prompt": "hello", "max_tokens": 2})],
                         capture_output=True, text=True, check=True).stdout
    body, code = out.rsplit("\n", 1)
    assert code == "200" and json.loads(body)["usage"]["completion_tokens"] <= 2
    out = subprocess.run(["curl", "-s", "-N", server.url + "/v1/chat/completions", "-H", f"Authorization: Bearer {world.keys[TRANSLATE]}",
                          "-H", "Content-Type: application/json",
                          "-d", json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True})],
                         capture_output=True, text=True, check=True).stdout
    assert out.rstrip().endswith("data: [DONE]")


def test_a_client_that_goes_away_mid_stream_is_audited(server, world, reg):
    import time

    import httpx

    body = {"model": MODEL, "prompt": "the river", "max_tokens": 200, "temperature": 0, "stream": True}
    with httpx.stream("POST", server.url + "/v1/completions", json=body, headers={"Authorization": f"Bearer {world.keys[TRANSLATE]}"}) as r:
        assert r.status_code == 200
        next(r.iter_lines())  # one event, then hang up
    deadline = time.monotonic() + 30
    while len(reg.store.audit_entries()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    start, rec = [e.data for e in reg.store.audit_entries()]
    assert start["phase"] == "start" and rec["phase"] == "end" and start["request_id"] == rec["request_id"]
    assert rec["stream"] and rec["decision"] == "allowed" and rec["error"] == "the client went away before the end"
    assert rec["disconnected"] and rec["completion_tokens"] < 200


def test_audit_commits_do_not_block_the_event_loop_and_answers_wait_for_them(make_app, world, db):
    """Issue 12: the audit append ran (and fsynced) on the event loop, one transaction per request. Now a writer
    thread commits whatever is queued in one transaction, and each request is answered after its commit. With
    commits slowed to 1 s: /health answers at once, each denial waits for its commit, and 10 concurrent
    denials take at most 3 transactions."""
    import threading
    import time

    import httpx

    from charter.serve.server import Background

    app = make_app()
    w = app.state.gateway.writer
    real, batches = w.store._append_audit_many, []

    def slow(texts):
        batches.append(len(texts))
        time.sleep(1.0)
        return real(texts)

    w.store._append_audit_many = slow
    body = {"model": MODEL, "prompt": "whose face is this?"}
    with Background(app) as srv:
        got: list = []

        def deny():
            t0 = time.monotonic()
            r = httpx.post(srv.url + "/v1/completions", json=body, headers={"Authorization": f"Bearer {world.keys[FACES]}"}, timeout=60)
            got.append((r.status_code, int(r.headers["x-charter-audit-seq"]), time.monotonic() - t0, _count(db)))

        ts = [threading.Thread(target=deny) for _ in range(10)]
        for t in ts:
            t.start()
        time.sleep(0.3)  # the first commit is under way
        t0 = time.monotonic()
        assert httpx.get(srv.url + "/health", timeout=10).status_code == 200
        health_s = time.monotonic() - t0
        for t in ts:
            t.join()
    assert health_s < 0.5, health_s
    assert sorted(s for s, *_ in got) == [403] * 10 and sorted(q for _, q, *_ in got) == list(range(1, 11))
    assert all(took >= 1.0 and n >= seq for _, seq, took, n in got)  # answered only once its record was committed
    assert sum(batches) == 10 and len(batches) <= 3, batches


def _count(db: str) -> int:
    """Audit entries committed, read through a store of its own (either backend)."""
    from charter.store import open_store

    s = open_store(db, create=False)
    try:
        return s.audit_head()[0]
    finally:
        s.close()


def test_a_completion_waits_for_its_start_record_and_not_for_its_end_record(make_app, world, db, monkeypatch):
    """Issue 15 §5: a completion's decision is recorded (start) while the model runs and the answer waits for
    that COMMIT; its end record (tokens, finish reasons) is committed after the answer. With the commit of
    start records slowed to 1 s the answer takes >= 1 s; with end records' commits slowed, it does not wait."""
    import threading
    import time

    import httpx

    from charter.serve.server import Background

    app = make_app()
    w = app.state.gateway.writer
    real, slow_phase, released = w.store._append_audit_many, [None], threading.Event()

    def commit(texts):
        if any(f'"phase":"{slow_phase[0]}"' in t for t in texts):
            (time.sleep(1.0) if slow_phase[0] == "start" else released.wait(30))
        return real(texts)

    w.store._append_audit_many = commit
    body = {"model": MODEL, "prompt": "the river", "max_tokens": 1, "temperature": 0}
    with Background(app) as srv:
        def complete():
            t0 = time.monotonic()
            r = httpx.post(srv.url + "/v1/completions", json=body, headers={"Authorization": f"Bearer {world.keys[TRANSLATE]}"}, timeout=60)
            assert r.status_code == 200, r.text
            return int(r.headers["x-charter-audit-seq"]), time.monotonic() - t0, _count(db)

        complete()  # the model loaded
        w.settled()
        slow_phase[0] = "start"
        seq, took, n = complete()
        assert took >= 1.0 and n >= seq  # answered once the decision's record was committed, not before
        w.settled()
        slow_phase[0] = "end"
        generate = app.state.gateway.engine.generate

        def unhurried(*a, **k):  # the start record committed alone before the end is queued (else one batch holds both)
            time.sleep(0.3)
            return generate(*a, **k)

        monkeypatch.setattr(app.state.gateway.engine, "generate", unhurried)  # the engine is shared by the session's tests
        seq, took, n = complete()
        assert took < 1.3 and n == seq  # answered while its end record's commit was still held (30 s)
        released.set()
        w.settled()
    phases = [(json.loads(t)["phase"], json.loads(t)["request_id"]) for t in _records_text(db)]
    assert [p for p, _ in phases] == ["start", "end"] * 3 and all(a[1] == b[1] for a, b in zip(phases[::2], phases[1::2]))


def _records_text(db: str) -> list[str]:
    from charter.store import open_store

    s = open_store(db, create=False)
    try:
        return [e.record for e in s.audit_entries()]
    finally:
        s.close()


def test_a_model_process_that_dies_fails_its_request_audited_and_the_next_one_is_served(reg, world):
    """kill -9 of the model process mid-stream: the stream ends with the error and its end record says so;
    the gateway stays up and the next request is answered by a new model process."""
    import os
    import signal

    import httpx

    from charter.serve.app import TOKEN_DELAY_ENV, create_app
    from charter.serve.limits import Limits
    from charter.serve.server import Background

    os.environ[TOKEN_DELAY_ENV] = "0.05"
    try:
        app = create_app(reg, [MODEL], Limits(rate=0), model_process=True, preload=True)
    finally:
        del os.environ[TOKEN_DELAY_ENV]
    gw = app.state.gateway
    headers = {"Authorization": f"Bearer {world.keys[TRANSLATE]}"}
    body = {"model": MODEL, "prompt": "the river", "max_tokens": 100, "temperature": 0}
    with Background(app) as srv:
        pid = gw.models.pid
        with httpx.stream("POST", srv.url + "/v1/completions", json={**body, "stream": True}, headers=headers, timeout=60) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")  # generating
            os.kill(pid, signal.SIGKILL)
            rest = [x for x in lines if x]
        assert rest[-1] == "data: [DONE]" and "the model process exited (code -9)" in rest[-2]
        r = httpx.post(srv.url + "/v1/completions", json={**body, "max_tokens": 2}, headers=headers, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 2
        assert gw.models.pid != pid and gw.models.starts == 2
        gw.writer.settled()
    recs = [e.data for e in reg.store.audit_entries()]
    assert [x["phase"] for x in recs] == ["start", "end", "start", "end"] and recs[0]["request_id"] == recs[1]["request_id"]
    assert recs[1]["decision"] == "error" and "the model process exited (code -9)" in recs[1]["error"]
    assert recs[1]["completion_tokens"] < 100 and recs[3]["decision"] == "allowed"


PROMPTS = ["the river", "a community garden", "translate this letter", "the bridge in summer", "good morning", "a friend", "the", "river bridge"]


def test_concurrent_completions_each_get_their_own_answer(server, world, engine, reg):
    """Eight requests at once (the model process answers them in turn, matched by id): each answer is its own
    prompt's, as the model computes it in process."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    want = [engine.complete(reg, MODEL, p, max_tokens=6, temperature=0).text for p in PROMPTS]
    assert len(set(want)) > 1

    def ask(p: str) -> str:
        r = httpx.post(server.url + "/v1/completions", json={"model": MODEL, "prompt": p, "max_tokens": 6, "temperature": 0},
                       headers={"Authorization": f"Bearer {world.keys[TRANSLATE]}"}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["text"]

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, PROMPTS * 2)) == want * 2


def test_several_choices_long_prompts_and_prompts_encoded_off_the_loop(server, world, monkeypatch):
    import httpx

    from charter.serve import app as gateway_app

    h = {"Authorization": f"Bearer {world.keys[TRANSLATE]}"}
    url = server.url + "/v1/completions"
    one = httpx.post(url, json={"model": MODEL, "prompt": "the river", "max_tokens": 5, "temperature": 0}, headers=h, timeout=60).json()
    two = httpx.post(url, json={"model": MODEL, "prompt": ["the river", "good morning"], "max_tokens": 5, "temperature": 0, "n": 2},
                     headers=h, timeout=60).json()
    assert [c["text"] for c in two["choices"]][:2] == [one["choices"][0]["text"]] * 2 and len(two["choices"]) == 4
    other = httpx.post(url, json={"model": MODEL, "prompt": "good morning", "max_tokens": 5, "temperature": 0}, headers=h, timeout=60).json()
    assert [c["text"] for c in two["choices"]][2:] == [other["choices"][0]["text"]] * 2
    assert two["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"] + other["usage"]["prompt_tokens"]  # once per prompt, not per choice
    r = httpx.post(url, json={"model": MODEL, "prompt": "the river " * 300, "max_tokens": 5}, headers=h, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded" and r.json()["error"]["param"] == "prompt"
    monkeypatch.setattr(gateway_app, "_ENCODE_ON_LOOP_CHARS", 3)  # every prompt on the model thread's executor
    again = httpx.post(url, json={"model": MODEL, "prompt": "the river", "max_tokens": 5, "temperature": 0}, headers=h, timeout=60).json()
    assert again["choices"] == one["choices"]


def test_the_start_record_is_queued_before_the_model_process_is_asked_and_the_end_before_the_answer(reg, world, monkeypatch):
    """The order the gateway's latency depends on (bench_gateway.py): the start record's COMMIT runs while
    the child works, so it is queued before the child is asked; the end record is queued before the answer
    is sent, so that its COMMIT is done before the next request's start record comes. A model process that
    cannot be asked at all (here: it raises at once) is a 500 whose end record says so after its start
    record, with no third record, and the next request is served."""
    import httpx

    from charter.serve.app import Answer, create_app
    from charter.serve.limits import Limits
    from charter.serve.server import Background

    app = create_app(reg, [MODEL], Limits(rate=0), model_process=True, preload=True)
    gw = app.state.gateway
    order: list[str] = []
    submit, generate, send = gw.writer.submit, gw.models.generate, Answer.__call__

    def submitted(rec):
        order.append(f"queued {rec.get('phase')}")
        return submit(rec)

    def asked(*a, **k):
        order.append("asked the model")
        return generate(*a, **k)

    async def answered(self, scope, receive, send_):
        async def sent(msg):
            await send_(msg)
            if msg["type"] == "http.response.body":
                order.append("answered")
        return await send(self, scope, receive, sent)

    monkeypatch.setattr(gw.writer, "submit", submitted)
    monkeypatch.setattr(gw.models, "generate", asked)
    monkeypatch.setattr(Answer, "__call__", answered)
    headers = {"Authorization": f"Bearer {world.keys[TRANSLATE]}"}
    body = {"model": MODEL, "prompt": "the river", "max_tokens": 2, "temperature": 0}
    with Background(app) as srv:
        r = httpx.post(srv.url + "/v1/completions", json=body, headers=headers, timeout=60)
        assert r.status_code == 200
        assert order == ["queued start", "asked the model", "queued end", "answered"]

        def cannot(*a, **k):
            raise OSError("cannot start the model process")

        monkeypatch.setattr(gw.models, "generate", cannot)
        r = httpx.post(srv.url + "/v1/completions", json=body, headers=headers, timeout=60)
        assert r.status_code == 500 and r.json()["error"]["code"] == "model_error" and "cannot start" in r.json()["error"]["message"]
        monkeypatch.setattr(gw.models, "generate", generate)
        assert httpx.post(srv.url + "/v1/completions", json=body, headers=headers, timeout=60).status_code == 200
        gw.writer.settled()
    recs = [e.data for e in reg.store.audit_entries()]
    assert [(x["phase"], x["decision"]) for x in recs] == [("start", "allowed"), ("end", "allowed"), ("start", "allowed"), ("end", "error"),
                                                          ("start", "allowed"), ("end", "allowed")]
    assert recs[2]["request_id"] == recs[3]["request_id"] and recs[3]["status"] == 500 and "cannot start" in recs[3]["error"]
    assert gw.concurrency.active == 0
