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

import atexit
import datetime as _dt
import json
import os
import sqlite3
import threading
import time as _time
import weakref
from contextlib import contextmanager
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from charter.core import lineage as lineage_mod
from charter.core.assets import Asset, Edge, Event, Property, Restriction, Withdrawal
from charter.core.digests import content_digests
from charter.core.identity import User
from charter.core.lineage import Lineage, closure
from charter.errors import Conflict, StoreError
from charter.store import migrations
from charter.store.beacon import Beacon
from charter.store.base import GENESIS, ApiKey, AuditEntry, Hop, SignalSnapshot, SignatureRecord, Store, _evaluate_events, audit_json, chain_hash, now

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


_live: "weakref.WeakSet[SQLiteStore]" = weakref.WeakSet()


def _event_json(d) -> str:
    return json.dumps(d.to_json() if hasattr(d, "to_json") else d, sort_keys=True)


def _flush_ref(ref) -> None:
    store = ref()
    if store is None:
        return
    store._timer = None
    try:
        # Serialise first, one event at a time, letting the caller's thread run between them (sleep(0)
        # yields the GIL, every 0.1 ms): a denial's reasons take tens of microseconds to build, and a caller deciding
        # meanwhile must not wait for the whole group (it would otherwise wait up to the 5 ms switch interval).
        with store._lock:
            p = store._pending
            last = _time.perf_counter()
            for i in range(len(p)):
                t, ty, a, d = p[i]
                if type(d) is not str:
                    p[i] = (t, ty, a, _event_json(d))
                    if _time.perf_counter() - last > 1e-4:
                        _time.sleep(0)
                        last = _time.perf_counter()
        store.flush()
    except Exception:  # a closed store or a failed write: the next write or close tries again
        pass


def _forget_in_child() -> None:
    # a forked child (a DataLoader worker, multiprocessing) inherits the parent's queued events: only the
    # parent writes them, or each would be logged twice; the child's copy of the timer thread does not exist
    for store in list(_live):
        store._pending.clear()
        store._timer = None


os.register_at_fork(after_in_child=_forget_in_child)


@atexit.register
def _flush_all() -> None:
    for store in list(_live):
        try:
            store.flush()
        except Exception:
            pass


