"""The gateway's parts on their own: limits, keys, the audit chain (and tampering), the engine."""

from __future__ import annotations

import sqlite3

import pytest

from charter.errors import InvalidInput, NotFound
from charter.serve import audit
from charter.serve.apps import SERVING, Application, add_application, app_id
from charter.serve.keys import KeyCache, hash_key, new_key
from charter.serve.limits import Concurrency, RateLimiter, retry_after
from charter.store.base import GENESIS, audit_json
from charter.store.memory import MemoryStore
from tests.serve.conftest import FACES, MODEL, TRANSLATE


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_token_bucket():
    clock = Clock()
    rl = RateLimiter(rate=2, burst=3, clock=clock)
    assert [rl.take("k") for _ in range(3)] == [0, 0, 0]
    assert rl.take("k") == pytest.approx(0.5)
    assert rl.take("other") == 0
    clock.t += 0.5
    assert rl.take("k") == 0 and rl.take("k") > 0
    clock.t += 100
    assert [rl.take("k") for _ in range(3)] == [0, 0, 0] and rl.take("k") > 0  # never more than the burst
    assert RateLimiter(0, 1).take("k") == 0  # rate 0: no limit
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"


def test_concurrency_counter():
    c = Concurrency(2)
    assert c.enter() and c.enter() and not c.enter()
    c.leave()
    assert c.enter()


def test_app_ids_and_registration(reg):
    assert app_id("translate") == "application/translate@1" == app_id("application/translate")
    assert app_id("application/x@2") == "application/x@2"
    with pytest.raises(InvalidInput):
        app_id("model/x@1")
    a, new, d = add_application(reg, "mt", "model/tiny-lm", ["machine-translation"])
    assert new and a.id == "application/mt@1" and a.allow == (SERVING, "machine-translation") and d.allowed
    assert a.derived_from[0].parent == MODEL and a.derived_from[0].relation == "deployed-from" and a.licenses == ("proprietary",)
    assert add_application(reg, "mt", MODEL, ["machine-translation"])[1] is False  # identical: unchanged
    a, _, d = add_application(reg, "gen", MODEL, ["synthetic-data-generation", "text-generation"])
    assert a.allow == ("synthetic-data-generation", "text-generation")  # an activity was declared: nothing implied
    assert Application.of(reg.get(FACES)) == Application(FACES, MODEL, ("inference", "face-recognition", "commercial"))
    with pytest.raises(InvalidInput):
        add_application(reg, "x", FACES, ["inference"])  # deployed from an application
    with pytest.raises(InvalidInput):
        Application.of(reg.get(MODEL))
    with pytest.raises(NotFound):
        add_application(reg, "y", "model/none@1", ["inference"])


def test_keys_are_stored_hashed_and_cached(reg):
    key, rec = new_key(reg, TRANSLATE)
    assert key.startswith(f"ck-{rec.key_id}-") and rec.hash == hash_key(key)
    raw = reg.store.db.execute("SELECT * FROM api_keys").fetchall()
    assert key not in repr(raw)
    cache = KeyCache(reg.store)
    assert cache.lookup(key) == rec and cache.lookup(key + "x") is None
    reg.store.revoke_api_key(rec.key_id)
    assert cache.lookup(key) is None
    with pytest.raises(InvalidInput):
        new_key(reg, MODEL)


