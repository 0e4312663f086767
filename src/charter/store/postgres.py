"""The PostgreSQL registry (``postgresql://...``): the same contract, tables and guarantees as SQLite's
(store/sqlite.py), for a team sharing one server.

Every write is one transaction that first takes a transaction-level advisory lock (``WRITE_LOCK``), so
writes from all processes are serialised as SQLite's are: registration numbers (``rid``), events and
terms ids are assigned in commit order. The audit log has a lock of its own (``AUDIT_LOCK``): its last
hash is read under it, so several gateway processes append one chain, and audit appends never wait for
policy writes. History is append-only in the database itself: statement-level triggers refuse UPDATE,
DELETE and TRUNCATE on every table but ``generations`` (and an API key's one change, its revocation).
``generations`` holds one counter per topic (``policy``, ``keys``), moved by triggers, which also
``pg_notify('charter_generations', topic)``: ``generations()``, which the gateway calls on every request, is one
read, or none where a listener connection keeps it in memory (:class:`_Listener`, ``CHARTER_PG_LISTEN=1``). The schema is created on first
open, under a session-level advisory lock (``SCHEMA_LOCK``), and its version is kept in ``charter_schema``; a
database newer than this code is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import threading
import time as _time
import weakref
from contextlib import contextmanager
from functools import partial
from itertools import repeat
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from charter.core import lineage as lineage_mod
from charter.core.assets import PROPAGATING, Asset, Edge, Event, Restriction, Withdrawal
from charter.core.digests import content_digests
from charter.core.lineage import Lineage, closure
from charter.core.sql import like_contains, literal
from charter.errors import Conflict, StoreError
from charter.store import migrations
from charter.store.base import Store
from charter.store.common import now
from charter.store.consent import SQLConsent
from charter.store.deferred import DeferredLog
from charter.store.dialect import POSTGRES
from charter.store.events import INSERT_EVENT, SQLEvents
from charter.store.gateway import SQLGateway
from charter.store.identity import SQLIdentity
from charter.store.signals import SQLSignals
from charter.store.signatures import SQLSignatures
from charter.store.assets import Hop

BASELINE = 1  # the version m0001_baseline writes; later ones are store/migrations/postgres files
SCHEMA_VERSION = migrations.latest("postgres")  # PostgreSQL's own numbering (1: the tables of SQLite's 9; 2: SQLite's 10)

WRITE_LOCK = 0x63686172_00000001  # pg_advisory_xact_lock keys: every policy write ...
AUDIT_LOCK = 0x63686172_00000002  # ... the audit chain ...
SCHEMA_LOCK = 0x63686172_00000003  # ... and creating the schema
CHANNEL = "charter_generations"

_C = 'COLLATE "C"'  # ids sort and compare by code point, as in SQLite and Python, whatever the database's locale

SCHEMA = f"""
CREATE TABLE charter_schema(one boolean PRIMARY KEY DEFAULT true CHECK(one), version integer NOT NULL);
CREATE TABLE assets(
  rid bigint PRIMARY KEY, id text {_C} NOT NULL UNIQUE, kind text {_C} NOT NULL, name text {_C} NOT NULL,
  version text NOT NULL, hash text NOT NULL, doc text NOT NULL, registered text NOT NULL);
CREATE INDEX assets_kind_name ON assets(kind, name);
CREATE TABLE edges(child bigint NOT NULL, parent bigint NOT NULL, relation text NOT NULL, PRIMARY KEY(child, parent, relation));
CREATE INDEX edges_parent ON edges(parent);
CREATE TABLE lineage(id text {_C} PRIMARY KEY, doc text NOT NULL);
CREATE TABLE closure(descendant bigint NOT NULL, ancestor bigint NOT NULL, depth integer NOT NULL, PRIMARY KEY(descendant, ancestor));
CREATE TABLE downstream(ancestor bigint NOT NULL, depth integer NOT NULL, descendant text {_C} NOT NULL, PRIMARY KEY(ancestor, depth, descendant));
CREATE TABLE withdrawal_events(
  seq bigserial PRIMARY KEY, asset bigint NOT NULL, action text NOT NULL CHECK(action IN ('withdraw', 'lift')),
  reason text NOT NULL, time text NOT NULL);
