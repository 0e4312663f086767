"""The SQLite registry (default). WAL mode; each write is one transaction.

Tables: ``assets`` (the canonical charter JSON; immutable by trigger), typed ``edges``,
``lineage`` (each asset's compiled lineage, see core/lineage.py: what a decision reads, in
one primary-key lookup), the transitive closure in both directions — ``closure``
(descendant, ancestor, distance) for upstream lookups and ``downstream`` (ancestor,
distance, descendant id), whose key order is the order a trace returns — ``content`` (data
and weights digest -> asset), and the append-only history: ``withdrawal_events`` (withdraw and
lift; the current state is each asset's last event), ``owner_withdrawals``, ``restrictions`` and
``restriction_lifts``, ``properties``, ``signals`` (sites' web consent snapshots), ``events`` and ``audit``. Triggers refuse UPDATE and DELETE
on all of them. Registered versions are immutable and only point at registered assets, so
everything but that history is written once, at registration.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time as _time
from contextlib import contextmanager
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from charter.core import lineage as lineage_mod
from charter.core.assets import PROPAGATING, Asset, Edge, Event, Restriction, Withdrawal
from charter.core.digests import content_digests
from charter.core.lineage import Lineage, closure
from charter.core.sql import like_contains, literal
from charter.errors import Conflict, StoreError
from charter.store import migrations
from charter.store.assets import Hop
from charter.store.base import Store
from charter.store.beacon import Beacon
from charter.store.common import now
from charter.store.consent import SQLConsent
from charter.store.deferred import DeferredLog
from charter.store.dialect import SQLITE
from charter.store.events import SQLEvents
from charter.store.gateway import SQLGateway
from charter.store.identity import SQLIdentity
from charter.store.signals import SQLSignals
from charter.store.signatures import SQLSignatures

SCHEMA_VERSION = migrations.latest("sqlite")  # the schema this code writes: its newest migration (store/migrations/sqlite)

SIGNATURES_SINCE = 8  # the schema that added the ``signatures`` table (charter.trust)

CACHE_KIB = 65536  # SQLite page cache per connection (the default, 2 MiB, thrashes on large registries)
MMAP_BYTES = 2**31  # read pages through mmap: measured ~14 -> ~8 us for a cold lookup at 1M assets

_LINEAGE = """SELECT id, doc FROM assets WHERE id=?1 UNION ALL
SELECT a.id, a.doc FROM closure c JOIN assets a ON a.rid=c.ancestor
WHERE c.descendant=(SELECT rid FROM assets WHERE id=?1)"""

# A trace reads one key range of ``downstream``, already in (depth, id) order; each depth comes
# back as one newline-joined string, far cheaper than a Python row per descendant.
_DOWNSTREAM = """SELECT depth, group_concat(descendant, char(10)), count(*) FROM downstream
WHERE ancestor=(SELECT rid FROM assets WHERE id=?) AND depth<=? GROUP BY depth ORDER BY depth"""
_DOWNSTREAM_AT = "SELECT descendant FROM downstream WHERE ancestor=(SELECT rid FROM assets WHERE id=?) AND depth=? ORDER BY descendant"

_GENERATIONS = "SELECT (SELECT n FROM generations WHERE topic='policy'), (SELECT n FROM generations WHERE topic='keys')"

_hop = partial(tuple.__new__, Hop)  # _hop((asset, depth)) -> Hop, built without a Python-level call


class SQLiteStore(DeferredLog, SQLEvents, SQLConsent, SQLGateway, SQLIdentity, SQLSignatures, SQLSignals, Store):
    """The concerns' shared SQL (store/events.py, consent.py, gateway.py, identity.py, signatures.py,
    signals.py) in SQLite's dialect, group commit (store/deferred.py), and the asset reads and writes tuned for SQLite."""

    dialect = SQLITE

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self._start_deferred()  # decisions waiting to be appended, and the lock every write takes
        self._beacon: Beacon | None = None
        self._staged: dict[int, dict] = {}  # thread -> the action record of the write it is about to make
        if not self.path.exists() and not create:
            raise StoreError(f"no registry at {self.path}", hint="run `charter init` or pass --registry")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            # synchronous=FULL: in WAL mode NORMAL can lose the last commits on power loss, and a lost
            # withdrawal or audit entry is a broken promise (cost measured in README "Performance").
            for pragma in ("journal_mode=WAL", "synchronous=FULL", f"cache_size=-{CACHE_KIB}", f"mmap_size={MMAP_BYTES}"):
                self.db.execute(f"PRAGMA {pragma}")
            self.migrated = migrations.apply(self)  # store/migrations: once, under the write lock; newer refused
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open registry {self.path}: {e}", hint="check the path, or `charter init` a new registry") from None
        self._beacon = Beacon.open(self.path)  # store/beacon.py: generations() without a read per call
        self._seen: tuple = (None, None, 0.0)  # beacon bytes, the generations read then, read again after
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_again = False
        self.checkpointed: tuple | None = None  # the last background checkpoint's (busy, WAL frames, frames copied)

    @contextmanager
    def _checkpoint_later(self):
        """A write whose COMMIT does not copy the WAL into the database file (SQLite's automatic checkpoint,
        which the committing connection runs inside COMMIT: 500,000 assets, COMMIT 2.5 s with it, 0.8 s without);
        a thread with its own connection does it after, while this one goes on (as PostgreSQL's checkpointer
        does): the commit is durable in the WAL either way, and readers see it there meanwhile. ``close``
        waits for that thread."""
        with self._lock:  # (the connection's setting: under the lock every use of it takes)
            was = self.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            self.db.execute("PRAGMA wal_autocheckpoint=0")
        try:
            yield
        finally:
            with self._lock:
                self.db.execute(f"PRAGMA wal_autocheckpoint={was}")
        with self._lock:
            self._checkpoint_again = True
            if self._checkpointer is None:  # (one running takes this request on before it ends: _checkpoint)
                self._checkpointer = threading.Thread(target=self._checkpoint, name="charter-checkpoint", daemon=True)
                self._checkpointer.start()

    def _checkpoint(self) -> None:
        # mode=rw: a registry removed meanwhile is not created again, empty (the URI quotes any odd character)
        uri = self.path.absolute().as_uri() + "?mode=rw"
        while True:
            with self._lock:  # (ends only with no request left: a request made after sees no thread and starts one)
                if not self._checkpoint_again:
                    self._checkpointer = None
                    return
                self._checkpoint_again = False
            try:
                db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
                try:  # PASSIVE: never waits for readers or writers; frames it cannot copy yet, a later checkpoint copies
                    self.checkpointed = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                finally:
                    db.close()
            except sqlite3.Error:  # housekeeping only: the commit is in the WAL, and SQLite's next automatic checkpoint copies it
                self.checkpointed = None

    def close(self) -> None:
        self._stop_timer()
        running = self._checkpointer
        if running is not None:  # (a CLI's large `charter add` ends with its WAL in the database file)
            running.join()
        # under the write lock: the flusher thread may be inside a transaction on this connection right now (a
        # timer that fired before cancel()), and closing a connection another thread is using crashes the process
        with self._lock:
            self.flush()
            self.db.close()
            if self._beacon is not None:
                self._beacon.close()
                self._beacon = None

    @contextmanager
    def _tx(self, publish: bool = True):
        """One write transaction (BEGIN IMMEDIATE), deferred events first; after its COMMIT the generations
        are published to the beacon (``publish``: every write but the audit log's, which moves none)."""
        with self._lock, _store_errors(self.path):
            self.db.execute(self.dialect.write_lock)
            batch = None
            try:
                if self._pending:  # deferred events first: the log keeps the order things happened in
                    batch = self._write_pending(self.db)
                staged = self._staged.pop(threading.get_ident(), None)
                if staged is not None:  # the record of this very write: committed with it or not at all
                    self._insert_action(self.db, staged)
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                if batch:
                    self._pending[:0] = batch
                raise
            else:
                self.db.execute("COMMIT")
                if publish and self._beacon is not None:
                    try:
                        self._beacon.publish(self._read_generations)
                    except (OSError, sqlite3.Error):  # committed all the same; readers see it by the backstop
                        pass

    def _audit_tx(self):
        # BEGIN IMMEDIATE takes the write lock first, so the last hash read is still the last one when the
        # entry is written, whichever process appends next; the audit log moves no generation: nothing to publish
        return self._tx(publish=False)

    _action_tx = _audit_tx

    def _rows(self, query: str, args: Sequence = ()) -> list[tuple]:
        return self.db.execute(query, args).fetchall()

    def _one(self, query: str, args: Sequence = ()) -> tuple | None:
        return self.db.execute(query, args).fetchone()

    def _in_chunks(self, query: str, ids: Iterable[str]) -> Iterator[tuple]:
        """Run ``query`` (with one ``{}`` for the placeholders) over ids, 500 at a time."""
        ids = list(ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            yield from self.db.execute(query.format(",".join("?" * len(chunk))), chunk)

    # --- reads -----------------------------------------------------------------
    def get_many(self, ids: Iterable[str]) -> dict[str, Asset]:
        return {i: Asset.from_json(json.loads(doc)) for i, doc in self._in_chunks("SELECT id, doc FROM assets WHERE id IN ({})", ids)}

    def _known(self, ids: Iterable[str]) -> set[str]:
        return {i for (i,) in self._in_chunks("SELECT id FROM assets WHERE id IN ({})", ids)}

    def find(self, kind: str | None = None, name: str | None = None) -> Iterator[Asset]:
        q, args = "SELECT doc FROM assets", []
        conds = []
        if kind is not None:
            conds.append("kind=?"); args.append(kind)
        if name is not None:
            conds.append("name=?"); args.append(name)
        if conds:
            q += " WHERE " + " AND ".join(conds)
        for (doc,) in self.db.execute(q + " ORDER BY rid", args).fetchall():
            yield Asset.from_json(json.loads(doc))

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM assets").fetchone()[0]

    def upstream(self, asset: str) -> list[tuple[str, int]]:
        q = """SELECT a.id, c.depth FROM closure c JOIN assets a ON a.rid=c.ancestor
               WHERE c.descendant=(SELECT rid FROM assets WHERE id=?) ORDER BY c.depth, a.id"""
        return self.db.execute(q, (asset,)).fetchall()

    def lineage(self, asset: str) -> list[Asset]:
        return [Asset.from_json(json.loads(d)) for _, d in self.db.execute(_LINEAGE, (asset,))]

    def compiled(self, asset: str) -> Lineage | None:
        row = self.db.execute("SELECT doc FROM lineage WHERE id=?", (asset,)).fetchone()
        return lineage_mod.loads(row[0]) if row else None

    def _write_terms(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Inside a write transaction: intern each terms key and point the asset (rid, id) at it. The id is
        repeated in asset_terms so that listing every asset's terms reads that small table alone."""
        keys = dict.fromkeys(k for _, _, k in rows)  # new keys numbered in the order they first appear, as in bulk.py
        tid = dict(self._in_chunks("SELECT doc, tid FROM terms WHERE doc IN ({})", keys))
        new = [k for k in keys if k not in tid]
        if new:
            first = (self.db.execute("SELECT max(tid) FROM terms").fetchone()[0] or 0) + 1
            tid.update((k, first + i) for i, k in enumerate(new))
            self.db.executemany("INSERT INTO terms VALUES (?,?)", ((tid[k], k) for k in new))
        self.db.executemany("INSERT INTO asset_terms VALUES (?,?,?)", ((r, tid[k], i) for r, i, k in rows))

    def terms_id(self, asset: str) -> tuple[int, int] | None:
        return self.db.execute("SELECT t.tid, t.rid FROM assets a JOIN asset_terms t ON t.rid=a.rid WHERE a.id=?", (asset,)).fetchone()

    def terms_ids(self, ids: Iterable[str] | None = None, kind: str | None = None, after: int | None = None) -> list[tuple[str, int | None, int]]:
        if after is not None:
            return self.db.execute("SELECT a.id, t.tid, a.rid FROM assets a LEFT JOIN asset_terms t ON t.rid=a.rid WHERE a.rid > ? ORDER BY a.rid",
                                   (after,)).fetchall()
        if ids is not None:  # one statement for any number of ids (json_each), not one per 500
            return self.db.execute("SELECT a.id, t.tid, a.rid FROM json_each(?) j JOIN assets a ON a.id=j.value LEFT JOIN asset_terms t ON t.rid=a.rid",
                                   (json.dumps(list(ids)),)).fetchall()
        if self.db.execute("SELECT (SELECT count(*) FROM asset_terms) = (SELECT max(rid) FROM assets)").fetchone()[0]:
            rows = self.db.execute("SELECT id, tid, rid FROM asset_terms ORDER BY rid").fetchall()
            return [r for r in rows if r[0].startswith(kind + "/")] if kind else rows
        q = "SELECT a.id, t.tid, a.rid FROM assets a LEFT JOIN asset_terms t ON t.rid=a.rid"
        return self.db.execute(q + (" WHERE a.kind=? ORDER BY a.rid" if kind else " ORDER BY a.rid"), (kind,) if kind else ()).fetchall()

    def summaries(self, ids: Sequence[str]) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        # the listing's columns only, read by SQLite (json_extract): decoding 230,000 whole charters in Python takes seconds
        rows = self.db.execute("SELECT a.id, a.kind, a.name, a.version, json_extract(a.doc, '$.licenses') FROM json_each(?) j "
                               "JOIN assets a ON a.id=j.value ORDER BY j.key", (json.dumps(list(ids)),)).fetchall()
        return [(i, k, n, v, tuple(json.loads(lic)) if lic else ()) for i, k, n, v, lic in rows]

    def listing(self, kind: str | None = None, contains: Sequence[str] = (), limit: int | None = None) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        # the ids are matched on the id index alone (LIKE is ASCII case-insensitive), then only the matches are read
        # with their licences from the small asset_listing table: no charter is decoded
        conds, args = [], []
        for w in contains:
            conds.append(f"id {self.dialect.like} ? ESCAPE '\\'")
            args.append(like_contains(w))
        if kind:
            conds.append("id >= ? AND id < ?")  # '0' follows '/': every id that starts with "kind/"
            args += [kind + "/", kind + "0"]
        # (unfiltered, the table is read in rid order and stops at the limit)
        ids = "SELECT rid, id FROM assets" + (" INDEXED BY sqlite_autoindex_assets_1 WHERE " + " AND ".join(conds) if conds else "")
        q = f"SELECT m.id, l.licenses FROM ({ids}) m JOIN asset_listing l ON l.rid=m.rid ORDER BY m.rid"
        if limit is not None:
            q += " LIMIT ?"
            args.append(limit)
        rows = self.db.execute(q, args).fetchall()
        memo: dict[str, tuple[str, ...]] = {}  # a few hundred distinct licence lists: each decoded once
        out = []
        for i, lic in rows:
            got = memo.get(lic)
            if got is None:
                got = memo[lic] = tuple(json.loads(lic))
            k, rest = i.split("/", 1)
            n, v = rest.rsplit("@", 1)
            out.append((i, k, n, v, got))
        return out

    def terms_index(self, upto: int) -> dict[str, int]:
        return dict(self.db.execute("SELECT id, tid FROM asset_terms WHERE rid <= ?", (upto,)))

    def terms_all(self) -> list[int]:
        return [t for (t,) in self.db.execute("SELECT tid FROM terms")]

    def with_terms(self, tids: Iterable[int], upto: int, kind: str | None = None, licenses: bool = False) -> list[tuple]:
        # the membership test runs in SQLite over the small asset_terms table: Python sees only the rows it returns
        q = ("SELECT t.rid, t.id, t.tid, l.licenses FROM asset_terms t JOIN asset_listing l ON l.rid=t.rid" if licenses else
             "SELECT t.rid, t.id, t.tid FROM asset_terms t") + " WHERE t.rid <= ? AND t.tid IN (SELECT value FROM json_each(?))"
        args: list = [upto, json.dumps(sorted(set(tids)))]
        if kind:
            q += " AND t.id >= ? AND t.id < ?"
            args += [kind + "/", kind + "0"]  # '0' follows '/': every id that starts with "kind/"
        rows = self.db.execute(q + " ORDER BY t.rid", args).fetchall()
        if licenses:  # a few hundred distinct licence lists among a million assets: each decoded once
            memo: dict[str, tuple[str, ...]] = {}
            out = []
            for r, i, t, lic in rows:
                got = memo.get(lic)
                if got is None:
                    got = memo[lic] = tuple(json.loads(lic))
                out.append((r, i, t, got))
            return out
        return rows

    def assets_version(self) -> int:
        return self.db.execute("SELECT max(rid) FROM assets").fetchone()[0] or 0

    def terms_docs(self, tids: Iterable[int]) -> dict[int, str]:
        return dict(self._in_chunks("SELECT tid, doc FROM terms WHERE tid IN ({})", tids))

    def _compiled_many(self, ids: Iterable[str]) -> dict[str, Lineage]:
        return {i: lineage_mod.loads(d) for i, d in self._in_chunks("SELECT id, doc FROM lineage WHERE id IN ({})", ids)}

    def downstream(self, asset: str, depth: int | None = None) -> list[Hop]:
        out: list[Hop] = []
        for d, joined, n in self.db.execute(_DOWNSTREAM, (asset, depth if depth is not None else 2**62)).fetchall():
            ids = joined.split("\n")
            if len(ids) != n:  # an id containing a newline: read that depth row by row
                ids = [i for (i,) in self.db.execute(_DOWNSTREAM_AT, (asset, d))]
            out += map(_hop, zip(ids, repeat(d)))
        return out

    def children(self, asset: str) -> list[Edge]:
        q = """SELECT c.id, e.relation FROM edges e JOIN assets c ON c.rid=e.child
               WHERE e.parent=(SELECT rid FROM assets WHERE id=?) ORDER BY c.rid"""
        return [Edge(child, asset, rel) for child, rel in self.db.execute(q, (asset,))]

    def child_counts(self, ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(ids))
        q = ("SELECT a.id, count(*) FROM assets a JOIN edges e ON e.parent=a.rid WHERE a.id IN ({}) "
             f"AND e.relation IN ({','.join(map(literal, PROPAGATING))}) GROUP BY a.id")
        return {**dict.fromkeys(ids, 0), **dict(self._in_chunks(q, ids))}

    def withdrawals(self) -> dict[str, Withdrawal]:
        # CROSS JOIN pins the loop order: walk the small withdrawals table and look each asset up
        # by rid; left alone, the planner scanned the whole id index (~100 ms at 1M assets).
        # the current state: each asset's last withdraw/lift event, when it is a withdrawal
        q = ("SELECT a.id, w.reason, w.time FROM withdrawal_events w CROSS JOIN assets a ON a.rid=w.asset "
             "WHERE w.seq IN (SELECT max(seq) FROM withdrawal_events GROUP BY asset) AND w.action='withdraw' ORDER BY a.id")
        return {i: Withdrawal(i, r, t) for i, r, t in self.db.execute(q)}

    def withdrawals_version(self) -> object:
        # moved by triggers on every policy table, by any connection; not by audit appends, which
        # commit hundreds of times a second under load (PRAGMA data_version moved with each of them)
        return self.db.execute("SELECT n FROM generations WHERE topic='policy'").fetchone()[0]

    # --- writes ----------------------------------------------------------------
    def log(self, type: str, asset: str, data: Mapping) -> Event:
        if self._pending:
            self.flush()
        t = now()
        # One statement outside a transaction is its own atomic transaction: no BEGIN/COMMIT round trips.
        with self._lock, _store_errors(self.path):
            cur = self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                                  (t, type, asset, json.dumps(data, sort_keys=True)))
        return Event(cur.lastrowid, t, type, asset, dict(data))

    def _holders(self, digests: Iterable[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for d, i in self._in_chunks("SELECT c.digest, a.id FROM content c JOIN assets a ON a.rid=c.asset WHERE c.digest IN ({})", digests):
            out.setdefault(d, set()).add(i)
        return out

    def _write_assets(self, assets: Sequence[Asset], lineages: Mapping[str, Lineage], time: str,
                      inherit: Callable[[], tuple[Sequence[Withdrawal], Sequence[Restriction]]]) -> None:
        docs = [a.canonical() for a in assets]  # serialise (and hash) once, before writing
        hashes = [Asset.hash_of(doc) for doc in docs]
        ups = {a.id: closure(lineages[a.id]) for a in assets}
        with self._tx():
            cur = self.db.cursor()
            withdrawals, restrictions = inherit()  # under the write lock: see Store._under_write_lock
            # We hold the write lock, so the next rowids are ours to assign: no read-back needed.
            first = (self.db.execute("SELECT max(rid) FROM assets").fetchone()[0] or 0) + 1
            rid = {a.id: first + k for k, a in enumerate(assets)}
            cur.executemany(
                "INSERT INTO assets(rid, id, kind, name, version, hash, doc, registered) VALUES (?,?,?,?,?,?,?,?)",
                ((rid[a.id], a.id, a.kind, a.name, a.version, h, doc, time) for a, h, doc in zip(assets, hashes, docs)),
            )
            others = ({x for up in ups.values() for x in up} | {e.parent for a in assets for e in a.derived_from}) - rid.keys()
            rid.update(self._in_chunks("SELECT id, rid FROM assets WHERE id IN ({})", others))
            cur.executemany("INSERT INTO edges VALUES (?,?,?)",
                            ((rid[a.id], rid[e.parent], e.relation) for a in assets for e in a.derived_from))
            cur.executemany("INSERT INTO lineage VALUES (?,?)", ((a.id, lineage_mod.dumps(lineages[a.id])) for a in assets))
            self._write_terms([(rid[a.id], a.id, lineage_mod.terms_key(lineages[a.id])) for a in assets])
            cur.executemany("INSERT INTO asset_listing VALUES (?,?)", ((rid[a.id], json.dumps(list(a.licenses))) for a in assets))
            cur.executemany("INSERT INTO closure VALUES (?,?,?)",
                            ((rid[a.id], rid[anc], d) for a in assets for anc, d in ups[a.id].items()))
            cur.executemany("INSERT INTO downstream VALUES (?,?,?)",
                            ((rid[anc], d, a.id) for a in assets for anc, d in ups[a.id].items()))
            cur.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                            ((time, "register", a.id, json.dumps({"hash": h})) for a, h in zip(assets, hashes)))
            cur.executemany("INSERT OR IGNORE INTO content VALUES (?,?)", ((d, rid[a.id]) for a in assets for d in content_digests(a)))
            actor = self.actor or "unknown"
            cur.executemany("INSERT INTO registrations VALUES (?,?)", ((rid[a.id], actor) for a in assets))
            for w in withdrawals:
                self._insert_withdrawal(w, "withdraw")
            for r in restrictions:
                self._insert_restriction(r)

    def _insert_withdrawal(self, w: Withdrawal, action: str) -> None:
        self._add_withdrawal(self.db, w, action)  # store/events.py, inside _write_assets's transaction

    def _insert_restriction(self, r: Restriction) -> None:
        self._add_restriction(self.db, r)

    # --- the gateway's generations ----------------------------------------------------------------
    def api_keys_version(self) -> object:
        return self.db.execute("SELECT n FROM generations WHERE topic='keys'").fetchone()[0]

    def generations(self) -> tuple[object, object]:
        # The gateway asks on every request: read the database only when the beacon's bytes moved, or
        # BACKSTOP_S after the last read (store/beacon.py says why, and what the backstop is for).
        b = self._beacon
        if b is None:
            return self._read_generations()
        seen, gens, until = self._seen
        now_b, t = b.read(), _time.monotonic()
        if now_b == seen and t < until:
            return gens
        gens = self._read_generations()  # after the bytes were read: a publish since then shows next time
        self._seen = (now_b, gens, t + b.BACKSTOP_S)
        return gens

    def _read_generations(self) -> tuple[int, int]:
        return self.db.execute(_GENERATIONS).fetchone()

    def audit_writer(self) -> "SQLiteStore":
        return SQLiteStore(self.path, create=False)

@contextmanager
def _store_errors(path: Path):
    """SQLite's own errors as one line saying what happened and what to do."""
    try:
        yield
    except sqlite3.IntegrityError as e:
        raise Conflict(f"another process wrote the same record at the same time ({e})",
                       hint="run the command again: it sees the other write now", where=str(path)) from None
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise StoreError("the registry is locked by another process (waited 30 s)",
                             hint="wait for the other charter command (or server) to finish, then run this again", where=str(path)) from None
        raise StoreError(f"the registry could not be written ({e})", hint="check the file and its folder are writable", where=str(path)) from None
    except sqlite3.DatabaseError as e:
        raise StoreError(f"the registry could not be written ({e})", hint="check the registry file", where=str(path)) from None