@pytest.mark.sqlite_only("tampers with the audit table in SQLite SQL (PostgreSQL refuses raw history edits: tests/store/test_postgres.py)")
def test_audit_verify_names_the_first_broken_entry(reg):
    for i in range(5):
        reg.store.append_audit(audit.record(time=f"t{i}", endpoint="completions", status=200, outcome="allowed", application=TRANSLATE,
                                            model=MODEL, uses=["inference"], prompt_tokens=i, completion_tokens=1))
    v = audit.verify(reg.store)
    assert v.ok and v.entries == 5 and v.head == reg.store.audit_entries()[-1].hash
    db = reg.store.db
    db.execute("DROP TRIGGER audit_append_only_u")  # what someone with write access to the file could do
    db.execute("UPDATE audit SET record=replace(record, '\"prompt_tokens\":2', '\"prompt_tokens\":0') WHERE seq=3")
    v = audit.verify(reg.store)
    assert not v.ok and v.broken == 3 and "altered" in v.problem and v.entries == 2
    # rewriting the entry's own hash too moves the break to the next entry
    from charter.store.base import chain_hash

    rec, prev = db.execute("SELECT record, prev FROM audit WHERE seq=3").fetchone()
    db.execute("UPDATE audit SET hash=? WHERE seq=3", (chain_hash(prev, rec),))
    v = audit.verify(reg.store)
    assert not v.ok and v.broken == 4 and "does not follow" in v.problem


@pytest.mark.sqlite_only("tampers with the audit table in SQLite SQL (PostgreSQL refuses raw history edits: tests/store/test_postgres.py)")
def test_audit_verify_finds_removed_entries(reg):
    for i in range(4):
        reg.store.append_audit({"i": i})
    reg.store.db.execute("DROP TRIGGER audit_append_only_d")
    reg.store.db.execute("DELETE FROM audit WHERE seq=2")
    v = audit.verify(reg.store)
    assert not v.ok and v.broken == 3 and "missing" in v.problem


@pytest.mark.sqlite_only("tampers with the audit table in SQLite SQL (PostgreSQL refuses raw history edits: tests/store/test_postgres.py)")
def test_an_anchor_catches_a_cut_tail_and_a_whole_rewrite(reg):
    """verify alone passed both: each remaining link still fits."""
    from charter.store.base import chain_hash

    for i in range(5):
        reg.store.append_audit({"i": i})
    anchor = audit.head(reg.store)
    assert anchor == (5, reg.store.audit_entries()[-1].hash) and audit.verify(reg.store, anchor).ok
    db = reg.store.db
    db.execute("DROP TRIGGER audit_append_only_d")
    db.execute("DELETE FROM audit WHERE seq>3")  # the tail cut off
    assert audit.verify(reg.store).ok  # the chain alone cannot tell
    v = audit.verify(reg.store, anchor)
    assert not v.ok and "fewer than the 5 anchored" in v.problem
    db.execute("DELETE FROM audit")  # the whole chain rewritten, consistently, and as long as before
    prev = GENESIS
    for i in range(5):
        rec = audit_json({"i": i * 10})
        h = chain_hash(prev, rec)
        db.execute("INSERT INTO audit VALUES (?,?,?,?)", (i + 1, rec, prev, h))
        prev = h
    assert audit.verify(reg.store).ok
    v = audit.verify(reg.store, anchor)
    assert not v.ok and v.broken == 5 and "rewritten" in v.problem
    assert audit.verify(reg.store, audit.head(reg.store)).ok


def test_audit_head_and_verify_expect_in_the_cli(reg, db, capsys):
    from tests.cli.clirun import run

    reg.store.append_audit({"i": 1})
    code, out, _ = run(capsys, "audit", "head", "--registry", db, "--json")
    assert code == 0 and out == {"count": 1, "hash": reg.store.audit_entries()[-1].hash}
    assert run(capsys, "audit", "verify", "--expect", f"1:{out['hash']}", "--registry", db)[0] == 0
    assert run(capsys, "audit", "verify", "--expect", f"2:{out['hash']}", "--registry", db)[0] == 1
    assert run(capsys, "audit", "verify", "--expect", "nonsense", "--registry", db)[0] == 2