CREATE INDEX withdrawal_events_asset ON withdrawal_events(asset, seq);
CREATE TABLE owner_withdrawals(owner text {_C} PRIMARY KEY, reason text NOT NULL, time text NOT NULL);
CREATE TABLE content(digest text NOT NULL, asset bigint NOT NULL, PRIMARY KEY(digest, asset));
CREATE TABLE events(seq bigserial PRIMARY KEY, time text NOT NULL, type text {_C} NOT NULL, asset text {_C} NOT NULL, data text NOT NULL);
CREATE INDEX events_asset ON events(asset);
CREATE TABLE restrictions(seq bigserial PRIMARY KEY, asset text {_C} NOT NULL, deny text NOT NULL, reason text NOT NULL, time text NOT NULL);
CREATE INDEX restrictions_asset ON restrictions(asset, seq);
CREATE TABLE restriction_lifts(seq bigserial PRIMARY KEY, asset text {_C} NOT NULL, upto bigint NOT NULL, reason text NOT NULL, time text NOT NULL);
CREATE INDEX restriction_lifts_asset ON restriction_lifts(asset, upto);
CREATE TABLE properties(seq bigserial PRIMARY KEY, asset text {_C} NOT NULL, benchmark text NOT NULL, metric text NOT NULL, doc text NOT NULL);
CREATE INDEX properties_asset ON properties(asset, seq);
CREATE TABLE api_keys(
  n bigserial NOT NULL, key_id text PRIMARY KEY, hash text NOT NULL UNIQUE, application text NOT NULL, created text NOT NULL, revoked text);
CREATE TABLE audit(seq bigint PRIMARY KEY, record text NOT NULL, prev text NOT NULL, hash text NOT NULL);
CREATE TABLE terms(tid bigint PRIMARY KEY, digest text NOT NULL UNIQUE, doc text NOT NULL);
CREATE TABLE asset_terms(rid bigint PRIMARY KEY, tid bigint NOT NULL, id text {_C} NOT NULL);
CREATE TABLE asset_listing(rid bigint PRIMARY KEY, licenses text NOT NULL);
CREATE TABLE signals(
  seq bigserial PRIMARY KEY, domain text {_C} NOT NULL, kind text {_C} NOT NULL, fetched_at text {_C} NOT NULL, sha256 text NOT NULL,
  body text NOT NULL, source text NOT NULL, imported text NOT NULL, UNIQUE(domain, kind, fetched_at, sha256));
CREATE TABLE signatures(
  seq bigserial PRIMARY KEY, asset text {_C} NOT NULL, kind text NOT NULL, keyid text NOT NULL, digest text NOT NULL UNIQUE,
  envelope text NOT NULL, source text NOT NULL, time text NOT NULL, applied text NOT NULL);
CREATE INDEX signatures_asset ON signatures(asset, seq);
CREATE TABLE generations(topic text PRIMARY KEY, n bigint NOT NULL);
INSERT INTO generations VALUES ('policy', 0), ('keys', 0);

CREATE FUNCTION charter_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;
CREATE FUNCTION charter_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE generations SET n = n + 1 WHERE topic = TG_ARGV[0];
  PERFORM pg_notify('{CHANNEL}', TG_ARGV[0]);
  RETURN NULL;
END $$;
CREATE FUNCTION charter_api_key_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.revoked IS NOT NULL THEN RAISE EXCEPTION 'a revoked API key stays revoked'; END IF;
  IF (NEW.n, NEW.key_id, NEW.hash, NEW.application, NEW.created) IS DISTINCT FROM (OLD.n, OLD.key_id, OLD.hash, OLD.application, OLD.created) THEN
    RAISE EXCEPTION 'an API key record only changes when it is revoked';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER api_keys_fixed BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION charter_api_key_update();
