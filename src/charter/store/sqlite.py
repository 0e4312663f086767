"""The SQLite registry (default). WAL mode; each write is one transaction (IMMEDIATE when
it has several statements; an event is a single INSERT).

Lineage is stored as typed edges and as a transitive closure over propagating relations,
kept in both directions: ``closure`` (descendant, ancestor, distance) for upstream lookups,
and ``downstream`` (ancestor, distance, descendant id), whose key order is the order a
downstream trace returns, so a trace reads one key range and joins nothing. Because
registered versions are immutable and may only point at already registered assets, an
asset's closure is computed once, at registration, from its parents' closures, and never
changes; withdrawals are a separate table read at decision time. So an upstream lookup or
a downstream trace is a single indexed range scan.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import fields
from functools import partial
from itertools import islice, repeat
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from charter.core.assets import Asset, Edge, Event, Withdrawal
from charter.errors import StoreError
from charter.store.base import Hop, Store, now

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS assets(
  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, name TEXT NOT NULL,
  version TEXT NOT NULL, hash TEXT NOT NULL, doc TEXT NOT NULL, registered TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS assets_kind_name ON assets(kind, name);
CREATE TABLE IF NOT EXISTS edges(
  child INTEGER NOT NULL, parent INTEGER NOT NULL, relation TEXT NOT NULL,
  PRIMARY KEY(child, parent, relation)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_parent ON edges(parent);
CREATE TABLE IF NOT EXISTS closure(
  descendant INTEGER NOT NULL, ancestor INTEGER NOT NULL, depth INTEGER NOT NULL,
  PRIMARY KEY(descendant, ancestor)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS downstream(
  ancestor INTEGER NOT NULL, depth INTEGER NOT NULL, descendant TEXT NOT NULL,
  PRIMARY KEY(ancestor, depth, descendant)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS withdrawals(
  asset INTEGER PRIMARY KEY, reason TEXT NOT NULL, time TEXT NOT NULL);
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
"""


ASSET_CACHE = 200_000  # decoded assets kept per connection
CACHE_KIB = 65536  # SQLite page cache per connection (the default, 2 MiB, thrashes on large registries)
MMAP_BYTES = 2**31  # read pages through mmap (SQLite caps this at its compile-time maximum)

_LINEAGE = """SELECT id, doc FROM assets WHERE id=?1 UNION ALL
SELECT a.id, a.doc FROM closure c JOIN assets a ON a.rid=c.ancestor
WHERE c.descendant=(SELECT rid FROM assets WHERE id=?1)"""

_DOWNSTREAM = """SELECT depth, group_concat(descendant, char(10)), count(*) FROM downstream
WHERE ancestor=(SELECT rid FROM assets WHERE id=?) AND depth<=? GROUP BY depth ORDER BY depth"""
_DOWNSTREAM_DEPTHS = """SELECT DISTINCT depth FROM downstream
WHERE ancestor=(SELECT rid FROM assets WHERE id=?) AND depth<=? ORDER BY depth"""
_DOWNSTREAM_AT = "SELECT descendant FROM downstream WHERE ancestor=(SELECT rid FROM assets WHERE id=?) AND depth=?"