def test_audit_on_an_empty_or_memory_store():
    s = MemoryStore()
    assert audit.verify(s).to_json() == {"ok": True, "entries": 0, "head": GENESIS, "broken_seq": None, "problem": ""}
    s.append_audit({"application": "application/a@1", "uses": ["inference", "machine-translation"], "decision": "allowed",
                    "prompt_tokens": 3, "completion_tokens": 4, "time": "t1"})
    s.append_audit({"application": None, "uses": [], "decision": "unauthorized", "time": "t2"})
    sm = audit.summarize(s)
    assert sm.requests == 2 and (sm.first, sm.last) == ("t1", "t2")
    assert [(r.application, r.use, r.decision, r.requests, r.prompt_tokens) for r in sm.rows] == [
        ("-", "-", "unauthorized", 1, 0), ("application/a@1", "inference", "allowed", 1, 3), ("application/a@1", "machine-translation", "allowed", 1, 3)]
    assert audit.summarize(s, "application/a@1").requests == 1
    s._audit[0] = s._audit[0]._replace(record=s._audit[0].record.replace("3", "9"))
    assert audit.verify(s).broken == 1


def test_engine_matches_transformers_greedy(reg, engine):
    import torch

    lm = engine.load(MODEL, engine.assets_for(reg, MODEL))
    ids = engine.encode(lm, "a community garden", 100, 10)
    g = engine.generate(lm, ids, 10, temperature=0)
    with torch.no_grad():
        ref = lm.model.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False, pad_token_id=lm.tok.pad_token_id,
                                eos_token_id=sorted(lm.eos))
    assert g.text == lm.tok.decode(ref[0, len(ids):], skip_special_tokens=True)
    pieces = []
    g2 = engine.generate(lm, ids, 10, temperature=0, emit=pieces.append)
    assert "".join(pieces) == g2.text == g.text and g2.prompt_tokens == len(ids)
    assert engine.generate(lm, ids, 10, temperature=0, cancelled=lambda: True).finish_reason == "cancelled"
    assert engine.generate(lm, ids, 0).completion_tokens == 0


def test_engine_holds_back_a_possible_stop_sequence():
    from charter.serve.engine import _held

    assert _held("hello wor", ["world"]) == 3 and _held("hello", ["xyz"]) == 0 and _held("ab", ["abc", "b"]) == 2


def test_engine_limits(reg, engine):
    from charter.serve.engine import PromptError

    lm = engine.load(MODEL, engine.assets_for(reg, MODEL))
    with pytest.raises(PromptError) as e:
        engine.encode(lm, "the river " * 50, 20, 10)
    assert e.value.code == "context_length_exceeded"
    assert len(engine.encode(lm, "", 20, 10)) == 1  # an empty prompt starts from the start token
    text, templated = engine.chat_prompt(lm, [{"role": "user", "content": "hi"}])
    assert text == "user: hi\nassistant:" and not templated  # the tiny tokenizer has no chat template


@pytest.mark.sqlite_only("tampers with the audit table in SQLite SQL (PostgreSQL refuses raw history edits: tests/store/test_postgres.py)")
def test_sqlite_file_tampering_is_caught_by_the_cli(reg, db, capsys):
    from charter.cli.main import main

    reg.store.append_audit({"i": 1})
    reg.store.append_audit({"i": 2})
    assert main(["audit", "verify", "--registry", db]) == 0
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_append_only_u")
    con.execute("UPDATE audit SET record='{\"i\":3}' WHERE seq=2")
    con.commit()
    con.close()
    capsys.readouterr()
    assert main(["audit", "verify", "--registry", db]) == 1
    assert "broken at entry 2" in capsys.readouterr().out


# --- issue 12: anchors files, the audit writer, bounded buckets ---------------------------------------