CREATE TRIGGER api_keys_kept BEFORE DELETE OR TRUNCATE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION charter_refuse('API keys are revoked, not deleted');
"""

# table -> what a refused UPDATE, DELETE or TRUNCATE says (the words SQLite's triggers use)
APPEND_ONLY = {
    "charter_schema": "the schema version changes only when charter upgrades the registry",
    "assets": "registered asset versions are immutable",
    "lineage": "compiled lineage is immutable",
    "edges": "lineage edges are written once, at registration",
    "closure": "lineage closures are written once, at registration",
    "downstream": "lineage closures are written once, at registration",
    "content": "content digests are written once, at registration",
    "terms": "lineage terms are written once, at registration",
    "asset_terms": "lineage terms are written once, at registration",
    "asset_listing": "an asset's listing is written once, at registration",
    "withdrawal_events": "withdrawals are append-only: lift one with `charter withdraw --lift`",
    "owner_withdrawals": "owner withdrawals are append-only",
    "events": "the event log is append-only",
    "restrictions": "restrictions are append-only",
    "restriction_lifts": "restriction lifts are append-only",
    "properties": "evaluated properties are append-only",
    "audit": "the audit log is append-only",
    "signals": "web signal snapshots are append-only: import a newer snapshot",
    "signatures": "signatures are append-only",
}
GENERATION_TRIGGERS = {  # table -> the topic its inserts (and updates) move
    "withdrawal_events": "policy", "owner_withdrawals": "policy", "restrictions": "policy",
    "restriction_lifts": "policy", "properties": "policy", "api_keys": "keys",
}


def schema_script() -> str:
    parts = [SCHEMA]
    for t, msg in APPEND_ONLY.items():
        parts.append(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {t} "
                     f"FOR EACH STATEMENT EXECUTE FUNCTION charter_refuse({literal(msg)});")
    for t, topic in GENERATION_TRIGGERS.items():
        when = "INSERT OR UPDATE" if t == "api_keys" else "INSERT"
        parts.append(f"CREATE TRIGGER {t}_generation AFTER {when} ON {t} FOR EACH ROW EXECUTE FUNCTION charter_bump('{topic}');")
    parts.append(f"INSERT INTO charter_schema(version) VALUES ({BASELINE});")
    return "\n".join(parts)


_schema_script = schema_script  # the name migration m0001 (a file hashed into each registry's log) imports


_GENERATIONS = "SELECT (SELECT n FROM generations WHERE topic='policy'), (SELECT n FROM generations WHERE topic='keys')"
# string_agg over the index's own order (an index-only scan, no sort: 41 instead of 67 ms for 143,739 descendants);
# downstream() checks the order it got, and reads a depth row by row if it is not (id) order
_DOWNSTREAM = ("SELECT depth, string_agg(descendant, E'\\n'), count(*) FROM (SELECT depth, descendant FROM downstream "
               "WHERE ancestor=(SELECT rid FROM assets WHERE id=%s) AND depth<=%s ORDER BY depth, descendant) s GROUP BY depth ORDER BY depth")
_DOWNSTREAM_AT = "SELECT descendant FROM downstream WHERE ancestor=(SELECT rid FROM assets WHERE id=%s) AND depth=%s ORDER BY descendant"
_hop = partial(tuple.__new__, Hop)  # _hop((asset, depth)) -> Hop, built without a Python-level call
_EVENT = POSTGRES.q(INSERT_EVENT)


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://?"
    user = f"{d['user']}@" if d.get("user") else ""
    port = f":{d['port']}" if d.get("port") else ""
    return f"postgresql://{user}{d.get('host', '')}{port}/{d.get('dbname', '')}"


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def any_text(values: Sequence[str]) -> tuple[str, object]:
    """``= ANY(...)``'s SQL and its one parameter for a list of strings. psycopg dumps a list element by element in
    Python (0.3 s for 200,000 ids); one newline-joined text split by the server takes 0.06 s. A list that holds a
    newline or an empty string (valid ids hold neither) goes as a list."""
    text = "\n".join(values)
    if text.count("\n") == len(values) - 1 and "" not in values:
        return "string_to_array(%s, E'\\n')", text
    return "%s::text[]", list(values)


class PostgresStore(DeferredLog, SQLEvents, SQLConsent, SQLGateway, SQLIdentity, SQLSignatures, SQLSignals, Store):
    """The concerns' shared SQL in PostgreSQL's dialect (as SQLiteStore), group commit (store/deferred.py), and
    the asset reads and writes tuned for PostgreSQL (arrays, COPY)."""

    dialect = POSTGRES
    _KEY_ORDER = "n"

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.where = display_url(url)
        self._start_deferred()  # decisions waiting to be appended, and the lock every use of the connection takes
        self._cache: _Listener | None = None
        self._staged: dict[int, dict] = {}  # thread -> the action record of the write it is about to make
        self._floor: tuple = (0, 0)  # the generations this store last read itself (with a listener)
        try:
            self.db = psycopg.connect(url, autocommit=True, application_name="charter")
        except psycopg.Error as e:
            raise StoreError(f"cannot connect to registry {self.where}: {_first_line(e)}",
                             hint="check the URL, that the server runs and that it accepts this user", where=self.where) from None
        try:
            with self._errors("open"):
                self.db.execute("SET lock_timeout = '30s'")
                # numbered migrations (store/migrations/postgres), once, under SCHEMA_LOCK; a newer schema is refused
                self.migrated = migrations.apply_postgres(self, SCHEMA_LOCK, create)
                # the server authenticated this connection: its role is the actor of every write (issue 18 §3)
                self.authenticated_actor = self.db.execute("SELECT current_user").fetchone()[0]
        except BaseException:
            self.db.close()
            raise

    def _version(self) -> int | None:
        if self.db.execute("SELECT to_regclass('charter_schema')").fetchone()[0] is None:
            return None
        row = self.db.execute("SELECT version FROM charter_schema").fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._stop_timer()
        if self._cache is not None:
            self._cache.stop()
            self._cache = None
        with self._lock:  # the flusher thread may be inside a transaction on this connection (see SQLiteStore.close)
            if not self.db.closed:
                try:
                    self.flush()
                finally:
                    self.db.close()

    # --- errors, transactions ------------------------------------------------------------
    @contextmanager
    def _errors(self, doing: str = "write"):
        """PostgreSQL's errors as one line saying what happened and what to do."""
        try:
            yield
        except pg_errors.IntegrityError as e:
            raise Conflict(f"another process wrote the same record at the same time ({_first_line(e)})",
                           hint="run the command again: it sees the other write now", where=self.where) from None
        except pg_errors.RaiseException as e:  # a trigger: the storage refuses the change
            raise StoreError(f"the registry refused the change: {_first_line(e)}", hint="registry history is append-only: append an event instead",
                             where=self.where) from None
        except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected, pg_errors.QueryCanceled) as e:
            raise StoreError(f"the registry is locked by another process (waited 30 s: {_first_line(e)})",
                             hint="wait for the other charter command (or server) to finish, then run this again", where=self.where) from None
        except psycopg.OperationalError as e:
            raise StoreError(f"the registry server could not be reached ({_first_line(e)})",
                             hint="check the server runs and the connection URL; then run this again", where=self.where) from None
        except psycopg.Error as e:
            raise StoreError(f"the registry could not {doing} ({_first_line(e)})", hint="check the server's log and this user's rights",
                             where=self.where) from None

    @contextmanager
    def _tx(self, lock: int | None = WRITE_LOCK):
        """One write transaction holding ``lock`` (an advisory lock: ``WRITE_LOCK`` serialises every policy write,
        deferred events first, so that the log keeps the order things happened in)."""
        with self._lock, self._errors():
            batch = None
            try:
                with self.db.transaction():
                    if lock is not None:
                        self.db.execute(self.dialect.write_lock, (lock,))
                    if lock == WRITE_LOCK and self._pending:
                        batch = self._write_pending(self.db.cursor())
                    staged = self._staged.pop(threading.get_ident(), None) if lock == WRITE_LOCK else None
                    if staged is not None:  # the record of this very write: committed with it or not at all
                        self._insert_action(self.db.cursor(), staged)
                    yield self.db.cursor()
            except BaseException:
                if batch:
                    self._pending[:0] = batch
                raise
            finally:
                if lock == WRITE_LOCK and self._cache is not None:
                    self._cache.invalidate()  # committed or not: the next generations() here reads the database

    def _audit_tx(self):
        return self._tx(AUDIT_LOCK)  # its own lock: audit appends never wait for policy writes

    def _action_tx(self):
        return self._tx()

    def _open(self) -> bool:
        return not self.db.closed

    def _rows(self, query: str, args: Sequence | Mapping = ()) -> list[tuple]:
        with self._lock, self._errors("be read"):
            return self.db.execute(query, args).fetchall()

    def _one(self, query: str, args: Sequence | Mapping = ()) -> tuple | None:
        with self._lock, self._errors("be read"):
            return self.db.execute(query, args).fetchone()

    # --- reads -----------------------------------------------------------------
    def get_many(self, ids: Iterable[str]) -> dict[str, Asset]:
        ids = list(ids)
        if not ids:
            return {}
        q, arg = any_text(ids)
        return {i: Asset.from_json(json.loads(doc)) for i, doc in self._rows(f"SELECT id, doc FROM assets WHERE id = ANY({q})", (arg,))}

    def _known(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        if not ids:
            return set()
        q, arg = any_text(ids)
        return {i for (i,) in self._rows(f"SELECT id FROM assets WHERE id = ANY({q})", (arg,))}

    def find(self, kind: str | None = None, name: str | None = None) -> Iterator[Asset]:
        q, conds, args = "SELECT doc FROM assets", [], []
        if kind is not None:
            conds.append("kind=%s")
            args.append(kind)
        if name is not None:
            conds.append("name=%s")
            args.append(name)
        if conds:
            q += " WHERE " + " AND ".join(conds)
        for (doc,) in self._rows(q + " ORDER BY rid", args):
            yield Asset.from_json(json.loads(doc))

    def count(self) -> int:
        return self._one("SELECT count(*) FROM assets")[0]

    def upstream(self, asset: str) -> list[tuple[str, int]]:
        return self._rows("SELECT a.id, c.depth FROM closure c JOIN assets a ON a.rid=c.ancestor "
                          "WHERE c.descendant=(SELECT rid FROM assets WHERE id=%s) ORDER BY c.depth, a.id", (asset,))

    def lineage(self, asset: str) -> list[Asset]:
        q = ("SELECT 0, id, doc FROM assets WHERE id=%(a)s UNION ALL "
             "SELECT 1, a.id, a.doc FROM closure c JOIN assets a ON a.rid=c.ancestor "
             "WHERE c.descendant=(SELECT rid FROM assets WHERE id=%(a)s) ORDER BY 1")
        return [Asset.from_json(json.loads(d)) for _, _, d in self._rows(q, {"a": asset})]

    def compiled(self, asset: str) -> Lineage | None:
        row = self._one("SELECT doc FROM lineage WHERE id=%s", (asset,))
        return lineage_mod.loads(row[0]) if row else None

    def _compiled_many(self, ids: Iterable[str]) -> dict[str, Lineage]:
        ids = list(ids)
        if not ids:
            return {}
        q, arg = any_text(ids)
        return {i: lineage_mod.loads(d) for i, d in self._rows(f"SELECT id, doc FROM lineage WHERE id = ANY({q})", (arg,))}

    def downstream(self, asset: str, depth: int | None = None) -> list[Hop]:
        # as SQLite's: each depth comes back as one newline-joined string (one key range of the index, in order),
        # far cheaper than a Python row per descendant; a depth holding an id with a newline is read row by row
        out: list[Hop] = []
        args = (asset, depth if depth is not None else 2**62)
        for d, joined, n in self._rows(_DOWNSTREAM, args):
            ids = joined.split("\n")
            if len(ids) != n or ids != sorted(ids):  # (sorted() of a sorted list is one pass)
                ids = [i for (i,) in self._rows(_DOWNSTREAM_AT, (asset, d))]
            out += map(_hop, zip(ids, repeat(d)))
        return out

    def children(self, asset: str) -> list[Edge]:
        q = ("SELECT c.id, e.relation FROM edges e JOIN assets c ON c.rid=e.child "
             "WHERE e.parent=(SELECT rid FROM assets WHERE id=%s) ORDER BY c.rid, e.relation")
        return [Edge(child, asset, rel) for child, rel in self._rows(q, (asset,))]

    def child_counts(self, ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(ids))
        q = ("SELECT a.id, count(*) FROM assets a JOIN edges e ON e.parent=a.rid WHERE a.id = ANY(%s::text[]) "
             "AND e.relation = ANY(%s::text[]) GROUP BY a.id")
        return {**dict.fromkeys(ids, 0), **dict(self._rows(q, (ids, list(PROPAGATING))))} if ids else {}

    def terms_id(self, asset: str) -> tuple[int, int] | None:
        row = self._one("SELECT t.tid, t.rid FROM assets a JOIN asset_terms t ON t.rid=a.rid WHERE a.id=%s", (asset,))
        return tuple(row) if row else None

    def terms_ids(self, ids: Iterable[str] | None = None, kind: str | None = None, after: int | None = None) -> list[tuple[str, int | None, int]]:
        if after is not None:
            return self._rows("SELECT a.id, t.tid, a.rid FROM assets a LEFT JOIN asset_terms t ON t.rid=a.rid WHERE a.rid > %s ORDER BY a.rid", (after,))
        if ids is not None:
            return self._rows("SELECT a.id, t.tid, a.rid FROM unnest(%s::text[]) WITH ORDINALITY j(id, n) JOIN assets a ON a.id=j.id "
                              "LEFT JOIN asset_terms t ON t.rid=a.rid ORDER BY j.n", (list(ids),))
        if kind:
            return self._rows("SELECT a.id, t.tid, a.rid FROM assets a LEFT JOIN asset_terms t ON t.rid=a.rid WHERE a.kind=%s ORDER BY a.rid", (kind,))
        return self._rows("SELECT a.id, t.tid, a.rid FROM assets a LEFT JOIN asset_terms t ON t.rid=a.rid ORDER BY a.rid")

    def terms_all(self) -> list[int]:
        return [t for (t,) in self._rows("SELECT tid FROM terms ORDER BY tid")]

    def terms_index(self, upto: int) -> dict[str, int]:
        return dict(self._rows("SELECT id, tid FROM asset_terms WHERE rid <= %s", (upto,)))

    def terms_docs(self, tids: Iterable[int]) -> dict[int, str]:
        tids = list(tids)
        return dict(self._rows("SELECT tid, doc FROM terms WHERE tid = ANY(%s::bigint[])", (tids,))) if tids else {}

    def with_terms(self, tids: Iterable[int], upto: int, kind: str | None = None, licenses: bool = False) -> list[tuple]:
        q = ("SELECT t.rid, t.id, t.tid, l.licenses FROM asset_terms t JOIN asset_listing l ON l.rid=t.rid" if licenses else
             "SELECT t.rid, t.id, t.tid FROM asset_terms t") + " WHERE t.rid <= %s AND t.tid = ANY(%s::bigint[])"
        args: list = [upto, sorted(set(tids))]
        if kind:
            q += " AND t.id >= %s AND t.id < %s"
            args += [kind + "/", kind + "0"]  # '0' follows '/': every id that starts with "kind/"
        rows = self._rows(q + " ORDER BY t.rid", args)
        if licenses:
            memo = _Licenses()
            return [(r, i, t, memo[lic]) for r, i, t, lic in rows]
        return rows

    def assets_version(self) -> int:
        return self._one("SELECT coalesce(max(rid), 0) FROM assets")[0]

    def summaries(self, ids: Sequence[str]) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        rows = self._rows("SELECT a.id, a.kind, a.name, a.version, l.licenses FROM unnest(%s::text[]) WITH ORDINALITY j(id, n) "
                          "JOIN assets a ON a.id=j.id JOIN asset_listing l ON l.rid=a.rid ORDER BY j.n", (list(ids),))
        memo = _Licenses()
        return [(i, k, n, v, memo[lic]) for i, k, n, v, lic in rows]

    def listing(self, kind: str | None = None, contains: Sequence[str] = (), limit: int | None = None) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        conds, args = [], []
        for w in contains:
            conds.append(f"a.id {self.dialect.like} %s ESCAPE '\\'")
            args.append(like_contains(w))
        if kind:
            conds.append("a.id >= %s AND a.id < %s")
            args += [kind + "/", kind + "0"]
        q = "SELECT a.id, a.kind, a.name, a.version, l.licenses FROM assets a JOIN asset_listing l ON l.rid=a.rid"
        if conds:
            q += " WHERE " + " AND ".join(conds)
        rows = self._rows(q + " ORDER BY a.rid LIMIT %s", [*args, limit])
        memo = _Licenses()
        return [(i, k, n, v, memo[lic]) for i, k, n, v, lic in rows]

    def withdrawals(self) -> dict[str, Withdrawal]:
        # the current state: each asset's last withdraw/lift event, when it is a withdrawal
        q = ("SELECT a.id, w.reason, w.time FROM (SELECT DISTINCT ON (asset) asset, action, reason, time FROM withdrawal_events "
             "ORDER BY asset, seq DESC) w JOIN assets a ON a.rid=w.asset WHERE w.action='withdraw' ORDER BY a.id")
        return {i: Withdrawal(i, r, t) for i, r, t in self._rows(q)}

    def withdrawals_version(self) -> object:
        got = self._cached()
        return got[0] if got is not None else self._one("SELECT n FROM generations WHERE topic='policy'")[0]

    def api_keys_version(self) -> object:
        got = self._cached()
        return got[1] if got is not None else self._one("SELECT n FROM generations WHERE topic='keys'")[0]

    def _cached(self) -> tuple | None:
        """The listener's generations, unless older than what this store last read itself (the counters only
        grow; the thread may have taken a notification off the socket and not yet re-read them)."""
        c = self._cache
        got = c.get() if c is not None else None
        if got is None or got[0] < self._floor[0] or got[1] < self._floor[1]:
            return None
        return got

    LISTEN = os.environ.get("CHARTER_PG_LISTEN", "") not in ("", "0")
    """Cache the generations in-process, kept current by LISTEN/NOTIFY (:class:`_Listener`), from the first
    ``generations()`` call on (the gateway asks on every request): no round trip per call, but another
    process's commit is seen once its notification arrives rather than at the very next call. Off by default
    (one read per call: a withdrawal elsewhere applies to the next request, as on SQLite); ``CHARTER_PG_LISTEN=1``
    turns it on."""

    def generations(self) -> tuple[object, object]:
        c = self._cache
        if c is None and self.LISTEN and not self.db.closed:
            with self._lock:  # one listener, whichever thread asks first
                c = self._cache
                if c is None:
                    try:
                        c = self._cache = _Listener(self.url)
                        _listening.add(self)
                    except psycopg.Error:  # no second connection: read every time
                        self.LISTEN = False
        got = self._cached() if c is not None else None
        if got is not None:
            return got
        got = tuple(self._one(_GENERATIONS))
        if c is not None:
            self._floor = got
        return got

    def _holders(self, digests: Iterable[str]) -> dict[str, set[str]]:
        digests = list(digests)
        out: dict[str, set[str]] = {}
        if digests:
            for d, i in self._rows("SELECT c.digest, a.id FROM content c JOIN assets a ON a.rid=c.asset WHERE c.digest = ANY(%s::text[])", (digests,)):
                out.setdefault(d, set()).add(i)
        return out

    # --- writes ----------------------------------------------------------------
    def log(self, type: str, asset: str, data: Mapping) -> Event:
        t = now()
        doc = json.dumps(data, sort_keys=True)
        with self._tx() as cur:
            seq = cur.execute(_EVENT + " RETURNING seq", (t, type, asset, doc)).fetchone()[0]
        return Event(seq, t, type, asset, json.loads(doc))

    def _write_assets(self, assets: Sequence[Asset], lineages: Mapping[str, Lineage], time: str,
                      inherit: Callable[[], tuple[Sequence[Withdrawal], Sequence[Restriction]]]) -> None:
        docs = [a.canonical() for a in assets]  # serialise (and hash) once, before writing
        hashes = [Asset.hash_of(doc) for doc in docs]
        ups = {a.id: closure(lineages[a.id]) for a in assets}
        with self._tx() as cur:
            withdrawals, restrictions = inherit()  # under the write lock: see Store._under_write_lock
            # We hold the write lock, so the next rids are ours to assign: no read-back needed.
            first = cur.execute("SELECT coalesce(max(rid), 0) + 1 FROM assets").fetchone()[0]
            rid = {a.id: first + k for k, a in enumerate(assets)}
            cur.executemany("INSERT INTO assets(rid, id, kind, name, version, hash, doc, registered) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                            [(rid[a.id], a.id, a.kind, a.name, a.version, h, doc, time) for a, h, doc in zip(assets, hashes, docs)])
            others = list(({x for up in ups.values() for x in up} | {e.parent for a in assets for e in a.derived_from}) - rid.keys())
            if others:
                q, arg = any_text(others)
                rid.update(cur.execute(f"SELECT id, rid FROM assets WHERE id = ANY({q})", (arg,)).fetchall())
            self._copy(cur, "edges(child, parent, relation)", ((rid[a.id], rid[e.parent], e.relation) for a in assets for e in a.derived_from))
            self._copy(cur, "lineage(id, doc)", ((a.id, lineage_mod.dumps(lineages[a.id])) for a in assets))
            self._write_terms(cur, [(rid[a.id], a.id, lineage_mod.terms_key(lineages[a.id])) for a in assets])
            self._copy(cur, "asset_listing(rid, licenses)", ((rid[a.id], json.dumps(list(a.licenses))) for a in assets))
            self._copy(cur, "closure(descendant, ancestor, depth)", ((rid[a.id], rid[anc], d) for a in assets for anc, d in ups[a.id].items()))
            self._copy(cur, "downstream(ancestor, depth, descendant)", ((rid[anc], d, a.id) for a in assets for anc, d in ups[a.id].items()))
            cur.executemany(_EVENT, [(time, "register", a.id, json.dumps({"hash": h})) for a, h in zip(assets, hashes)])
            content = [(d, rid[a.id]) for a in assets for d in content_digests(a)]
            if content:
                cur.executemany("INSERT INTO content VALUES (%s,%s) ON CONFLICT DO NOTHING", content)
            self._copy(cur, "registrations(rid, actor)", ((rid[a.id], self.actor or "unknown") for a in assets))
            for w in withdrawals:
                self._insert_withdrawal(cur, w, "withdraw")
            for r in restrictions:
                self._insert_restriction(cur, r)

    @staticmethod
    def _copy(cur, table: str, rows: Iterable[tuple]) -> None:
        with cur.copy(f"COPY {table} FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)

    BULK_TABLES = ("assets", "edges", "lineage", "asset_terms", "asset_listing", "closure", "downstream", "events", "registrations")

    def _analyze(self, tables: Sequence[str] = BULK_TABLES) -> None:
        """Refresh the planner's statistics of ``tables`` now (after a bulk registration that grew them by a tenth or
        more), not at autovacuum's next round: with a table's statistics from before the load, the planner took a
        trace of 143,739 descendants for 3,956 rows and sorted them on disk (85 ms) instead of reading the index in
        order (37 ms; bench_trace at 1,000,000 assets). ANALYZE blocks neither reads nor writes."""
        with self._lock, self._errors("update its statistics"):
            for t in tables:
                if t not in self.BULK_TABLES:  # a fixed list: nothing else is ever interpolated here
                    raise ValueError(t)
                self.db.execute(f"ANALYZE {t}")

    def _write_terms(self, cur, rows: Sequence[tuple[int, str, str]]) -> None:
        """Inside a write transaction: intern each terms key (found by its sha256: a key can be longer than
        an index entry may be) and point the asset (rid, id) at it."""
        keys = {k: hashlib.sha256(k.encode()).hexdigest() for _, _, k in rows}
        tid = dict(cur.execute("SELECT digest, tid FROM terms WHERE digest = ANY(%s::text[])", (list(keys.values()),)).fetchall())
        new = [k for k, d in keys.items() if d not in tid]
        if new:
            first = cur.execute("SELECT coalesce(max(tid), 0) + 1 FROM terms").fetchone()[0]
            tid.update((keys[k], first + i) for i, k in enumerate(new))
            cur.executemany("INSERT INTO terms(tid, digest, doc) VALUES (%s,%s,%s)", [(tid[keys[k]], keys[k], k) for k in new])
        self._copy(cur, "asset_terms(rid, tid, id)", ((r, tid[keys[k]], i) for r, i, k in rows))

    def _insert_withdrawal(self, cur, w: Withdrawal, action: str) -> None:
        self._add_withdrawal(cur, w, action)  # store/events.py, inside _write_assets's transaction

    def _insert_restriction(self, cur, r: Restriction) -> None:
        self._add_restriction(cur, r)

    def audit_writer(self) -> "PostgresStore":
        return PostgresStore(self.url, create=False)


class _Licenses(dict):
    """A licence list's JSON -> its tuple, each distinct list decoded once."""

    def __missing__(self, key: str) -> tuple[str, ...]:
        got = self[key] = tuple(json.loads(key)) if key else ()
        return got


class _Listener:
    """The generations, cached for ``generations()``: a connection of its own LISTENs on ``CHANNEL`` (the
    generation triggers notify it at each commit that moves one) and a thread re-reads them when notified,
    and at least every ``REFRESH_S`` (a backstop for servers whose notifications do not arrive, e.g. behind
    a transaction-pooling proxy). ``get`` answers from the cache only while that thread is alive and fresh,
    and not while a notification waits unread on its socket. This process's own writes ``invalidate`` it,
    so they are seen by the next call here; another process's commit is seen once its notification
    arrives (the time the server and this process's listener thread take to deliver it), or by the
    backstop re-read at the latest, as SQLite's beacon (store/beacon.py) has a backstop for writers that
    do not publish."""

    REFRESH_S = 0.1

    def __init__(self, url: str) -> None:
        self.con = psycopg.connect(url, autocommit=True, application_name="charter-generations")
        self.con.execute(f"LISTEN {CHANNEL}")
        self.fd = self.con.fileno()
        self.lock = threading.Lock()
        self.epoch = 0
        self.value: tuple | None = None
        self.until = 0.0
        self.stopped = False
        self._refresh()
        self.thread = threading.Thread(target=self._run, name="charter-generations", daemon=True)
        self.thread.start()

    def _refresh(self) -> None:
        with self.lock:
            e = self.epoch
        g = tuple(self.con.execute(_GENERATIONS).fetchone())  # read after LISTEN: a later commit notifies again
        with self.lock:
            if e == self.epoch:  # no write of this process committed meanwhile (its value could predate it)
                self.value, self.until = g, _time.monotonic() + 5 * self.REFRESH_S

    def _run(self) -> None:
        try:
            while not self.stopped:
                for _ in self.con.notifies(timeout=self.REFRESH_S, stop_after=1):
                    pass
                if not self.stopped:
                    self._refresh()
        except Exception:  # the connection is gone: get() answers None, and the store reads the database
            pass
        finally:
            with self.lock:
                self.value = None
            try:
                self.con.close()
            except Exception:
                pass

    def get(self) -> tuple | None:
        with self.lock:
            got = self.value if self.value is not None and _time.monotonic() < self.until else None
        if got is not None and select.select([self.fd], [], [], 0)[0]:
            return None  # a notification arrived that the thread has not read yet: read the database
        return got

    def invalidate(self) -> None:
        with self.lock:
            self.epoch += 1
            self.value = None

    def stop(self) -> None:
        self.stopped = True  # the thread closes its connection within REFRESH_S


_listening: "weakref.WeakSet[PostgresStore]" = weakref.WeakSet()


def _forget_listeners_in_child() -> None:
    # a forked child has no listener thread: it starts its own at its first generations() call
    for store in list(_listening):
        store._cache = None


os.register_at_fork(after_in_child=_forget_listeners_in_child)
