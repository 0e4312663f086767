"""Schema 2: who did what (SQLite's m0010_identities): users (append-only rows), the hash-chained action log,
who registered each asset, and consent tokens (stored hashed; revoked once, never deleted)."""

from __future__ import annotations

_C = 'COLLATE "C"'

SQL = f"""
CREATE TABLE user_events(
  seq bigserial PRIMARY KEY, name text {_C} NOT NULL, role text NOT NULL CHECK(role IN ('admin','publisher','curator','auditor','none')),
  namespaces text NOT NULL, time text NOT NULL, actor text NOT NULL);
CREATE INDEX user_events_name ON user_events(name, seq);
CREATE TABLE actions(
  seq bigint PRIMARY KEY, actor text {_C} NOT NULL, action text NOT NULL, asset text {_C}, allowed boolean NOT NULL,
  record text NOT NULL, prev text NOT NULL, hash text NOT NULL);
CREATE INDEX actions_asset ON actions(asset, seq);
CREATE INDEX actions_actor ON actions(actor, seq);
CREATE TABLE registrations(rid bigint PRIMARY KEY, actor text NOT NULL);
CREATE TABLE consent_tokens(hash text PRIMARY KEY, owner text NOT NULL, created text NOT NULL, actor text NOT NULL, revoked text);
CREATE FUNCTION charter_consent_token_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.revoked IS NOT NULL THEN RAISE EXCEPTION 'a revoked consent token stays revoked'; END IF;
  IF (NEW.hash, NEW.owner, NEW.created, NEW.actor) IS DISTINCT FROM (OLD.hash, OLD.owner, OLD.created, OLD.actor) THEN
    RAISE EXCEPTION 'a consent token record only changes when it is revoked';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER consent_tokens_fixed BEFORE UPDATE ON consent_tokens FOR EACH ROW EXECUTE FUNCTION charter_consent_token_update();
CREATE TRIGGER consent_tokens_kept BEFORE DELETE OR TRUNCATE ON consent_tokens FOR EACH STATEMENT
  EXECUTE FUNCTION charter_refuse('consent tokens are revoked, not deleted');
CREATE TRIGGER user_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON user_events FOR EACH STATEMENT
  EXECUTE FUNCTION charter_refuse('user changes are append-only: add a new row with `charter user add`');
CREATE TRIGGER actions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON actions FOR EACH STATEMENT
  EXECUTE FUNCTION charter_refuse('the action log is append-only');
CREATE TRIGGER registrations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON registrations FOR EACH STATEMENT
  EXECUTE FUNCTION charter_refuse('who registered an asset is written once, at registration');
"""


def migrate(store, version: int) -> None:
    store.db.execute(SQL)