class SQLiteStore(Store):
    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise StoreError(f"no registry at {self.path}", hint="run `charter init` or pass --registry")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self.db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"registry {self.path} has schema {version}, newer than this charter ({SCHEMA_VERSION})", hint="upgrade charter")
            if version < SCHEMA_VERSION:
                with self._tx():
                    for stmt in _statements(SCHEMA):
                        self.db.execute(stmt)
                    if version == 1:  # v1 -> v2: the downstream table replaces index closure_ancestor
                        self.db.execute("INSERT INTO downstream SELECT c.ancestor, c.depth, a.id FROM closure c JOIN assets a ON a.rid=c.descendant")
                        self.db.execute("DROP INDEX IF EXISTS closure_ancestor")
                    self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open registry {self.path}: {e}", hint="check the path, or `charter init` a new registry") from None
        self._own_writes = 0
        # Decoded assets by id, for lineage() (the decision path) only. Registered versions are
        # immutable and never deleted, so a cached Asset is never stale; this saves re-decoding
        # shared ancestors. get_many()/find() still hand out fresh objects.
        self._assets: dict[str, Asset] = {}
        self._assets_max = ASSET_CACHE

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # --- decoding ----------------------------------------------------------------
    def _asset(self, aid: str, doc: str) -> Asset:
        a = self._assets.get(aid)
        if a is None:
            a = _decode(doc)
            cache = self._assets
            cache[aid] = a
            if len(cache) > self._assets_max:  # drop the older half (amortised O(1))
                self._assets = dict(islice(cache.items(), len(cache) // 2, None))
        return a

    # --- reads -----------------------------------------------------------------
    def get_many(self, ids: Iterable[str]) -> dict[str, Asset]:
        ids = list(ids)
        out: dict[str, Asset] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT doc FROM assets WHERE id IN ({','.join('?' * len(chunk))})"
            for (doc,) in self.db.execute(q, chunk):
                a = _decode(doc)
                out[a.id] = a
        return out

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
            yield _decode(doc)

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM assets").fetchone()[0]

    def upstream(self, asset: str) -> list[tuple[str, int]]:
        q = """SELECT a.id, c.depth FROM closure c JOIN assets a ON a.rid=c.ancestor
               WHERE c.descendant=(SELECT rid FROM assets WHERE id=?) ORDER BY c.depth, a.id"""
        return self.db.execute(q, (asset,)).fetchall()

    def lineage(self, asset: str) -> list[Asset]:
        asset_ = self._asset
        return [asset_(i, d) for i, d in self.db.execute(_LINEAGE, (asset,))]

    def downstream(self, asset: str, depth: int | None = None) -> list[Hop]:
        # One key range of ``downstream``, already in (depth, id) order. Each depth comes back
        # as one newline-joined string: splitting it is far cheaper than a row per descendant.
        args = (asset, depth if depth is not None else 2**62)
        try:
            groups = self.db.execute(_DOWNSTREAM, args).fetchall()
        except sqlite3.DataError:  # a depth too large for one string: read row by row
            groups = [(d, None, -1) for (d,) in self.db.execute(_DOWNSTREAM_DEPTHS, args)]
        out: list[Hop] = []
        for d, joined, n in groups:
            ids = joined.split("\n") if joined is not None else []
            if len(ids) != n:  # an id containing a newline, or no joined string
                ids = [i for (i,) in self.db.execute(_DOWNSTREAM_AT, (asset, d))]
            ids.sort()  # linear when already sorted, as it is; keeps the order guaranteed
            out += map(_hop, zip(ids, repeat(d)))
        return out

    def children(self, asset: str) -> list[Edge]:
        q = """SELECT c.id, e.relation FROM edges e JOIN assets c ON c.rid=e.child
               WHERE e.parent=(SELECT rid FROM assets WHERE id=?) ORDER BY c.rid"""
        return [Edge(child, asset, rel) for child, rel in self.db.execute(q, (asset,))]

    def withdrawals(self) -> dict[str, Withdrawal]:
        # CROSS JOIN pins the loop order: walk the (small) withdrawals table and look each asset
        # up by rid; left to itself the planner may scan the whole assets id index instead.
        q = "SELECT a.id, w.reason, w.time FROM withdrawals w CROSS JOIN assets a ON a.rid=w.asset ORDER BY a.id"
        return {i: Withdrawal(i, r, t) for i, r, t in self.db.execute(q)}

    def withdrawals_version(self) -> object:
        # data_version changes when another connection commits; own writes are counted here.
        return (self.db.execute("PRAGMA data_version").fetchone()[0], self._own_writes)

    def events(self, after: int = 0, type: str | None = None, asset: str | None = None, limit: int | None = None) -> list[Event]:
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
        t = now()
        text = json.dumps(data, sort_keys=True)
        # One statement outside a transaction is its own (atomic) transaction: no BEGIN/COMMIT round trips.
        cur = self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)", (t, type, asset, text))
        return Event(cur.lastrowid, t, type, asset, dict(data))

    def _known(self, ids: Iterable[str]) -> set[str]:
        ids_l = list(ids)
        out: set[str] = set()
        for i in range(0, len(ids_l), 500):
            chunk = ids_l[i:i + 500]
            q = f"SELECT id FROM assets WHERE id IN ({','.join('?' * len(chunk))})"
            out.update(r for (r,) in self.db.execute(q, chunk))
        return out

    def _closures(self, ids: Iterable[str]) -> dict[str, dict[str, int]]:
        ids_l = list(ids)
        out: dict[str, dict[str, int]] = {i: {} for i in ids_l}
        for i in range(0, len(ids_l), 500):
            chunk = ids_l[i:i + 500]
            q = f"""SELECT d.id, a.id, c.depth FROM assets d JOIN closure c ON c.descendant=d.rid
                    JOIN assets a ON a.rid=c.ancestor WHERE d.id IN ({','.join('?' * len(chunk))})"""
            for did, aid, depth in self.db.execute(q, chunk):
                out[did][aid] = depth
        return out

    def _write_assets(self, assets: Sequence[Asset], closures: Mapping[str, dict[str, int]], time: str) -> None:
        docs = [a.canonical() for a in assets]  # serialise (and hash) once, before writing
        hashes = [_content_hash(a, doc) for a, doc in zip(assets, docs)]
        with self._tx():
            cur = self.db.cursor()
            # We hold the write lock, so the new rowids are ours to assign: no read-back needed.
            first = (self.db.execute("SELECT max(rid) FROM assets").fetchone()[0] or 0) + 1
            rid = {a.id: first + k for k, a in enumerate(assets)}
            cur.executemany(
                "INSERT INTO assets(rid, id, kind, name, version, hash, doc, registered) VALUES (?,?,?,?,?,?,?,?)",
                ((rid[a.id], a.id, a.kind, a.name, a.version, h, doc, time) for a, h, doc in zip(assets, hashes, docs)),
            )
            rid.update(self._rids(({x for c in closures.values() for x in c}
                                   | {e.parent for a in assets for e in a.derived_from}) - rid.keys()))
            cur.executemany("INSERT INTO edges VALUES (?,?,?)",
                            ((rid[a.id], rid[e.parent], e.relation) for a in assets for e in a.derived_from))
            cur.executemany("INSERT INTO closure VALUES (?,?,?)",
                            ((rid[a.id], rid[anc], d) for a in assets for anc, d in closures[a.id].items()))
            cur.executemany("INSERT INTO downstream VALUES (?,?,?)",
                            ((rid[anc], d, a.id) for a in assets for anc, d in closures[a.id].items()))
            cur.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                            ((time, "register", a.id, json.dumps({"hash": h})) for a, h in zip(assets, hashes)))

    def _rids(self, ids: set[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        ids_l = list(ids)
        for i in range(0, len(ids_l), 500):
            chunk = ids_l[i:i + 500]
            q = f"SELECT id, rid FROM assets WHERE id IN ({','.join('?' * len(chunk))})"
            out.update(self.db.execute(q, chunk).fetchall())
        return out

    def _write_withdrawal(self, w: Withdrawal) -> None:
        with self._tx():
            self.db.execute("INSERT INTO withdrawals SELECT rid, ?, ? FROM assets WHERE id=?", (w.reason, w.time, w.asset))
            self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                            (w.time, "withdraw", w.asset, json.dumps({"reason": w.reason})))
        self._own_writes += 1


_new = object.__new__
_hop = partial(tuple.__new__, Hop)  # _hop((asset, depth)) -> Hop, built in C
_ASSET_FIELDS = ("id", "kind", "name", "version", "description", "licenses", "allow", "deny", "duties", "derived_from", "notes")
_EDGE_FIELDS = ("child", "parent", "relation")


_scan = json.JSONDecoder().scan_once  # the C scanner json.loads ends in, without its Python wrappers


def _decode_fast(doc: str) -> Asset:
    """``Asset.from_json(json.loads(doc))`` without the frozen dataclasses' per-field setattr."""
    try:
        d, end = _scan(doc, 0)
    except StopIteration:
        end = -1
    if end != len(doc):  # leading/trailing whitespace or bad JSON: let json.loads handle (or raise)
        d = json.loads(doc)
    aid = d["id"]
    uses = d.get("uses") or {}
    edges = []
    for e in d.get("derived_from") or ():
        edge = _new(Edge)
        edge.__dict__.update(child=aid, parent=e["asset"], relation=e["relation"])
        edges.append(edge)
    a = _new(Asset)
    a.__dict__.update(
        id=aid, kind=d["kind"], name=d["name"], version=d["version"], description=d.get("description") or "",
        licenses=tuple(d.get("licenses") or ()), allow=tuple(uses.get("allow") or ()), deny=tuple(uses.get("deny") or ()),
        duties=tuple(d.get("duties") or ()), derived_from=tuple(edges), notes=dict(d.get("notes") or {}),
    )
    return a


def _decode_plain(doc: str) -> Asset:
    return Asset.from_json(json.loads(doc))


def _fast_ok() -> bool:
    """Use the fast decoder only while Asset/Edge are plain dataclasses with the fields it knows."""
    try:
        same = tuple(f.name for f in fields(Asset)) == _ASSET_FIELDS and tuple(f.name for f in fields(Edge)) == _EDGE_FIELDS
        plain = not any(hasattr(c, "__post_init__") or "__slots__" in c.__dict__ for c in (Asset, Edge))
        sample = Asset("model/x@1", "model", "x", "1", "d", ("mit",), ("research",), ("military",), ("attribution",),
                       (Edge("model/x@1", "dataset/y@1", "trained-on"),), {"k": 1})
        back = _decode_fast(sample.canonical())
        return same and plain and back == sample and back.notes == sample.notes and hash(back) == hash(sample)
    except (TypeError, ValueError, KeyError, AttributeError):
        return False


_decode = _decode_fast if _fast_ok() else _decode_plain


def _sha256_of_doc(a: Asset, doc: str) -> str:
    return "sha256:" + hashlib.sha256(doc.encode()).hexdigest()


def _hash_property(a: Asset, doc: str) -> str:
    return a.content_hash


def _hash_ok() -> bool:
    """Hash the canonical text we already have only while that is what Asset.content_hash does."""
    sample = Asset("model/x@1", "model", "x", "1", licenses=("mit",), notes={"k": [1, "é"]})
    return sample.content_hash == _sha256_of_doc(sample, sample.canonical())


_content_hash = _sha256_of_doc if _hash_ok() else _hash_property


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out
