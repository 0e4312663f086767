"""The SQLite registry (default). WAL mode; each write is one IMMEDIATE transaction.

Lineage is stored twice: as typed edges, and as a transitive closure (descendant,
ancestor, distance) over propagating relations. Because registered versions are
immutable and may only point at already registered assets, an asset's closure is
computed once, at registration, from its parents' closures, and never changes;
withdrawals are a separate table read at decision time. So an upstream lookup or
a downstream trace is a single indexed range scan.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from charter.core.assets import Asset, Edge, Event, Withdrawal
from charter.errors import StoreError
from charter.store.base import Store, now

SCHEMA_VERSION = 1
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
CREATE INDEX IF NOT EXISTS closure_ancestor ON closure(ancestor, depth, descendant);
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
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"registry {self.path} has schema {version}, newer than this charter ({SCHEMA_VERSION})", hint="upgrade charter")
            if version < SCHEMA_VERSION:
                with self._tx():
                    for stmt in _statements(SCHEMA):
                        self.db.execute(stmt)
                    self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open registry {self.path}: {e}", hint="check the path, or `charter init` a new registry") from None
        self._own_writes = 0

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

    # --- reads -----------------------------------------------------------------
    def get_many(self, ids: Iterable[str]) -> dict[str, Asset]:
        ids = list(ids)
        out: dict[str, Asset] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT doc FROM assets WHERE id IN ({','.join('?' * len(chunk))})"
            for (doc,) in self.db.execute(q, chunk):
                a = Asset.from_json(json.loads(doc))
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
            yield Asset.from_json(json.loads(doc))

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM assets").fetchone()[0]

    def upstream(self, asset: str) -> list[tuple[str, int]]:
        q = """SELECT a.id, c.depth FROM closure c JOIN assets a ON a.rid=c.ancestor
               WHERE c.descendant=(SELECT rid FROM assets WHERE id=?) ORDER BY c.depth, a.id"""
        return self.db.execute(q, (asset,)).fetchall()

    def lineage(self, asset: str) -> list[Asset]:
        q = """SELECT doc FROM assets WHERE id=?1 UNION ALL
               SELECT a.doc FROM closure c JOIN assets a ON a.rid=c.ancestor
               WHERE c.descendant=(SELECT rid FROM assets WHERE id=?1)"""
        return [Asset.from_json(json.loads(d)) for (d,) in self.db.execute(q, (asset,))]

    def downstream(self, asset: str, depth: int | None = None) -> list[tuple[str, int]]:
        q = """SELECT a.id, c.depth FROM closure c JOIN assets a ON a.rid=c.descendant
               WHERE c.ancestor=(SELECT rid FROM assets WHERE id=?) AND c.depth<=?"""
        rows = self.db.execute(q, (asset, depth if depth is not None else 2**62)).fetchall()
        rows.sort(key=lambda r: (r[1], r[0]))
        return rows

    def children(self, asset: str) -> list[Edge]:
        q = """SELECT c.id, e.relation FROM edges e JOIN assets c ON c.rid=e.child
               WHERE e.parent=(SELECT rid FROM assets WHERE id=?) ORDER BY c.rid"""
        return [Edge(child, asset, rel) for child, rel in self.db.execute(q, (asset,))]

    def withdrawals(self) -> dict[str, Withdrawal]:
        q = "SELECT a.id, w.reason, w.time FROM withdrawals w JOIN assets a ON a.rid=w.asset"
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
        with self._tx():
            cur = self.db.execute("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                                  (t, type, asset, json.dumps(data, sort_keys=True)))
        return Event(cur.lastrowid, t, type, asset, dict(data))

    def _closures(self, ids: Iterable[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for i in ids:
            out[i] = dict(self.upstream(i))
        return out

    def _write_assets(self, assets: Sequence[Asset], closures: Mapping[str, dict[str, int]], time: str) -> None:
        with self._tx():
            cur = self.db.cursor()
            cur.executemany(
                "INSERT INTO assets(id, kind, name, version, hash, doc, registered) VALUES (?,?,?,?,?,?,?)",
                ((a.id, a.kind, a.name, a.version, a.content_hash, a.canonical(), time) for a in assets),
            )
            rid = self._rids({a.id for a in assets} | {x for c in closures.values() for x in c}
                             | {e.parent for a in assets for e in a.derived_from})
            cur.executemany("INSERT INTO edges VALUES (?,?,?)",
                            ((rid[a.id], rid[e.parent], e.relation) for a in assets for e in a.derived_from))
            cur.executemany("INSERT INTO closure VALUES (?,?,?)",
                            ((rid[a.id], rid[anc], d) for a in assets for anc, d in closures[a.id].items()))
            cur.executemany("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
                            ((time, "register", a.id, json.dumps({"hash": a.content_hash})) for a in assets))

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


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out