class SQLiteStore(Store):
    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        # decisions waiting to be appended (see log_deferred), and the lock every write takes so that the
        # flusher thread and the caller never interleave statements of two transactions on one connection
        self._pending: list[tuple[float, str, str, object]] = []
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
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

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        # under the write lock: the flusher thread may be inside a transaction on this connection right now (a
        # timer that fired before cancel()), and closing a connection another thread is using crashes the process
        with self._lock:
            self.flush()
            self.db.close()
            if self._beacon is not None:
                self._beacon.close()
                self._beacon = None

    DEFER_MAX = 1024
    DEFER_S = 0.05

    def log_deferred(self, type: str, asset: str, data) -> None:
        """Append an event in a group with others (group commit): at most ``DEFER_S`` seconds or
        ``DEFER_MAX`` events later, and always before this store's next write, its next read of the events,
        and its close (or the interpreter's exit). ``data``: a mapping, or an object whose ``to_json()``
        gives it, called when the group is written (a denial's reasons are built then, not on the caller's
        path). The event keeps the time it was logged. A process killed outright loses at most the
        last ``DEFER_S`` seconds of such events; withdrawals, restrictions and audit records are never deferred."""
        p = self._pending
        p.append((_time.time(), type, asset, data))
        if len(p) == 1 or len(p) >= self.DEFER_MAX:
            self.grouped()

    @property
    def pending(self) -> list:
        return self._pending

    def grouped(self) -> None:
        if len(self._pending) >= self.DEFER_MAX:
            self.flush()
        elif self._pending:
            self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            _live.add(self)
            ref = weakref.ref(self)
            t = self._timer = threading.Timer(self.DEFER_S, _flush_ref, (ref,))
            t.daemon = True
            t.start()

    def flush(self) -> None:
        """Write the deferred events now (one transaction)."""
        if self._pending:
            with self._tx():
                pass

    def _write_pending(self) -> list:
        """Insert the deferred events (inside the caller's transaction); returns them, to put back on a rollback."""
        batch = self._pending[:]  # the caller's thread may append meanwhile: only these are removed
        rows = []
        for t, ty, a, d in batch:
            iso = _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="microseconds")
            rows.append((iso, ty, a, d if type(d) is str else _event_json(d)))
        self.db.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)", rows)
        del self._pending[:len(batch)]
        return batch

    @contextmanager
    def _tx(self, publish: bool = True):
        """One write transaction (BEGIN IMMEDIATE), deferred events first; after its COMMIT the generations
        are published to the beacon (``publish``: every write but the audit log's, which moves none)."""
        with self._lock, _store_errors(self.path):
            self.db.execute("BEGIN IMMEDIATE")
            batch = None
            try:
                if self._pending:  # deferred events first: the log keeps the order things happened in
                    batch = self._write_pending()
                staged = self._staged.pop(threading.get_ident(), None)
                if staged is not None:  # the record of this very write: committed with it or not at all
                    self._insert_action(staged)
                yield
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
            conds.append("id LIKE ? ESCAPE '\\'")
            args.append("%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
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

    def withdrawals(self) -> dict[str, Withdrawal]:
        # CROSS JOIN pins the loop order: walk the small withdrawals table and look each asset up
        # by rid; left alone, the planner scanned the whole id index (~100 ms at 1M assets).
        # the current state: each asset's last withdraw/lift event, when it is a withdrawal
        q = ("SELECT a.id, w.reason, w.time FROM withdrawal_events w CROSS JOIN assets a ON a.rid=w.asset "
             "WHERE w.seq IN (SELECT max(seq) FROM withdrawal_events GROUP BY asset) AND w.action='withdraw' ORDER BY a.id")
        return {i: Withdrawal(i, r, t) for i, r, t in self.db.execute(q)}

    def owner_withdrawals(self) -> dict[str, Withdrawal]:
        return {o: Withdrawal(o, r, t) for o, r, t in self.db.execute("SELECT owner, reason, time FROM owner_withdrawals ORDER BY owner")}

    def _write_owner_withdrawals(self, ws: Sequence[Withdrawal]) -> None:
        with self._tx():
            self.db.executemany("INSERT INTO owner_withdrawals VALUES (?,?,?)", ((w.asset, w.reason, w.time) for w in ws))
            self.db.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                                ((w.time, "withdraw-owner", w.asset, json.dumps({"reason": w.reason})) for w in ws))

    def withdrawals_version(self) -> object:
        # moved by triggers on every policy table, by any connection; not by audit appends, which
        # commit hundreds of times a second under load (PRAGMA data_version moved with each of them)
        return self.db.execute("SELECT n FROM generations WHERE topic='policy'").fetchone()[0]

    def events(self, after: int = 0, type: str | None = None, asset: str | None = None, limit: int | None = None) -> list[Event]:
        self.flush()
        q, args = "SELECT seq, time, type, asset, data FROM events WHERE seq>?", [after]
        if type is not None:
            q += " AND type=?"; args.append(type)
        if asset is not None:
            q += " AND asset=?"; args.append(asset)
        q += " ORDER BY seq"
        if limit:
            q += f" LIMIT {int(limit)}"
        return [Event(s, t, ty, a, json.loads(d)) for s, t, ty, a, d in self.db.execute(q, args)]

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

    def log_many(self, events: Sequence[tuple[str, str, Mapping]]) -> None:
        if not events:
            return
        t = now()
        dumps = json.dumps
        with self._tx():
            self.db.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                                [(t, ty, a, dumps(d, sort_keys=True)) for ty, a, d in events])

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

    def _write_withdrawal(self, w: Withdrawal) -> None:
        with self._tx():
            self._still(w.asset, "withdraw")
            self._insert_withdrawal(w, "withdraw")

    def _write_lift(self, w: Withdrawal) -> None:
        with self._tx():
            self._still(w.asset, "lift")
            self._insert_withdrawal(w, "lift")

    def _still(self, asset: str, action: str) -> None:
        # Checked again under the write lock: two processes withdrawing (or lifting) the same asset at once both
        # passed the check made before the transaction; only the first may write.
        row = self.db.execute("SELECT e.action, e.time FROM withdrawal_events e JOIN assets a ON a.rid=e.asset WHERE a.id=? "
                              "ORDER BY e.seq DESC LIMIT 1", (asset,)).fetchone()
        withdrawn = row is not None and row[0] == "withdraw"
        if action == "withdraw" and withdrawn:
            raise Conflict(f"{asset} was already withdrawn at {row[1]} (by another process, just now)", hint="nothing to do")
        if action == "lift" and not withdrawn:
            raise Conflict(f"{asset} is not withdrawn (another process lifted it just now)", hint="nothing to lift")

    def _insert_withdrawal(self, w: Withdrawal, action: str) -> None:
        self.db.execute("INSERT INTO withdrawal_events(asset, action, reason, time) SELECT rid, ?, ?, ? FROM assets WHERE id=?",
                        (action, w.reason, w.time, w.asset))
        self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)", (w.time, action, w.asset, json.dumps({"reason": w.reason})))

    # --- after registration: restrictions and evaluated properties ------------------------------
    def restrictions(self) -> dict[str, tuple[Restriction, ...]]:
        out: dict[str, list[Restriction]] = {}
        # the current ones: those after the asset's last lift (a lift records the last seq it covers)
        q = ("SELECT asset, deny, reason, time FROM restrictions r WHERE r.seq > "
             "coalesce((SELECT max(upto) FROM restriction_lifts l WHERE l.asset=r.asset), 0) ORDER BY seq")
        for a, d, r, t in self.db.execute(q):
            out.setdefault(a, []).append(Restriction(a, tuple(json.loads(d)), r, t))
        return {a: tuple(rs) for a, rs in out.items()}

    def _write_restriction(self, r: Restriction) -> None:
        with self._tx():
            self._insert_restriction(r)

    def _write_restriction_lift(self, lift: Restriction) -> None:
        with self._tx():
            self.db.execute("INSERT INTO restriction_lifts(asset, upto, reason, time) "
                            "SELECT ?, max(seq), ?, ? FROM restrictions WHERE asset=?", (lift.asset, lift.reason, lift.time, lift.asset))
            self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                            (lift.time, "lift-restrictions", lift.asset, json.dumps({"deny": list(lift.deny), "reason": lift.reason})))

    def _insert_restriction(self, r: Restriction) -> None:
        self.db.execute("INSERT INTO restrictions(asset, deny, reason, time) VALUES (?,?,?,?)", (r.asset, json.dumps(list(r.deny)), r.reason, r.time))
        self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                        (r.time, "restrict", r.asset, json.dumps({"deny": list(r.deny), "reason": r.reason})))

    def properties(self, asset: str) -> list[Property]:
        return [Property.from_json(json.loads(d)) for (d,) in self.db.execute("SELECT doc FROM properties WHERE asset=? ORDER BY seq", (asset,))]

    def _write_properties(self, props: Sequence[Property]) -> None:
        docs = [json.dumps(p.to_json(), sort_keys=True, allow_nan=False) for p in props]  # may fail: before writing
        with self._tx():
            self.db.executemany("INSERT INTO properties(asset, benchmark, metric, doc) VALUES (?,?,?,?)",
                                ((p.asset, p.benchmark, p.metric, d) for p, d in zip(props, docs)))
            self.db.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                                ((t, "evaluate", a, json.dumps(e, sort_keys=True)) for (a, t), e in _evaluate_events(props).items()))

    # --- web consent signals: snapshots as the sites served them (data/signals.py reads them) -----------
    def _write_signals(self, rows: Sequence[SignalSnapshot]) -> int:
        with self._tx():
            before = self.db.total_changes
            self.db.executemany("INSERT OR IGNORE INTO signals(domain, kind, fetched_at, sha256, body, source, imported) VALUES (?,?,?,?,?,?,?)",
                                ((r.domain, r.kind, r.fetched_at, r.sha256, r.body, r.source, r.imported) for r in rows))
            added = self.db.total_changes - before
            if added:
                self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                                (now(), "import-signals", "signals", json.dumps({"snapshots": added})))
        return added

    def signals(self, domains: Iterable[str] | None = None) -> list[SignalSnapshot]:
        q = "SELECT domain, kind, fetched_at, sha256, body, source, imported FROM signals"
        if domains is None:
            return [SignalSnapshot(*r) for r in self.db.execute(q + " ORDER BY domain, kind, fetched_at, seq")]
        return [SignalSnapshot(*r) for r in self.db.execute(q + " WHERE domain IN (SELECT value FROM json_each(?)) ORDER BY domain, kind, fetched_at, seq",
                                                            (json.dumps(sorted(set(domains))),))]

    # --- the gateway: API keys and the hash-chained audit log --------------------------------
    def _write_api_key(self, key: ApiKey) -> None:
        with self._tx():  # a transaction of its own: its COMMIT publishes the keys' generation (store/beacon.py)
            self.db.execute("INSERT INTO api_keys VALUES (?,?,?,?,?)", tuple(key))

    def _write_key_revocation(self, key_id: str, time: str) -> None:
        with self._tx():
            self.db.execute("UPDATE api_keys SET revoked=? WHERE key_id=? AND revoked IS NULL", (time, key_id))

    def api_key(self, key_hash: str) -> ApiKey | None:
        row = self.db.execute("SELECT key_id, hash, application, created, revoked FROM api_keys WHERE hash=?", (key_hash,)).fetchone()
        return ApiKey(*row) if row else None

    def api_keys(self, application: str | None = None) -> list[ApiKey]:
        q, args = "SELECT key_id, hash, application, created, revoked FROM api_keys", ()
        if application is not None:
            q, args = q + " WHERE application=?", (application,)
        return [ApiKey(*r) for r in self.db.execute(q + " ORDER BY rowid", args)]

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

    def _append_audit(self, record: str) -> AuditEntry:
        # BEGIN IMMEDIATE takes the write lock first, so the last hash read is still the last one
        # when the entry is written, whichever process appends next.
        with self._tx(publish=False):
            row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
            h = chain_hash(prev, record)
            self.db.execute("INSERT INTO audit VALUES (?,?,?,?)", (seq, record, prev, h))
        return AuditEntry(seq, record, prev, h)

    def _append_audit_many(self, records: Sequence[str]) -> list[AuditEntry]:
        # One BEGIN IMMEDIATE per batch: the last hash is read under the write lock, so batches of
        # several server processes interleave whole and the chain stays one chain.
        out = []
        with self._tx(publish=False):
            row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            for record in records:
                seq, h = seq + 1, chain_hash(prev, record)
                out.append(AuditEntry(seq, record, prev, h))
                prev = h
            self.db.executemany("INSERT INTO audit VALUES (?,?,?,?)", out)
        return out

    def audit_head(self) -> tuple[int, str]:
        row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def audit_writer(self) -> "SQLiteStore":
        return SQLiteStore(self.path, create=False)

    def audit_entries(self, after: int = 0, limit: int | None = None) -> list[AuditEntry]:
        q = "SELECT seq, record, prev, hash FROM audit WHERE seq>? ORDER BY seq"
        if limit:
            q += f" LIMIT {int(limit)}"
        return [AuditEntry(*r) for r in self.db.execute(q, (after,))]

    # --- identities (schema 10) -----------------------------------------------------------------
    def users(self) -> dict[str, User]:
        q = "SELECT name, role, namespaces FROM user_events WHERE seq IN (SELECT max(seq) FROM user_events GROUP BY name)"
        return {n: User(n, r, tuple(json.loads(ns))) for n, r, ns in self.db.execute(q)}

    def _write_user(self, user: User, time: str) -> None:
        with self._tx():
            self.db.execute("INSERT INTO user_events(name, role, namespaces, time, actor) VALUES (?,?,?,?,?)",
                            (user.name, user.role, json.dumps(list(user.namespaces)), time, self.actor or "unknown"))

    def _insert_action(self, record: Mapping) -> AuditEntry:
        # inside a write transaction (BEGIN IMMEDIATE): the last hash is still the last one when this is written
        text = audit_json(record)
        row = self.db.execute("SELECT seq, hash FROM actions ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        h = chain_hash(prev, text)
        self.db.execute("INSERT INTO actions VALUES (?,?,?,?,?,?,?,?)",
                        (seq, record["actor"], record["action"], record.get("asset"), int(bool(record["allowed"])), text, prev, h))
        return AuditEntry(seq, text, prev, h)

    def append_action(self, record: Mapping) -> AuditEntry:
        with self._tx(publish=False):
            return self._insert_action(record)

    def stage_action(self, record: Mapping) -> None:
        self._staged[threading.get_ident()] = dict(record)

    def unstage_action(self) -> None:
        self._staged.pop(threading.get_ident(), None)

    def action_entries(self, after: int = 0, limit: int | None = None, *, actor: str | None = None, asset: str | None = None) -> list[AuditEntry]:
        q, args = "SELECT seq, record, prev, hash FROM actions WHERE seq>?", [after]
        if actor is not None:
            q, args = q + " AND actor=?", args + [actor]
        if asset is not None:
            q, args = q + " AND asset=?", args + [asset]
        q += " ORDER BY seq" + (f" LIMIT {int(limit)}" if limit else "")
        return [AuditEntry(*r) for r in self.db.execute(q, args)]

    def registered_by(self, asset_id: str) -> str | None:
        row = self.db.execute("SELECT r.actor FROM registrations r JOIN assets a ON a.rid=r.rid WHERE a.id=?", (asset_id,)).fetchone()
        return row[0] if row else None

    def _write_consent_token(self, token_hash: str, owner: str, time: str) -> None:
        with self._tx():
            self.db.execute("INSERT INTO consent_tokens VALUES (?,?,?,?,NULL)", (token_hash, owner, time, self.actor or "unknown"))

    def consent_token(self, token_hash: str) -> tuple[str, str | None] | None:
        row = self.db.execute("SELECT owner, revoked FROM consent_tokens WHERE hash=?", (token_hash,)).fetchone()
        return (row[0], row[1]) if row else None

    # --- signatures (charter.trust) ------------------------------------------------------------
    def signatures(self, assets: Iterable[str] | None = None, kind: str | None = None) -> list[SignatureRecord]:
        q = "SELECT seq, asset, kind, keyid, digest, envelope, source, time, applied FROM signatures"
        conds, args = [], []
        if assets is not None:
            conds.append("asset IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(sorted(set(assets))))
        if kind is not None:
            conds.append("kind=?")
            args.append(kind)
        if conds:
            q += " WHERE " + " AND ".join(conds)
        return [SignatureRecord(*r) for r in self.db.execute(q + " ORDER BY seq", args)]

    def _write_signatures(self, records: Sequence[SignatureRecord]) -> None:
        with self._tx():
            self.db.executemany("INSERT OR IGNORE INTO signatures(asset, kind, keyid, digest, envelope, source, time, applied) "
                                "VALUES (?,?,?,?,?,?,?,?)", [tuple(r)[1:] for r in records])
            self.db.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                                [(r.time, "sign", r.asset, json.dumps({"kind": r.kind, "keyid": r.keyid, "digest": r.digest,
                                                                       "source": r.source}, sort_keys=True)) for r in records])


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
