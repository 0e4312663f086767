"""Schema 10: who did what. Users and their roles (append-only: a change is a new row, the last one counts),
the hash-chained log of every write and every refused write (``actions``: actor, action, asset, allowed,
the record's canonical JSON, chained like the audit log), who registered each asset (``registrations``),
and data contributors' consent tokens (stored hashed; revoked once, never deleted)."""

from __future__ import annotations

SQL = """
CREATE TABLE IF NOT EXISTS user_events(
  seq INTEGER PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL CHECK(role IN ('admin','publisher','curator','auditor','none')),
  namespaces TEXT NOT NULL, time TEXT NOT NULL, actor TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS user_events_name ON user_events(name, seq);
CREATE TRIGGER IF NOT EXISTS user_events_append_only_u BEFORE UPDATE ON user_events
  BEGIN SELECT RAISE(ABORT, 'user changes are append-only: add a new row with `charter user add`'); END;
CREATE TRIGGER IF NOT EXISTS user_events_append_only_d BEFORE DELETE ON user_events
  BEGIN SELECT RAISE(ABORT, 'user changes are append-only: set role none with `charter user add NAME --role none`'); END;
CREATE TABLE IF NOT EXISTS actions(
  seq INTEGER PRIMARY KEY, actor TEXT NOT NULL, action TEXT NOT NULL, asset TEXT, allowed INTEGER NOT NULL,
  record TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS actions_asset ON actions(asset, seq);
CREATE INDEX IF NOT EXISTS actions_actor ON actions(actor, seq);
CREATE TRIGGER IF NOT EXISTS actions_append_only_u BEFORE UPDATE ON actions
  BEGIN SELECT RAISE(ABORT, 'the action log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_append_only_d BEFORE DELETE ON actions
  BEGIN SELECT RAISE(ABORT, 'the action log is append-only'); END;
CREATE TABLE IF NOT EXISTS registrations(rid INTEGER PRIMARY KEY, actor TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS registrations_fixed_u BEFORE UPDATE ON registrations
  BEGIN SELECT RAISE(ABORT, 'who registered an asset is written once, at registration'); END;
CREATE TRIGGER IF NOT EXISTS registrations_fixed_d BEFORE DELETE ON registrations
  BEGIN SELECT RAISE(ABORT, 'who registered an asset is written once, at registration'); END;
CREATE TABLE IF NOT EXISTS consent_tokens(
  hash TEXT PRIMARY KEY, owner TEXT NOT NULL, created TEXT NOT NULL, actor TEXT NOT NULL, revoked TEXT) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS consent_tokens_fixed BEFORE UPDATE OF hash, owner, created, actor ON consent_tokens
  BEGIN SELECT RAISE(ABORT, 'a consent token record only changes when it is revoked'); END;
CREATE TRIGGER IF NOT EXISTS consent_tokens_revoked_once BEFORE UPDATE OF revoked ON consent_tokens WHEN OLD.revoked IS NOT NULL
  BEGIN SELECT RAISE(ABORT, 'a revoked consent token stays revoked'); END;
CREATE TRIGGER IF NOT EXISTS consent_tokens_kept BEFORE DELETE ON consent_tokens
  BEGIN SELECT RAISE(ABORT, 'consent tokens are revoked, not deleted'); END;
"""


def migrate(store, version: int) -> None:
    """Create the tables. Assets registered before this schema have no recorded registrant (none is guessed)."""
    from charter.store.migrations import statements

    for stmt in statements(SQL):
        store.db.execute(stmt)
