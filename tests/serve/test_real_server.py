"""A real server (uvicorn on 127.0.0.1, a free port) driven by the official openai client, and by curl."""

from __future__ import annotations

import json
import shutil
import subprocess

import openai
import pytest

from tests.serve.conftest import FACES, MODEL, OTHER, PUBLISHER, SUMMARIZE, TRANSLATE


@pytest.fixture
def server(make_app):
    from charter.serve.server import Background

    with Background(make_app()) as srv:
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
    decisions = [e.data["decision"] for e in reg.store.audit_entries()]
    assert decisions == ["allowed"] * 7


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
    while not reg.store.audit_entries() and time.monotonic() < deadline:
        time.sleep(0.05)
    rec = reg.store.audit_entries()[-1].data
    assert rec["stream"] and rec["decision"] == "allowed" and rec["error"] == "the client went away before the end"
    assert rec["completion_tokens"] < 200
