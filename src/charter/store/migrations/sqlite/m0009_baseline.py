"""Schema 9, the baseline: every table, index and trigger of the registry as it stood when numbered migrations
began, and the data moves that brought registries of schemas 1-8 to it (one step from any of them).

What each of those versions added: 2 restrictions, properties, api_keys, audit; 3 withdrawal_events
(withdraw/lift; the old ``withdrawals`` table moved into it), content digests, append-only triggers on every
history table; 4 restriction_lifts; 5 generations (a counter per topic, moved by triggers, that caches poll);
6 terms / asset_terms (each asset's interned lineage terms key); 7 asset_listing (each asset's licences beside
its rid); 8 signatures; 9 signals (web consent snapshots). Every statement is IF NOT EXISTS, so a registry of any
earlier schema gains what it lacks and keeps what it has; every change after 9 is a migration file of its own.
"""

from __future__ import annotations

import json

SQL = """
CREATE TABLE IF NOT EXISTS assets(
  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, name TEXT NOT NULL,
  version TEXT NOT NULL, hash TEXT NOT NULL, doc TEXT NOT NULL, registered TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS assets_kind_name ON assets(kind, name);
CREATE TABLE IF NOT EXISTS edges(
  child INTEGER NOT NULL, parent INTEGER NOT NULL, relation TEXT NOT NULL,
  PRIMARY KEY(child, parent, relation)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_parent ON edges(parent);
CREATE TABLE IF NOT EXISTS lineage(id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS closure(
  descendant INTEGER NOT NULL, ancestor INTEGER NOT NULL, depth INTEGER NOT NULL,
  PRIMARY KEY(descendant, ancestor)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS downstream(
  ancestor INTEGER NOT NULL, depth INTEGER NOT NULL, descendant TEXT NOT NULL,
  PRIMARY KEY(ancestor, depth, descendant)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS withdrawal_events(
  seq INTEGER PRIMARY KEY, asset INTEGER NOT NULL, action TEXT NOT NULL CHECK(action IN ('withdraw', 'lift')),
  reason TEXT NOT NULL, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS withdrawal_events_asset ON withdrawal_events(asset, seq);
CREATE TRIGGER IF NOT EXISTS withdrawal_events_append_only_u BEFORE UPDATE ON withdrawal_events
  BEGIN SELECT RAISE(ABORT, 'withdrawals are append-only: lift one with `charter withdraw --lift`'); END;
CREATE TRIGGER IF NOT EXISTS withdrawal_events_append_only_d BEFORE DELETE ON withdrawal_events
  BEGIN SELECT RAISE(ABORT, 'withdrawals are append-only: lift one with `charter withdraw --lift`'); END;
CREATE TABLE IF NOT EXISTS owner_withdrawals(
  owner TEXT PRIMARY KEY, reason TEXT NOT NULL, time TEXT NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS owner_withdrawals_append_only_u BEFORE UPDATE ON owner_withdrawals
  BEGIN SELECT RAISE(ABORT, 'owner withdrawals are append-only'); END;
CREATE TRIGGER IF NOT EXISTS owner_withdrawals_append_only_d BEFORE DELETE ON owner_withdrawals
  BEGIN SELECT RAISE(ABORT, 'owner withdrawals are append-only'); END;
CREATE TABLE IF NOT EXISTS content(digest TEXT NOT NULL, asset INTEGER NOT NULL, PRIMARY KEY(digest, asset)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS content_fixed_u BEFORE UPDATE ON content
  BEGIN SELECT RAISE(ABORT, 'content digests are written once, at registration'); END;
CREATE TRIGGER IF NOT EXISTS content_fixed_d BEFORE DELETE ON content
  BEGIN SELECT RAISE(ABORT, 'content digests are written once, at registration'); END;
CREATE TRIGGER IF NOT EXISTS edges_fixed_d BEFORE DELETE ON edges
  BEGIN SELECT RAISE(ABORT, 'lineage edges are written once, at registration'); END;
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, type TEXT NOT NULL,
  asset TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_asset ON events(asset);
CREATE TRIGGER IF NOT EXISTS events_append_only_u BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_d BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS assets_immutable BEFORE UPDATE ON assets
  BEGIN SELECT RAISE(ABORT, 'registered asset versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS lineage_immutable BEFORE UPDATE ON lineage
  BEGIN SELECT RAISE(ABORT, 'compiled lineage is immutable'); END;
CREATE TABLE IF NOT EXISTS restrictions(
  seq INTEGER PRIMARY KEY, asset TEXT NOT NULL, deny TEXT NOT NULL, reason TEXT NOT NULL, time TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS restrictions_append_only_u BEFORE UPDATE ON restrictions
  BEGIN SELECT RAISE(ABORT, 'restrictions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS restrictions_append_only_d BEFORE DELETE ON restrictions
  BEGIN SELECT RAISE(ABORT, 'restrictions are append-only'); END;
CREATE TABLE IF NOT EXISTS restriction_lifts(
  seq INTEGER PRIMARY KEY, asset TEXT NOT NULL, upto INTEGER NOT NULL, reason TEXT NOT NULL, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS restriction_lifts_asset ON restriction_lifts(asset, upto);
CREATE TRIGGER IF NOT EXISTS restriction_lifts_append_only_u BEFORE UPDATE ON restriction_lifts
  BEGIN SELECT RAISE(ABORT, 'restriction lifts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS restriction_lifts_append_only_d BEFORE DELETE ON restriction_lifts
  BEGIN SELECT RAISE(ABORT, 'restriction lifts are append-only'); END;
CREATE TABLE IF NOT EXISTS properties(
  seq INTEGER PRIMARY KEY, asset TEXT NOT NULL, benchmark TEXT NOT NULL, metric TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS properties_asset ON properties(asset);
CREATE TRIGGER IF NOT EXISTS properties_append_only_u BEFORE UPDATE ON properties
  BEGIN SELECT RAISE(ABORT, 'evaluated properties are append-only'); END;
CREATE TRIGGER IF NOT EXISTS properties_append_only_d BEFORE DELETE ON properties
  BEGIN SELECT RAISE(ABORT, 'evaluated properties are append-only'); END;
CREATE TABLE IF NOT EXISTS api_keys(
  key_id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, application TEXT NOT NULL, created TEXT NOT NULL, revoked TEXT);
CREATE TRIGGER IF NOT EXISTS api_keys_fixed BEFORE UPDATE OF key_id, hash, application, created ON api_keys
  BEGIN SELECT RAISE(ABORT, 'an API key record only changes when it is revoked'); END;
CREATE TRIGGER IF NOT EXISTS api_keys_revoked_once BEFORE UPDATE OF revoked ON api_keys WHEN OLD.revoked IS NOT NULL
  BEGIN SELECT RAISE(ABORT, 'a revoked API key stays revoked'); END;
CREATE TRIGGER IF NOT EXISTS api_keys_kept BEFORE DELETE ON api_keys
  BEGIN SELECT RAISE(ABORT, 'API keys are revoked, not deleted'); END;
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY, record TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_append_only_u BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_d BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS terms(tid INTEGER PRIMARY KEY, doc TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS asset_terms(rid INTEGER PRIMARY KEY, tid INTEGER NOT NULL, id TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS terms_fixed_u BEFORE UPDATE ON terms
  BEGIN SELECT RAISE(ABORT, 'lineage terms are written once, at registration'); END;
CREATE TRIGGER IF NOT EXISTS asset_terms_fixed_u BEFORE UPDATE ON asset_terms
  BEGIN SELECT RAISE(ABORT, 'lineage terms are written once, at registration'); END;
CREATE TABLE IF NOT EXISTS asset_listing(rid INTEGER PRIMARY KEY, licenses TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS asset_listing_fixed_u BEFORE UPDATE ON asset_listing
  BEGIN SELECT RAISE(ABORT, 'an asset''s listing is written once, at registration'); END;
CREATE TABLE IF NOT EXISTS generations(topic TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO generations VALUES ('policy', 0), ('keys', 0);
CREATE TABLE IF NOT EXISTS signals(
  seq INTEGER PRIMARY KEY, domain TEXT NOT NULL, kind TEXT NOT NULL, fetched_at TEXT NOT NULL, sha256 TEXT NOT NULL,
  body TEXT NOT NULL, source TEXT NOT NULL, imported TEXT NOT NULL, UNIQUE(domain, kind, fetched_at, sha256));
CREATE TRIGGER IF NOT EXISTS signals_append_only_u BEFORE UPDATE ON signals
  BEGIN SELECT RAISE(ABORT, 'web signal snapshots are append-only: import a newer snapshot'); END;
CREATE TRIGGER IF NOT EXISTS signals_append_only_d BEFORE DELETE ON signals
  BEGIN SELECT RAISE(ABORT, 'web signal snapshots are append-only: import a newer snapshot'); END;
CREATE TRIGGER IF NOT EXISTS withdrawal_events_generation AFTER INSERT ON withdrawal_events
  BEGIN UPDATE generations SET n=n+1 WHERE topic='policy'; END;
CREATE TRIGGER IF NOT EXISTS owner_withdrawals_generation AFTER INSERT ON owner_withdrawals
  BEGIN UPDATE generations SET n=n+1 WHERE topic='policy'; END;
CREATE TRIGGER IF NOT EXISTS restrictions_generation AFTER INSERT ON restrictions
  BEGIN UPDATE generations SET n=n+1 WHERE topic='policy'; END;
CREATE TRIGGER IF NOT EXISTS restriction_lifts_generation AFTER INSERT ON restriction_lifts
  BEGIN UPDATE generations SET n=n+1 WHERE topic='policy'; END;
CREATE TRIGGER IF NOT EXISTS properties_generation AFTER INSERT ON properties
  BEGIN UPDATE generations SET n=n+1 WHERE topic='policy'; END;
CREATE TRIGGER IF NOT EXISTS api_keys_generation_i AFTER INSERT ON api_keys
  BEGIN UPDATE generations SET n=n+1 WHERE topic='keys'; END;
CREATE TRIGGER IF NOT EXISTS api_keys_generation_u AFTER UPDATE ON api_keys
  BEGIN UPDATE generations SET n=n+1 WHERE topic='keys'; END;
"""

