"""Group commit of audit records (issue 15 §5): the writer thread commits whatever is queued in one
transaction; each request learns its committed seq before its answer; a batch that fails fails every
request in it; a batch writes exactly what one-by-one commits would have written."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

from charter.serve import audit
from charter.store.base import audit_json
from charter.store.sqlite import SQLiteStore
from tests.serve.conftest import FACES, MODEL, TRANSLATE


def _count(db: str) -> int:
    """Audit entries committed, read through a store of its own (either backend)."""
    from charter.store import open_store

    s = open_store(db, create=False)
    try:
        return s.audit_head()[0]
    finally:
        s.close()


def test_concurrent_requests_each_get_a_distinct_committed_seq(make_app, world, db, reg):
    import httpx

    from charter.serve.server import Background

    app = make_app()
    n = 40
    body = {"model": MODEL, "prompt": "whose face is this?"}
    headers = {"Authorization": f"Bearer {world.keys[FACES]}"}
    with Background(app) as srv:
        async def main():
            async with httpx.AsyncClient(base_url=srv.url, timeout=60, limits=httpx.Limits(max_connections=n)) as c:
                async def one():
                    r = await c.post("/v1/completions", json=body, headers=headers)
                    return r.status_code, int(r.headers["x-charter-audit-seq"]), _count(db)  # committed when answered?
                return await asyncio.gather(*(one() for _ in range(n)))

        got = asyncio.run(main())
    w = app.state.gateway.writer
    assert [s for s, *_ in got] == [403] * n
    assert sorted(q for _, q, _ in got) == list(range(1, n + 1))  # one seq each, none shared, none skipped
    assert all(committed >= seq for _, seq, committed in got)  # its record was on disk before its answer
    assert w.records == n and w.batches < n, (w.batches, w.records)  # grouped: fewer transactions than records
    v = audit.verify(reg.store)
    assert v.ok and v.entries == n
    assert {e.data["decision"] for e in audit.entries(reg.store)} == {"denied"}


def _held_writer(store, fail_second: bool):
    """A writer whose first commit waits for ``gate`` (so what comes next queues into one batch) and,
    with ``fail_second``, whose second commit fails as a full disk would."""
    w = audit.AuditWriter(store)
    real, calls, gate = w.store._append_audit_many, [], threading.Event()

    def commit(texts):
        calls.append(len(texts))
        if len(calls) == 1:
            gate.wait(10)
        elif len(calls) == 2 and fail_second:
            raise sqlite3.OperationalError("disk I/O error")
        return real(texts)

    w.store._append_audit_many = commit
    return w, calls, gate


def test_a_batch_that_fails_to_commit_fails_every_request_in_it(reg):
    w, calls, gate = _held_writer(reg.store, fail_second=True)

    async def main():
        first = asyncio.ensure_future(w.append({"i": 0}))
        while not calls:  # the writer holds the first record's commit
            await asyncio.sleep(0.001)
        batch = [asyncio.ensure_future(w.append({"i": i})) for i in range(1, 21)]
        sync = w.submit({"i": 21})  # a thread's future in the same batch
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*batch, return_exceptions=True), sync

    first, batch, sync = asyncio.run(main())
    assert calls == [1, 21]  # everything queued behind the first commit went into one transaction
    assert first.seq == 1
    assert all(isinstance(x, sqlite3.OperationalError) for x in batch)  # none acknowledged
    assert isinstance(sync.exception(10), sqlite3.OperationalError)
    assert reg.store.audit_head() == (1, first.hash)  # and none written
    assert w.append_sync({"i": 22}).seq == 2  # the writer goes on; the chain continues from the last commit
    w.close()
    v = audit.verify(reg.store)
    assert v.ok and v.entries == 2


def test_a_request_whose_batch_fails_is_not_answered_as_decided(make_app, world, reg):
    """Through the gateway: the denial whose record could not be committed is not answered 403 (the
    crash handler answers 500 and records that, once the store takes writes again)."""
    import httpx

    app = make_app()
    w = app.state.gateway.writer
    real, calls = w.store._append_audit_many, []

    def commit(texts):
        calls.append(len(texts))
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real(texts)

    w.store._append_audit_many = commit
    async def go():  # the app re-raises what its crash handler answered (as uvicorn expects): not raised here
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://gateway") as c:
            return await c.post("/v1/completions", json={"model": MODEL, "prompt": "whose face?"}, headers={"Authorization": f"Bearer {world.keys[FACES]}"})

    r = asyncio.run(go())
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    (e,) = list(audit.entries(reg.store))
    assert e.data["decision"] == "error" and r.headers["x-charter-audit-seq"] == "1"


def _records() -> list:
    recs = [audit.record(time=f"2026-12-04T09:00:{i:02d}Z", endpoint="completions", status=403, outcome="denied", application=FACES,
                         key="k1", model=MODEL, uses=("face-recognition", "commercial"), error="denied", code="denied_by_charter",
                         duration_ms=0.1234 * i, client="127.0.0.1", request_id=f"cmpl-{i}") for i in range(30)]
    recs += [{"text": "naïve ☃ \ud800 lone surrogate", "n": 1.5, "nested": {"b": [1, 2], "a": None}}, "{\"already\":\"text\"}",
             audit.suppressed(client="10.0.0.1", count=7, first="a", last="b")]
    return recs


def test_a_batch_writes_exactly_what_one_by_one_commits_write(tmp_path):
    one, many = SQLiteStore(tmp_path / "one.db"), SQLiteStore(tmp_path / "many.db")
    recs = _records()
    for r in recs:
        one._append_audit(r if isinstance(r, str) else audit_json(r))
    w, calls, gate = _held_writer(many, fail_second=False)
    futs = [w.submit(recs[0])]
    while not calls:
        pass
    futs += [w.submit(r) for r in recs[1:]]
    gate.set()
    got = [f.result(10) for f in futs]
    w.close()
    assert len(calls) == 2 and sum(calls) == len(recs)  # the first alone, then one batch
    assert [tuple(e) for e in one.audit_entries()] == [tuple(e) for e in many.audit_entries()] == [tuple(e) for e in got]
    assert audit.verify(many).ok and audit.verify(many).head == audit.verify(one).head
    one.close(), many.close()


def test_the_fast_path_and_the_apps_path_answer_alike(client, world, reg):
    """A JSON body that validates skips FastAPI's routing; other content types and invalid bodies take the
    app's own path: the same statuses, every request audited."""
    import json

    key = {"Authorization": f"Bearer {world.keys[FACES]}"}
    body = json.dumps({"model": MODEL, "prompt": "whose face?"})
    statuses = [client.post("/v1/completions", content=body, headers={**key, "Content-Type": ct}).status_code
                for ct in ("application/json", "application/json; charset=utf-8", "Application/JSON")]
    assert statuses == [403, 403, 403]
    assert client.post("/v1/completions", content=body, headers={**key, "Content-Type": "text/plain"}).status_code == 400
    assert client.post("/v1/completions", content=json.dumps({"model": MODEL}), headers={**key, "Content-Type": "application/json"}).status_code == 422
    r = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
                    headers={"Authorization": f"Bearer {world.keys[TRANSLATE]}"})
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"
    decisions = [e.data["decision"] for e in audit.entries(reg.store)]
    assert decisions == ["denied"] * 3 + ["invalid", "invalid", "allowed", "allowed"]  # the completion's start and end
    assert audit.verify(reg.store).ok


def test_decisions_are_remembered_until_the_policy_moves(make_app, world, db):
    """The gate decides an (application, uses) once per policy generation; a change by another connection
    moves the generation and the next request is decided afresh."""
    from charter.registry import Registry
    from tests.serve.conftest import PUBLISHER

    gate = make_app().state.gateway.gate
    authz = f"Bearer {world.keys[TRANSLATE]}"
    first = gate.decide(gate.admit(authz), MODEL, None)
    again = gate.decide(gate.admit(authz), MODEL, None)
    assert first.allowed and again.decision is first.decision  # remembered, not re-decided
    other = Registry.open(db)
    try:
        other.withdraw(PUBLISHER, "recalled")
    finally:
        other.close()
    after = gate.decide(gate.admit(authz), MODEL, None)
    assert after.status == 451 and after.decision is not first.decision
