"""The PostgreSQL registry beyond the storage contract (tests/store/test_contract.py runs that on it too):
several processes on one database, the append-only rules enforced by the server itself, the schema's
creation and version, and the registry and CLI on a ``postgresql://`` URL.

Each test gets a fresh database on the session's throwaway server (tests/store/conftest.py); without
PostgreSQL installed they are skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from charter.errors import StoreError
from charter.store import open_store
from charter.store.base import withdraw_owners

ROOT = Path(__file__).resolve().parents[2]
ECOSYSTEM = ROOT / "src" / "charter" / "resources" / "examples" / "ecosystem.yaml"


def _env() -> dict:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(p: subprocess.Popen) -> str:
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return out


def _raw(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def test_open_store_takes_postgres_urls_and_the_environment(pg_url, monkeypatch):
    from charter.store.postgres import PostgresStore

    for url in (pg_url, pg_url.replace("postgresql://", "postgres://", 1)):
        s = open_store(url)
        assert isinstance(s, PostgresStore) and s.count() == 0
        s.close()
    monkeypatch.setenv("CHARTER_REGISTRY", pg_url)
    s = open_store()
    assert isinstance(s, PostgresStore)
    s.close()


def test_no_schema_without_create_and_a_newer_schema_is_refused(pg_url):
    from charter.store.postgres import SCHEMA_VERSION

    with pytest.raises(StoreError, match="no registry") as e:
        open_store(pg_url, create=False)
    assert e.value.hint and "\n" not in e.value.message
    with _raw(pg_url) as con:  # nothing was created
        assert con.execute("SELECT to_regclass('assets')").fetchone()[0] is None
    open_store(pg_url).close()
    open_store(pg_url, create=False).close()
    with _raw(pg_url) as con:
        with pytest.raises(Exception, match="schema version changes only"):
            con.execute("UPDATE charter_schema SET version=99")
        con.execute("ALTER TABLE charter_schema DISABLE TRIGGER USER")  # what a newer charter's registry looks like
        con.execute("UPDATE charter_schema SET version=%s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this charter") as e:
        open_store(pg_url)
    assert e.value.hint.startswith("upgrade charter")


def test_a_server_that_is_not_there_is_a_one_line_error():
    with pytest.raises(StoreError) as e:
        open_store("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "cannot connect" in e.value.message and "\n" not in e.value.message
    assert "secret" not in e.value.message and "secret" not in e.value.where and e.value.hint


def test_processes_opening_a_fresh_database_at_once_create_the_schema_once(pg_url):
    from charter.store.postgres import SCHEMA_LOCK

    hold = _raw(pg_url)
    hold.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))  # both find no schema, then wait for the lock
    code = """
        import sys
        from charter.store import open_store
        s = open_store(sys.argv[1]); print(s.count()); s.close()
    """
    procs = [_python(code, pg_url) for _ in range(3)]
    time.sleep(1.5)
    hold.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
    hold.close()
    assert [_done(p).strip() for p in procs] == ["0", "0", "0"]
    with _raw(pg_url) as con:
        assert con.execute("SELECT count(*) FROM charter_schema").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM generations").fetchone()[0] == 2


def test_audit_appends_from_two_processes_form_one_verifiable_chain(pg_url):
    from charter.serve.audit import verify

    open_store(pg_url).close()
    code = """
        import sys
        from charter.store import open_store
        from charter.store.base import audit_json
        s, tag = open_store(sys.argv[1]), sys.argv[2]
        w = s.audit_writer()
        for i in range(40):
            (w if i % 2 else s)._append_audit_many([audit_json({"w": tag, "i": i, "j": j}) for j in range(5)])
        s.append_audit({"w": tag, "last": True})
        w.close(); s.close()
    """
    procs = [_python(code, pg_url, tag) for tag in "ab"]
    for p in procs:
        _done(p)
    s = open_store(pg_url)
    try:
        got = s.audit_entries()
        assert [e.seq for e in got] == list(range(1, 403))
        v = verify(s, s.audit_head())
        assert v.ok and v.entries == 402 and v.head == got[-1].hash, v
        for tag in "ab":  # each batch landed whole and in order
            mine = [e.data for e in got if e.data["w"] == tag and "i" in e.data]
            assert [(d["i"], d["j"]) for d in mine] == [(i, j) for i in range(40) for j in range(5)]
        datas = [e.data for e in got]
        starts = [k for k, d in enumerate(datas) if d.get("j") == 0]
        assert all([(d["w"], d["i"]) for d in datas[k:k + 5]] == [(datas[k]["w"], datas[k]["i"])] * 5 for k in starts)
        assert s.append_audit({"after": 1}).prev == got[-1].hash
    finally:
        s.close()


HISTORY = {
    "assets": "immutable", "lineage": "immutable", "edges": "written once", "closure": "written once", "downstream": "written once",
    "content": "written once", "terms": "written once", "asset_terms": "written once", "asset_listing": "written once",
    "withdrawal_events": "append-only", "owner_withdrawals": "append-only", "events": "append-only", "restrictions": "append-only",
    "restriction_lifts": "append-only", "properties": "append-only", "audit": "append-only", "signals": "append-only",
    "signatures": "append-only",
}


def test_the_server_refuses_raw_update_delete_and_truncate_of_history(pg_url):
    import psycopg

    from charter.core.assets import Asset, Edge, Property
    from charter.store.base import SignalSnapshot, SignatureRecord

    s = open_store(pg_url)
    s.add([Asset("dataset/d@1", "dataset", "d", "1", data={"files": ["/d/x"], "digests": [{"path": "/d/x", "sha256": "a" * 64, "bytes": 1}]}),
           Asset("model/m@1", "model", "m", "1", derived_from=(Edge("model/m@1", "dataset/d@1", "trained-on"),)),
           Asset("application/a@1", "application", "a", "1")])
    s.withdraw("dataset/d@1", "consent revoked")
    s.lift("dataset/d@1", "mistake")
    s.restrict("model/m@1", ["military"], "x")
    s.lift_restrictions("model/m@1", "y")
    s.attach([Property("model/m@1", "bbq", "bbq/1", "acc", 0.5)])
    withdraw_owners(s, ["alice"], "asked")
    s.append_audit({"n": 1})
    s.add_signals([SignalSnapshot("a.org", "robots", "t", "b" * 64, "x", "test", "t")])
    s.add_signatures([SignatureRecord(0, "model/m@1", "charter", "k1", "sha256:a", "{}")])
    s.add_api_key("application/a@1", "k1", "h" * 64)
    with _raw(pg_url) as con:
        for table, words in HISTORY.items():
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table
            for sql in (f"UPDATE {table} SET {_column(con, table)} = {_column(con, table)}", f"DELETE FROM {table}", f"TRUNCATE {table}"):
                with pytest.raises(psycopg.errors.RaiseException, match=words):
                    con.execute(sql)
        with pytest.raises(psycopg.errors.RaiseException, match="only changes when it is revoked"):
            con.execute("UPDATE api_keys SET application='application/b@1'")
        for sql in ("DELETE FROM api_keys", "TRUNCATE api_keys"):
            with pytest.raises(psycopg.errors.RaiseException, match="revoked, not deleted"):
                con.execute(sql)
        s.revoke_api_key("k1")
        with pytest.raises(psycopg.errors.RaiseException, match="stays revoked"):
            con.execute("UPDATE api_keys SET revoked=NULL")
    # and through the store the same refusal is a one-line StoreError
    with pytest.raises(StoreError, match="append-only"):
        with s._tx() as cur:
            cur.execute("DELETE FROM events")
    assert s.withdrawals() == {} and [e.type for e in s.events(asset="dataset/d@1")] == ["register", "withdraw", "lift"]
    s.close()


def _column(con, table: str) -> str:
    return con.execute("SELECT column_name FROM information_schema.columns WHERE table_name=%s ORDER BY ordinal_position LIMIT 1",
                       (table,)).fetchone()[0]


@pytest.mark.parametrize("listen", [False, True], ids=["read", "listen"])
def test_generations_see_other_connections_and_raw_inserts(pg_url, listen):
    """Without the listener (the default) each call reads: another connection's commit is seen at the next
    call. With it (CHARTER_PG_LISTEN=1), once the notification arrives."""
    from charter.core.assets import Asset

    a, b = open_store(pg_url), open_store(pg_url)
    a.LISTEN = listen
    _moved = _moved_soon if listen else (lambda store, before: store.generations())
    try:
        a.add([Asset("dataset/t@1", "dataset", "t", "1"), Asset("application/app@1", "application", "app", "1")])
        g0 = a.generations()
        b.append_audit({"n": 1})
        assert a.generations() == g0  # audit appends move nothing
        b.withdraw("dataset/t@1", "consent revoked")
        g1 = _moved(a, g0)
        assert g1[0] != g0[0] and g1[1] == g0[1] and "dataset/t@1" in a.withdrawals()
        with _raw(pg_url) as con:  # the triggers are in the database: a raw insert moves it too
            con.execute("INSERT INTO restrictions(asset, deny, reason, time) VALUES ('dataset/t@1', '[\"commercial\"]', 'x', 't')")
        g2 = _moved(a, g1)
        assert g2[0] != g1[0] and a.restrictions()["dataset/t@1"][0].deny == ("commercial",)
        b.add_api_key("application/app@1", "k1", "h" * 64)
        assert _moved(a, g2)[1] != g2[1]
    finally:
        a.close()
        b.close()


def _moved_soon(store, before: tuple, within: float = 1.0) -> tuple:
    """The store's generations once they differ from ``before``: another connection's commit reaches a cached
    value within the notification's delivery, at most the listener's backstop (0.1 s) later."""
    deadline = time.monotonic() + within
    while (got := store.generations()) == before and time.monotonic() < deadline:
        time.sleep(0.001)
    return got


def test_registry_and_cli_on_a_postgres_url(pg_url, capsys):
    from charter.cli.main import main
    from charter.registry import Registry

    secret = pg_url.replace("://charter@", "://charter:sekrit@", 1)  # the test server trusts any password
    assert main(["init", "--registry", secret]) == 0
    out = capsys.readouterr().out
    assert "registry ready at postgresql://charter@" in out and "sekrit" not in out
    assert main(["add", str(ECOSYSTEM), "--registry", pg_url]) == 0
    assert main(["add", str(ECOSYSTEM), "--registry", pg_url]) == 0  # again: nothing new
    assert main(["can", "model/open-lm@1", "research", "--registry", pg_url]) == 0
    assert main(["can", "dataset/web-text-nc@1", "commercial", "--registry", pg_url]) == 3
    assert main(["withdraw", "dataset/public-domain-books@1", "--reason", "takedown", "--registry", pg_url]) == 0
    assert main(["can", "model/open-lm@1", "research", "--registry", pg_url]) == 3
    assert main(["withdraw", "dataset/public-domain-books@1", "--lift", "--reason", "mistake", "--registry", pg_url]) == 0
    assert main(["can", "model/open-lm@1", "research", "--registry", pg_url]) == 0
    capsys.readouterr()
    reg = Registry.open(pg_url, create=False)
    try:
        assert reg.store.count() > 10
        assert reg.can("model/open-lm@1", ["research"]).allowed
        reg.withdraw("dataset/parallel-corpus@1", "takedown")
        assert not reg.can("model/open-lm@1", ["research"]).allowed
        reg.store.flush()  # the grouped decisions
        decisions = [(e.asset, e.data["allowed"]) for e in reg.store.events(type="decision")]
        assert decisions == [("model/open-lm@1", True), ("dataset/web-text-nc@1", False), ("model/open-lm@1", False),
                             ("model/open-lm@1", True), ("model/open-lm@1", True), ("model/open-lm@1", False)]
    finally:
        reg.close()


def test_generations_are_cached_and_kept_current_by_notifications(pg_url, monkeypatch):
    """The gateway asks on every request: answered from memory, and a LISTEN connection's notifications
    (the generation triggers' pg_notify) bring another connection's commit in."""
    from charter.core.assets import Asset
    from charter.store.postgres import _Listener

    monkeypatch.setattr(_Listener, "REFRESH_S", 20.0)  # no backstop re-read in this test: only a notification moves it
    a, b = open_store(pg_url), open_store(pg_url)
    a.LISTEN = True  # CHARTER_PG_LISTEN=1
    try:
        a.add([Asset("dataset/t@1", "dataset", "t", "1"), Asset("application/app@1", "application", "app", "1")])
        g0 = a.generations()
        reads = []
        real = a._one
        monkeypatch.setattr(a, "_one", lambda *q: reads.append(q) or real(*q))
        assert [a.generations() for _ in range(100)] == [g0] * 100 and reads == []  # no round trip at all
        b.withdraw("dataset/t@1", "consent revoked")  # another connection (another process, as far as a knows)
        deadline = time.monotonic() + 5
        while a.generations() == g0 and time.monotonic() < deadline:
            time.sleep(0.001)
        g1 = a.generations()  # (read from the database while the notification waited unread on the socket)
        assert g1[0] == g0[0] + 1 and g1[1] == g0[1], "the notification did not arrive"
        deadline = time.monotonic() + 5
        while a._cache.get() != g1 and time.monotonic() < deadline:  # the listener thread takes it in
            time.sleep(0.001)
        reads.clear()
        assert [a.generations() for _ in range(100)] == [g1] * 100 and reads == []  # from memory again
        assert a.withdrawals_version() == g1[0]
        a.add_api_key("application/app@1", "k1", "h" * 64)  # this process's own write: seen by the very next call
        assert a.generations() == (g1[0], g1[1] + 1)
    finally:
        a.close()
        b.close()


def test_the_registry_answers_the_same_on_postgres_and_sqlite(pg_url, tmp_path):
    """Differential: the same ecosystem, withdrawals and restrictions on both backends; every listing,
    decision and trace the registry builds from the stored terms (terms ids, listings) is the same."""
    from charter.registry import Registry

    regs = [Registry.open(str(tmp_path / "r.db")), Registry.open(pg_url)]
    try:
        for reg in regs:
            reg.add_files([ECOSYSTEM])
        ids = [a.id for a in regs[0].store.find()]
        uses = [["research"], ["commercial"], ["fine-tuning", "machine-translation"], ["inference"], ["surveillance"]]

        def answers(reg):
            out = [reg.summaries(kind, allowed) for kind in (None, "model", "dataset") for allowed in (None, *uses)]
            out += [[(a.id, d.allowed if d else None) for a, d in reg.ls(kind, allowed)] for kind in (None, "application") for allowed in (None, *uses)]
            out.append([(d.asset, d.allowed, [r.rule for r in d.reasons]) for d in reg.can_many([(i, u) for i in ids for u in uses], log=False)])
            out.append([(reg.trace(i, down=True), reg.trace(i, down=False)) for i in ids])
            out.append(reg.store.listing(contains=["LM"], limit=3))
            return out

        before = [answers(reg) for reg in regs]
        assert before[0] == before[1]
        for reg in regs:
            assert reg.index_ids() == len(ids)
            reg.withdraw("dataset/forum-posts@1", "consent revoked")
            reg.restrict("model/open-lm@1", ["commercial"], "licence changed")
        after = [answers(reg) for reg in regs]
        assert after[0] == after[1] and after[0] != before[0]
    finally:
        for reg in regs:
            reg.close()


def test_identities_and_numbered_migrations_on_postgres(pg_url, capsys):
    """Schema 2 (m0002_identities) on PostgreSQL: the actor of each write is the database role the server
    authenticated (no --as), roles and namespaces decide, refusals are recorded, the action log is chained and
    append-only in the server; the migration log names each file by its hash."""
    import psycopg
    from urllib.parse import urlsplit, urlunsplit

    from charter.cli.main import main
    from charter.core.files import resource
    from charter.registry import Registry
    from charter.store import migrations

    def as_role(role: str) -> str:
        u = urlsplit(pg_url)
        return urlunsplit((u.scheme, f"{role}@{u.hostname}:{u.port}" if u.port else f"{role}@{u.hostname}", u.path, u.query, u.fragment))

    eco = str(resource("examples") / "ecosystem.yaml")
    Registry.open(pg_url).close()  # the schema, made by the superuser that owns the database
    with psycopg.connect(pg_url, autocommit=True) as con:
        for role in ("ops", "lena"):
            con.execute(f"CREATE ROLE {role} LOGIN")
            con.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            con.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
    ops, lena = as_role("ops"), as_role("lena")
    assert main(["add", eco, "--registry", ops]) == 0
    assert main(["user", "add", "ops", "--role", "admin", "--registry", ops]) == 0
    assert main(["user", "add", "lena", "--role", "publisher", "--namespace", "model/foundation-*", "--registry", ops]) == 0
    assert main(["restrict", "model/foundation-lm@1", "--deny", "military", "--reason", "policy", "--registry", lena]) == 0
    assert main(["withdraw", "dataset/forum-posts@1", "--reason", "no", "--registry", lena]) == 3
    capsys.readouterr()
    assert main(["withdraw", "dataset/forum-posts@1", "--reason", "no", "--registry", lena, "--as", "ops"]) == 1  # no claiming another role
    assert "authenticated you as lena; you cannot act as ops" in capsys.readouterr().err
    reg = Registry.open(ops)
    try:
        rows = [(r["actor"], r["action"], r["allowed"], r["rule"]) for r in reg.actions()]
        assert rows == [("ops", "add", True, "open-registry"), ("ops", "user", True, "open-registry"), ("ops", "user", True, "admin"),
                        ("lena", "restrict", True, "owner"), ("lena", "withdraw", False, "outside-namespace")]
        assert reg.verify_actions() == (True, 5, "")
        assert reg.store.registered_by("model/foundation-lm@1") == "ops" and "dataset/forum-posts@1" not in reg.withdrawals()
        got = reg.store.db.execute("SELECT version, name, sha256 FROM schema_migrations ORDER BY seq").fetchall()
        assert got == [(m.version, m.name, m.sha256) for m in migrations.available("postgres")]
        for sql in ("UPDATE actions SET actor='mallory'", "DELETE FROM actions", "DELETE FROM schema_migrations"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                reg.store.db.execute(sql)
    finally:
        reg.close()


@pytest.mark.parametrize("values, joined", [
    (["model/a@1", "dataset/b@2", "model/ü@1"], True),  # one newline-joined text
    (["model/a@1", "x\ny", "z"], False),  # a newline inside a value: sent as a list
    (["model/a@1", ""], False),  # an empty string would vanish from the split text
    (["x"], True),
])
def test_any_text_sends_every_value_exactly(pg_url, values, joined):
    from charter.store.postgres import any_text

    q, arg = any_text(values)
    assert isinstance(arg, str) is joined
    with _raw(pg_url) as con:
        got = [v for (v,) in con.execute(f"SELECT unnest({q}::text[])", (arg,)).fetchall()]
    assert got == values