@pytest.mark.sqlite_only("tampers with the audit table in SQLite SQL (PostgreSQL refuses raw history edits: tests/store/test_postgres.py)")
def test_an_anchors_file_is_checked_anchor_by_anchor(reg, db, tmp_path, capsys):
    from charter.store.base import chain_hash
    from tests.cli.clirun import run

    witness = tmp_path / "w" / "anchors.jsonl"
    a = audit.Anchorer(db, witness, 60)  # one anchor at start: the empty log
    for i in range(3):
        reg.store.append_audit({"i": i})
    a.anchor()
    a.anchor()  # unchanged head: no new line
    reg.store.append_audit({"i": 3})
    a.stop()  # and one at stop
    anchors = audit.read_anchors(witness)
    assert anchors == [(0, GENESIS), (3, reg.store.audit_entries()[2].hash), (4, reg.store.audit_head()[1])]
    assert audit.verify(reg.store, anchors).ok
    assert run(capsys, "audit", "verify", "--anchors", str(witness), "--registry", db)[0] == 0
    db_ = reg.store.db
    db_.execute("DROP TRIGGER audit_append_only_d")
    db_.execute("DELETE FROM audit")  # rewritten whole, consistently, one entry longer
    prev = GENESIS
    for i in range(5):
        rec = audit_json({"i": -i})
        h = chain_hash(prev, rec)
        db_.execute("INSERT INTO audit VALUES (?,?,?,?)", (i + 1, rec, prev, h))
        prev = h
    assert audit.verify(reg.store).ok
    v = audit.verify(reg.store, anchors)
    assert not v.ok and v.broken == 3 and "rewritten" in v.problem  # the first anchor that no longer holds
    code, out, _ = run(capsys, "audit", "verify", "--anchors", str(witness), "--registry", db, "--json")
    assert code == 1 and out["broken_seq"] == 3
    v = audit.verify(reg.store, [(2, "a" * 64), (2, "b" * 64)])
    assert not v.ok and "disagree" in v.problem
    witness.write_text(witness.read_text() + '{"count": "4", "hash": "x"}\n')
    with pytest.raises(InvalidInput, match=r"anchors.jsonl:4: not an anchor"):
        audit.read_anchors(witness)
    assert run(capsys, "audit", "verify", "--anchors", str(tmp_path / "nope.jsonl"), "--registry", db)[0] == 1


def test_the_default_anchor_file_is_beside_the_registry():
    from pathlib import Path

    assert audit.default_anchor_file("/r/registry.db") == Path("/r/registry.anchors.jsonl")
    assert audit.default_anchor_file("/r/reg") == Path("/r/reg.anchors.jsonl")


def test_the_audit_writer_commits_what_queued_meanwhile_in_one_transaction(reg):
    import threading

    w = audit.AuditWriter(reg.store)
    assert w.store is not reg.store  # SQLite: its own connection, so a commit never holds the requests' one
    gate, real = threading.Event(), w.store._append_audit_many
    w.store._append_audit_many = lambda texts: (gate.wait(10), real(texts))[1]
    futs = [w.submit({"i": i}) for i in range(50)]
    bad = w.submit({"x": float("nan")})  # not JSON: fails alone
    futs += [w.submit({"i": i}) for i in range(50, 60)]
    gate.set()
    got = [f.result(10) for f in futs]
    assert [e.seq for e in got] == list(range(1, 61)) and [e.data["i"] for e in got] == list(range(60))
    with pytest.raises(ValueError):
        bad.result(10)
    assert w.batches <= 2 and w.records == 60  # the first record alone, then everything that queued behind it
    w.close()
    assert w.submit({"late": 1}).exception(1) is not None
    assert audit.verify(reg.store).ok and reg.store.audit_head()[0] == 60


def test_a_failed_commit_fails_its_requests_and_the_writer_goes_on():
    s = MemoryStore()
    w = audit.AuditWriter(s)
    real = s._append_audit_many
    s._append_audit_many = lambda texts: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked"))
    with pytest.raises(sqlite3.OperationalError):
        w.append_sync({"i": 1}, timeout=10)
    s._append_audit_many = real
    assert w.append_sync({"i": 2}, timeout=10).seq == 1
    w.close()


def test_rate_limiter_memory_is_bounded():
    clock = Clock()
    rl = RateLimiter(rate=1, burst=1, clock=clock, max_keys=100)
    for i in range(1000):
        assert rl.take(f"10.0.0.{i}") == 0
    assert len(rl) == 100
    assert rl.take("10.0.0.999") > 0  # recently seen: still remembered (and empty)
    assert rl.take("10.0.0.0") == 0  # forgotten long ago: a fresh bucket
