"""Numbered, forward-only schema migrations: one file per migration, applied once, in order, under a lock.

A backend's migrations are the modules ``mNNNN_name.py`` of its package (``charter.store.migrations.sqlite``);
``mNNNN`` brings a registry from schema NNNN-1 (or older, for the baseline) to NNNN, through ``migrate(store,
version)``. Schemas 1-9 predate numbered migrations: ``m0009_baseline`` brings any of them, or a new file, to 9.

``apply`` runs what a registry lacks in one transaction that holds the database's write lock (``BEGIN
IMMEDIATE``) and re-reads the version once it has the lock, so processes that open an old registry at the same
time migrate it once: the first migrates, the others wait for its COMMIT and find nothing to do. Each applied
migration is recorded in ``schema_migrations`` (version, name, time, sha256 of its file; append-only: a
version applied again, to a registry whose ``user_version`` was set back by hand, is a row of its own); the
version itself is SQLite's ``user_version``. A registry whose version is newer than the newest migration here was
written by a newer charter and is refused, untouched.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import re
import sqlite3
from dataclasses import dataclass

from charter.errors import StoreError

_NAME = re.compile(r"^m(\d{4})_(\w+)\.py$")

LOG_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations(
  seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, name TEXT NOT NULL, applied TEXT NOT NULL, sha256 TEXT);
CREATE TRIGGER IF NOT EXISTS schema_migrations_append_only_u BEFORE UPDATE ON schema_migrations
  BEGIN SELECT RAISE(ABORT, 'the migration log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS schema_migrations_append_only_d BEFORE DELETE ON schema_migrations
  BEGIN SELECT RAISE(ABORT, 'the migration log is append-only'); END;
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: str  # import path
    sha256: str  # of its file: the log records exactly what ran

    def run(self, store, version: int) -> None:
        importlib.import_module(self.module).migrate(store, version)


def available(backend: str = "sqlite") -> list[Migration]:
    """The backend's migrations in order; numbers must run 1 by 1 from the first (no gap, no duplicate)."""
    pkg = f"{__name__}.{backend}"
    out = []
    for f in importlib.resources.files(pkg).iterdir():
        m = _NAME.match(f.name)
        if m:
            out.append(Migration(int(m.group(1)), m.group(2), f"{pkg}.{f.name[:-3]}", hashlib.sha256(f.read_bytes()).hexdigest()))
    out.sort(key=lambda m: m.version)
    for a, b in zip(out, out[1:]):
        if b.version != a.version + 1:
            raise StoreError(f"migrations of {backend}: {a.name} ({a.version}) is followed by {b.name} ({b.version})",
                             hint="number migration files one by one, without gaps or duplicates")
    return out


def latest(backend: str = "sqlite") -> int:
    return available(backend)[-1].version


def version_of(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def check_version(version: int, where: str, backend: str = "sqlite") -> None:
    newest = latest(backend)
    if version > newest:
        raise StoreError(f"registry {where} has schema {version}, newer than this charter's ({newest})",
                         hint="upgrade charter (pip install -U charter); this registry was written by a newer release")


def apply(store, backend: str = "sqlite") -> list[int]:
    """Bring ``store``'s database to the newest schema; returns the versions this call applied ([] when
    another process had already done it, or nothing was due)."""
    db, where = store.db, str(getattr(store, "path", "?"))
    version = version_of(db)
    check_version(version, where, backend)
    todo = [m for m in available(backend) if m.version > version]
    if not todo:
        return []
    from charter.store.base import now

    with store._tx(publish=False):
        version = version_of(db)  # under the write lock: another process may have migrated meanwhile
        check_version(version, where, backend)
        todo = [m for m in todo if m.version > version]
        if not todo:
            return []
        for stmt in statements(LOG_SQL):
            db.execute(stmt)
        if version and not db.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchone():
            db.execute("INSERT INTO schema_migrations(version, name, applied) VALUES (?,?,?)", (version, "before numbered migrations", now()))
        for m in todo:
            m.run(store, version)
            db.execute("INSERT INTO schema_migrations(version, name, applied, sha256) VALUES (?,?,?,?)", (m.version, m.name, now(), m.sha256))
        db.execute(f"PRAGMA user_version={todo[-1].version}")
    return [m.version for m in todo]


PG_LOG_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations(
  seq bigserial PRIMARY KEY, version integer NOT NULL, name text NOT NULL, applied text NOT NULL, sha256 text);
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'schema_migrations_append_only') THEN
    CREATE TRIGGER schema_migrations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON schema_migrations
      FOR EACH STATEMENT EXECUTE FUNCTION charter_refuse('the migration log is append-only');
  END IF;
END $$;
"""


def apply_postgres(store, lock: int, create: bool = True) -> list[int]:
    """PostgreSQL's ``apply``: under a session advisory lock (taken before the transaction begins, so that the
    transaction sees what another process committed meanwhile), in one transaction; the version is
    ``charter_schema``'s (changed by this runner alone: its append-only trigger is paused for that statement)."""
    from charter.store.base import now

    db, where = store.db, store.where
    version = store._version() or 0
    check_version(version, where, "postgres")
    todo = [m for m in available("postgres") if m.version > version]
    if not todo:
        return []
    if version == 0 and not create:
        raise StoreError(f"no registry in {where}", hint="run `charter init --registry URL` or pass create", where=where)
    db.execute("SELECT pg_advisory_lock(%s)", (lock,))
    try:
        with db.transaction():
            version = store._version() or 0
            check_version(version, where, "postgres")
            todo = [m for m in todo if m.version > version]
            if not todo:
                return []
            for m in todo:
                m.run(store, version)
                if m.version == 1:  # the baseline made the function the log's trigger calls
                    db.execute(PG_LOG_SQL)
            if version:
                db.execute(PG_LOG_SQL)
                if not db.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchone():
                    db.execute("INSERT INTO schema_migrations(version, name, applied) VALUES (%s,%s,%s)", (version, "before numbered migrations", now()))
            for m in todo:
                db.execute("INSERT INTO schema_migrations(version, name, applied, sha256) VALUES (%s,%s,%s,%s)", (m.version, m.name, now(), m.sha256))
            db.execute("ALTER TABLE charter_schema DISABLE TRIGGER charter_schema_append_only")
            db.execute("UPDATE charter_schema SET version=%s", (todo[-1].version,))
            db.execute("ALTER TABLE charter_schema ENABLE TRIGGER charter_schema_append_only")
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (lock,))
    return [m.version for m in todo]


def statements(script: str) -> list[str]:
    """A script's statements, split where SQLite sees each end (triggers hold semicolons of their own)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out
