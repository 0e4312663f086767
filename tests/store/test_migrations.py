"""Numbered migrations (store/migrations): today's release's registries upgrade without loss, several
processes opening an old registry at once migrate it once, the log records what ran, newer is refused."""

from __future__ import annotations

import hashlib
import multiprocessing
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from charter.errors import StoreError
from charter.registry import Registry
from charter.serve import audit
from charter.store import migrations
from charter.store.sqlite import SCHEMA_VERSION, SQLiteStore

pytestmark = pytest.mark.sqlite_only("SQLite's numbered migrations on SQLite registry files (PostgreSQL's: tests/store/test_postgres.py)")

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = ("assets", "events", "withdrawal_events", "restrictions", "restriction_lifts", "owner_withdrawals", "properties", "audit",
          "api_keys", "signatures", "signals", "asset_listing", "asset_terms", "content", "closure", "edges")


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


def test_a_registry_of_todays_release_upgrades_without_loss(tmp_path):
    """fixtures/registry-schema9.db: written by the release before numbered migrations (make_schema9.py)."""
    db = tmp_path / "registry.db"
    shutil.copy(FIXTURES / "registry-schema9.db", db)
    before = counts(db)
    assert before == {"assets": 23, "events": 39, "withdrawal_events": 3, "restrictions": 2, "restriction_lifts": 1, "owner_withdrawals": 1,
                      "properties": 1, "audit": 3, "api_keys": 1, "signatures": 5, "signals": 5, "asset_listing": 23, "asset_terms": 23,
                      "content": 4, "closure": before["closure"], "edges": before["edges"]}
    store = SQLiteStore(db)
    assert store.migrated == list(range(10, SCHEMA_VERSION + 1))
    reg = Registry(store)
    try:
        after = counts(db)
        assert {t: after[t] for t in TABLES if t != "events"} == {t: before[t] for t in TABLES if t != "events"}
        assert after["events"] >= before["events"]  # a migration may log that it ran; nothing is lost
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert set(reg.withdrawals()) == {"dataset/forum-posts@1"}
        d = reg.check("application/helpdesk-bot@1", ["inference"])
        assert not d.allowed and "withdrawn" in {r.rule for r in d.reasons}
        assert len(store.signatures()) == 5 and audit.verify(store).ok
        assert len(store.api_keys("application/fixture-app@1")) == 1
    finally:
        reg.close()


def _open(path: str, at: float, q) -> None:
    time.sleep(max(0.0, at - time.time()))
    try:
        s = SQLiteStore(Path(path))
        q.put(("ok", s.migrated))
        s.close()
    except Exception as e:  # reported to the test, which fails on it
        q.put(("error", f"{type(e).__name__}: {e}"))


def test_processes_opening_an_old_registry_at_once_migrate_it_once(tmp_path):
    db = tmp_path / "registry.db"
    shutil.copy(FIXTURES / "registry-schema6.db", db)
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    at = time.time() + 3.0  # after every process has started (spawn imports charter: ~1-2 s)
    ps = [ctx.Process(target=_open, args=(str(db), at, q)) for _ in range(4)]
    for p in ps:
        p.start()
    got = [q.get(timeout=120) for _ in ps]
    for p in ps:
        p.join(60)
    assert all(kind == "ok" for kind, _ in got), got
    applied = sorted((v for _, v in got), key=len)
    assert applied[:-1] == [[], [], []] and applied[-1] == list(range(9, SCHEMA_VERSION + 1))  # one process migrated (9: the baseline)
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT version, name FROM schema_migrations ORDER BY seq").fetchall()
        assert rows[0] == (6, "before numbered migrations") and [v for v, _ in rows[1:]] == list(range(9, SCHEMA_VERSION + 1))
        assert con.execute("SELECT count(*) FROM asset_listing").fetchone()[0] == con.execute("SELECT count(*) FROM assets").fetchone()[0] == 20
    finally:
        con.close()


def test_the_log_names_each_file_by_its_hash_and_is_append_only(tmp_path):
    s = SQLiteStore(tmp_path / "registry.db")
    try:
        rows = s.db.execute("SELECT version, name, sha256 FROM schema_migrations ORDER BY seq").fetchall()
        files = {m.version: m for m in migrations.available()}
        assert [v for v, _, _ in rows] == list(range(9, SCHEMA_VERSION + 1))  # a new registry: the baseline, then each file
        for v, name, sha in rows:
            import importlib.resources

            data = importlib.resources.files("charter.store.migrations.sqlite").joinpath(f"m{v:04d}_{name}.py").read_bytes()
            assert sha == files[v].sha256 == hashlib.sha256(data).hexdigest()
        for sql in ("UPDATE schema_migrations SET name='x'", "DELETE FROM schema_migrations"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                s.db.execute(sql)
    finally:
        s.close()


def test_a_newer_registry_is_refused_untouched(tmp_path):
    db = tmp_path / "registry.db"
    shutil.copy(FIXTURES / "registry-schema9.db", db)
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match=f"has schema {SCHEMA_VERSION + 5}, newer than this charter's \\({SCHEMA_VERSION}\\)") as e:
        SQLiteStore(db)
    assert "upgrade charter" in e.value.hint
    assert db.read_bytes() == before


def test_migration_files_are_numbered_one_by_one(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name in ("m0001_first.py", "m0003_third.py", "README.txt"):
        (pkg / name).write_text("def migrate(store, version):\n    pass\n")
    monkeypatch.setattr(migrations.importlib.resources, "files", lambda p: pkg)
    with pytest.raises(StoreError, match="first \\(1\\) is followed by third \\(3\\)"):
        migrations.available("anything")