SIGNATURES_SQL = """
CREATE TABLE IF NOT EXISTS signatures(
  seq INTEGER PRIMARY KEY, asset TEXT NOT NULL, kind TEXT NOT NULL, keyid TEXT NOT NULL, digest TEXT NOT NULL UNIQUE,
  envelope TEXT NOT NULL, source TEXT NOT NULL, time TEXT NOT NULL, applied TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS signatures_asset ON signatures(asset, seq);
CREATE TRIGGER IF NOT EXISTS signatures_append_only_u BEFORE UPDATE ON signatures
  BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER IF NOT EXISTS signatures_append_only_d BEFORE DELETE ON signatures
  BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
"""


def migrate(store, version: int) -> None:
    """Create what is missing, then move the data of a registry written with schema ``version`` (0: new)."""
    from charter.store.migrations import statements

    for stmt in statements(SQL) + statements(SIGNATURES_SQL):
        store.db.execute(stmt)
    if version:
        _moves(store, version)


def _moves(store, version: int) -> None:
    """From schema 1-2: withdrawals become withdrawal_events; content digests of every asset are indexed.
    From 3: nothing to move (restriction_lifts is new and starts empty). Before 6: every asset's terms key.
    Before 7: every asset's listed licences. Before 8 and 9: nothing to move (signatures and signals start empty)."""
    from charter.core import lineage as lineage_mod
    from charter.core.assets import Asset
    from charter.core.digests import content_digests

    db = store.db
    if version < 7:
        db.execute("INSERT INTO asset_listing SELECT rid, json_extract(doc, '$.licenses') FROM assets "
                   "WHERE rid NOT IN (SELECT rid FROM asset_listing) ORDER BY rid")
    if version < 6:
        rows = db.execute("SELECT a.rid, a.id, l.doc FROM assets a JOIN lineage l ON l.id=a.id "
                          "WHERE a.rid NOT IN (SELECT rid FROM asset_terms) ORDER BY a.rid")
        store._write_terms([(rid, i, lineage_mod.terms_key(lineage_mod.loads(doc))) for rid, i, doc in rows])
    if version >= 3:
        return
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='withdrawals'").fetchone():
        db.execute("INSERT INTO withdrawal_events(asset, action, reason, time) SELECT asset, 'withdraw', reason, time FROM withdrawals ORDER BY time")
        db.execute("DROP TABLE withdrawals")
    for rid, doc in db.execute("SELECT rid, doc FROM assets").fetchall():
        for d in content_digests(Asset.from_json(json.loads(doc))):
            db.execute("INSERT OR IGNORE INTO content VALUES (?,?)", (d, rid))
