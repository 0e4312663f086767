"""``charter check``: is a registry whole? Run it after a crash, or when tampering is suspected.

It changes nothing: one read transaction (a consistent snapshot even while other processes write), over a
plain connection (no schema upgrade, no pragma that writes; like any connection, SQLite recovers a crashed
writer's WAL on open and may checkpoint it on close). On PostgreSQL the snapshot is a read-only REPEATABLE READ
transaction; the server keeps its own pages, indexes and constraints, so ``integrity`` and ``foreign-keys``
(SQLite's pragmas) are not run there, and ``triggers`` reads ``pg_trigger`` (each trigger the PostgreSQL
migrations create exists on its table and is enabled). The checks, in order:

    integrity     SQLite's ``PRAGMA integrity_check`` (pages, indexes, constraints)
    foreign-keys  SQLite's ``PRAGMA foreign_key_check``
    triggers      every trigger the migrations create (store/migrations/sqlite) exists, on its
                  table; the append-only ones still refuse (RAISE(ABORT)): dropped protections fail
    documents     every asset's stored charter parses, and its id, kind, name, version and hash are its row's
    edges         every edge joins registered assets, the edges are the charters' derived_from, no cycle
    closure       ``closure`` and ``downstream`` equal the transitive closure recomputed from the charters'
                  propagating parents (shortest distances), and each asset's compiled ``lineage`` has those members
    rows          every asset has its ``asset_terms`` row (its id, a stored terms key) and ``asset_listing`` row
                  (its charter's licences)
    audit         the audit log's hash chain verifies (charter.serve.audit.verify)
    generations   each generation counter is at least the number of rows its triggers counted

Each check reports its first problem (table, row or asset, why) and how many it found.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from charter.core import lineage as lineage_mod
from charter.core.assets import Asset
from charter.errors import StoreError
from charter.store.assets import parents_first


@dataclass
class Result:
    name: str
    ok: bool
    problem: str = ""  # the first problem: table, row or asset, why
    count: int = 0  # how many problems (the first one named)
    checked: int = 0  # rows (or entries) looked at
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "problem": self.problem, "problems": self.count, "checked": self.checked,
                "seconds": round(self.seconds, 3)}


@dataclass
class Report:
    registry: str
    checks: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict:
        return {"registry": self.registry, "ok": self.ok, "checks": [c.to_json() for c in self.checks]}


class _Problems:
    """Collects a check's problems; keeps the first one's text."""

    def __init__(self) -> None:
        self.first = ""
        self.count = 0

    def add(self, text: str) -> None:
        if not self.count:
            self.first = text
        self.count += 1


def target(url: str | None) -> Path | str:
    """The registry a --registry URL names (the same rules as charter.store.open_store): a SQLite file's path, or a
    PostgreSQL URL."""
    import os

    from charter.store import DEFAULT_PATH

    url = url or os.environ.get("CHARTER_REGISTRY") or str(DEFAULT_PATH)
    if url in ("memory:", "memory://"):
        raise StoreError(f"`charter check` reads SQLite and PostgreSQL registries, not {url}", hint="pass --registry PATH or a postgresql:// URL")
    if _is_postgres(url):
        return url
    if url.startswith("sqlite://"):
        url = url[len("sqlite://"):]
        url = url[1:] if url.startswith("//") else url
    return Path(url)


def _is_postgres(where) -> bool:
    return isinstance(where, str) and where.startswith(("postgres://", "postgresql://"))


def check(where: Path | str) -> Report:
    """Run every check on the registry ``where`` (a SQLite file's path, or a postgresql:// URL); changes nothing in it."""
    from charter.store import sqlite_as_postgres

    if not _is_postgres(where) and (server := sqlite_as_postgres.server()):  # the test suite's PostgreSQL pass
        where = sqlite_as_postgres.open_url(Path(where), server, create=False)
    if _is_postgres(where):
        return _check_postgres(where)
    path = Path(where)
    if not path.is_file():
        raise StoreError(f"no registry at {path}", hint="pass --registry PATH (or set $CHARTER_REGISTRY)", where=str(path))
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open registry {path}: {e}", hint="check the path and its permissions", where=str(path)) from None
    report = Report(str(path))
    try:
        try:
            db.execute("BEGIN")  # one snapshot for every check (WAL: writers go on meanwhile)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            report.checks.append(Result("integrity", False, f"the file cannot be read as a SQLite database: {e}", 1))
            return report
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        _run(_CHECKS, db, tables, report, sqlite3.DatabaseError)
        return report
    finally:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        db.close()


def _run(checks, db, tables: set[str], report: Report, errors: type[Exception]) -> None:
    docs: dict[int, Asset] = {}
    for name, fn in checks:
        t = time.perf_counter()
        try:
            res = fn(db, tables, docs)
        except errors as e:
            res = Result(name, False, f"reading failed: {e}", 1)
        res.name, res.seconds = name, time.perf_counter() - t
        report.checks.append(res)


class _Postgres:
    """A psycopg connection that takes the checks' SQLite-style ``?`` parameters."""

    def __init__(self, con) -> None:
        self.con = con

    def execute(self, q: str, args=()):
        return self.con.execute(q.replace("?", "%s"), args or None)


def _check_postgres(url: str) -> Report:
    import psycopg

    from charter.store.postgres import display_url

    shown = display_url(url)
    try:
        con = psycopg.connect(url, autocommit=True, application_name="charter-check")
    except psycopg.Error as e:
        raise StoreError(f"cannot connect to registry {shown}: {str(e).strip().splitlines()[0]}",
                         hint="check the URL, that the server runs and that it accepts this user", where=shown) from None
    report = Report(shown)
    try:
        con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot for every check
        tables = {n for (n,) in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        if "assets" not in tables:
            raise StoreError(f"no registry in {shown}", hint="pass --registry with a registry's URL", where=shown)
        _run(_PG_CHECKS, _Postgres(con), tables, report, psycopg.Error)
        return report
    finally:
        con.close()


# --- the checks ------------------------------------------------------------------------------------
def _integrity(db, tables, docs) -> Result:
    rows = [r[0] for r in db.execute("PRAGMA integrity_check")]
    if rows == ["ok"]:
        return Result("", True)
    return Result("", False, f"PRAGMA integrity_check: {rows[0]}", len(rows))


def _foreign_keys(db, tables, docs) -> Result:
    rows = db.execute("PRAGMA foreign_key_check").fetchall()
    if not rows:
        return Result("", True)
    t, rowid, parent, _ = rows[0]
    return Result("", False, f"{t} row {rowid}: no {parent} row it refers to (PRAGMA foreign_key_check)", len(rows))


_TRIGGER = re.compile(r"CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(?:BEFORE|AFTER)\s+(?:INSERT|UPDATE|DELETE)(?:\s+OF\s+[\w\s,]+?)?\s+ON\s+(\w+)"
                      r"(.*?)\bEND;", re.S | re.I)


def expected_triggers() -> dict[str, tuple[str, bool]]:
    """Trigger name -> (its table, whether it refuses: RAISE(ABORT)), as the SQLite migrations create them
    (store/migrations/sqlite: every script each migration file defines, and the migration log's own)."""
    import importlib

    from charter.store import migrations

    modules = [importlib.import_module(m.module) for m in migrations.available("sqlite")]
    scripts = [migrations.LOG_SQL]
    for mod in modules:
        for v in vars(mod).values():
            for x in (v if isinstance(v, (list, tuple)) else (v,)):
                if isinstance(x, str) and "CREATE TRIGGER" in x.upper():
                    scripts.append(x)
    out: dict[str, tuple[str, bool]] = {}
    for script in scripts:
        for name, table, body in _TRIGGER.findall(script):
            out[name] = (table, "RAISE(ABORT" in body.upper().replace(" ", ""))
    return out


def _triggers(db, tables, docs) -> Result:
    have = {n: (t, sql or "") for n, t, sql in db.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type='trigger'")}
    p = _Problems()
    want = expected_triggers()
    for name, (table, refuses) in want.items():
        if table not in tables:
            continue  # a table this registry's schema version does not have (reported by the checks that read it)
        got = have.get(name)
        if got is None:
            what = "append-only protection" if refuses else "trigger"
            p.add(f"trigger {name} on {table} is missing: the {what} was dropped")
        elif got[0] != table:
            p.add(f"trigger {name} is on {got[0]}, not {table}")
        elif refuses and "RAISE(ABORT" not in got[1].upper().replace(" ", ""):
            p.add(f"trigger {name} on {table} no longer refuses the change (no RAISE(ABORT))")
    return Result("", not p.count, p.first, p.count, len(want))


_PG_TRIGGER = re.compile(r"CREATE\s+TRIGGER\s+(\w+)\s+(?:BEFORE|AFTER)\s+[\w\s]+?\s+ON\s+(\w+)", re.I)


def expected_pg_triggers() -> dict[str, str]:
    """Trigger name -> its table, as the PostgreSQL migrations create them (every script of store/migrations/postgres,
    the baseline's schema, and the migration log's)."""
    import importlib

    from charter.store import migrations
    from charter.store.postgres import schema_script

    scripts = [schema_script(), migrations.PG_LOG_SQL]
    for m in migrations.available("postgres"):
        for v in vars(importlib.import_module(m.module)).values():
            for x in (v if isinstance(v, (list, tuple)) else (v,)):
                if isinstance(x, str) and "CREATE TRIGGER" in x.upper():
                    scripts.append(x)
    return {name: table for script in scripts for name, table in _PG_TRIGGER.findall(script)}


def _pg_triggers(db, tables, docs) -> Result:
    have = {n: (t, e) for n, t, e in db.execute("SELECT t.tgname, c.relname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                                                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")}
    p = _Problems()
    want = expected_pg_triggers()
    for name, table in want.items():
        if table not in tables:
            continue
        got = have.get(name)
        if got is None:
            p.add(f"trigger {name} on {table} is missing: it was dropped")
        elif got[0] != table:
            p.add(f"trigger {name} is on {got[0]}, not {table}")
        elif got[1] == "D":
            p.add(f"trigger {name} on {table} is disabled (ALTER TABLE ... DISABLE TRIGGER)")
    return Result("", not p.count, p.first, p.count, len(want))


def _documents(db, tables, docs) -> Result:
    p = _Problems()
    n = 0
    for rid, aid, kind, name, version, h, doc in db.execute("SELECT rid, id, kind, name, version, hash, doc FROM assets ORDER BY rid"):
        n += 1
        try:
            a = Asset.from_json(json.loads(doc))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            p.add(f"assets rid {rid} ({aid}): its stored charter does not parse ({type(e).__name__}: {e})")
            continue
        docs[rid] = a
        if (a.id, a.kind, a.name, a.version) != (aid, kind, name, version):
            p.add(f"assets rid {rid} ({aid}): its charter is {a.id} (kind {a.kind}, name {a.name}, version {a.version}), not its row's")
        elif Asset.hash_of(doc) != h:
            p.add(f"assets rid {rid} ({aid}): its charter does not match its stored hash {h[:19]}…: the charter was edited")
    return Result("", not p.count, p.first, p.count, n)


def _edges(db, tables, docs) -> Result:
    p = _Problems()
    ids = {rid: a.id for rid, a in docs.items()}
    all_rids = {r for (r,) in db.execute("SELECT rid FROM assets")}
    stored: dict[int, set[tuple[int, str]]] = defaultdict(set)
    n = 0
    for child, parent, rel in db.execute("SELECT child, parent, relation FROM edges ORDER BY child, parent"):
        n += 1
        if child not in all_rids:
            p.add(f"edges ({child}, {parent}, {rel}): its child rid {child} is no registered asset")
        elif parent not in all_rids:
            p.add(f"edges ({child}, {parent}, {rel}): {ids.get(child, child)} derives from rid {parent}, which is no registered asset")
        stored[child].add((parent, rel))
    rid_of = {a: r for r, a in ids.items()}
    for rid, a in docs.items():
        want = set()
        for e in a.derived_from:
            pr = rid_of.get(e.parent)
            if pr is None:
                p.add(f"assets {a.id}: derived_from {e.parent} names no registered asset")
                continue
            want.add((pr, e.relation))
        got = stored.get(rid, set())
        if want - got:
            pr, rel = sorted(want - got)[0]
            p.add(f"edges: {a.id} -> {ids.get(pr, pr)} ({rel}) is in its charter's derived_from but not in the edges table")
        elif got - want and all(pr in all_rids for pr, _ in got - want):
            pr, rel = sorted(got - want)[0]
            p.add(f"edges ({rid}, {pr}, {rel}): {a.id} -> {ids.get(pr, pr)} is not in its charter's derived_from")
    _, cyc = parents_first({c: {pr for pr, _ in ps} for c, ps in stored.items()})  # the registration's own walk
    if cyc:
        p.add("edges: a cycle: " + " -> ".join(str(ids.get(r, r)) for r in cyc))
    return Result("", not p.count, p.first, p.count, n)


def recomputed_closure(docs: dict[int, Asset]) -> dict[str, dict[str, int]]:
    """asset id -> {ancestor id: shortest distance} over propagating parents (core/lineage.closure's numbers)."""
    by_id = {a.id: a for a in docs.values()}
    out: dict[str, dict[str, int]] = {}
    for a in by_id.values():
        if a.id in out:
            continue
        # iterative post-order: parents first (a cycle is reported by the edges check; here it stops the walk)
        stack, onstack = [a.id], {a.id}
        while stack:
            cur = stack[-1]
            todo = [p for p in by_id[cur].parents if p in by_id and p not in out and p not in onstack]
            if todo:
                stack.append(todo[0])
                onstack.add(todo[0])
                continue
            best: dict[str, int] = {}
            for p in dict.fromkeys(by_id[cur].parents):
                if p not in by_id:
                    continue
                for anc, d in ((p, 0), *out.get(p, {}).items()):
                    if anc != cur and (anc not in best or d + 1 < best[anc]):
                        best[anc] = d + 1
            out[cur] = best
            stack.pop()
            onstack.discard(cur)
    return out


def _closure(db, tables, docs) -> Result:
    p = _Problems()
    ids = {rid: a.id for rid, a in docs.items()}
    want = recomputed_closure(docs)
    n = 0
    got: dict[str, dict[str, int]] = defaultdict(dict)
    for desc, anc, depth in db.execute("SELECT descendant, ancestor, depth FROM closure ORDER BY descendant, ancestor"):
        n += 1
        d, a = ids.get(desc), ids.get(anc)
        if d is None or a is None:
            p.add(f"closure ({desc}, {anc}, {depth}): rid {desc if d is None else anc} is no registered asset")
            continue
        got[d][a] = depth
    down: dict[str, dict[str, int]] = defaultdict(dict)
    for anc, depth, desc in db.execute("SELECT ancestor, depth, descendant FROM downstream ORDER BY ancestor, depth, descendant"):
        n += 1
        a = ids.get(anc)
        if a is None or desc not in want:
            p.add(f"downstream ({anc}, {depth}, {desc}): {'rid ' + str(anc) if a is None else desc} is no registered asset")
            continue
        down[desc][a] = depth
    lineages = dict(db.execute("SELECT id, doc FROM lineage")) if "lineage" in tables else {}
    for aid in sorted(want, key=lambda i: i):
        w = want[aid]
        for table, g in (("closure", got.get(aid, {})), ("downstream", down.get(aid, {}))):
            if g != w:
                p.add(f"{table}: {aid}: {_diff(w, g)}")
        doc = lineages.get(aid)
        if doc is None:
            p.add(f"lineage: {aid} has no compiled lineage row")
            continue
        try:
            c = lineage_mod.closure(lineage_mod.loads(doc))
        except (ValueError, TypeError, KeyError, IndexError) as e:
            p.add(f"lineage: {aid}: its compiled lineage does not parse ({e})")
            continue
        if set(c) != set(w):
            p.add(f"lineage: {aid}: its compiled lineage's members {_diff({k: 0 for k in w}, {k: 0 for k in c})}")
    return Result("", not p.count, p.first, p.count, n)


def _diff(want: dict[str, int], got: dict[str, int]) -> str:
    missing = sorted(set(want) - set(got))
    if missing:
        return f"ancestor {missing[0]} (distance {want[missing[0]]}) is missing" + (f", and {len(missing) - 1} more" if len(missing) > 1 else "")
    extra = sorted(set(got) - set(want))
    if extra:
        return f"{extra[0]} is listed as an ancestor but is none"
    k = sorted(a for a in want if want[a] != got[a])[0]
    return f"ancestor {k} at distance {got[k]}, not {want[k]}"


def _rows(db, tables, docs) -> Result:
    p = _Problems()
    ids = {r: a for (r, a) in db.execute("SELECT rid, id FROM assets")}
    terms = dict(db.execute("SELECT rid, id FROM asset_terms")) if "asset_terms" in tables else None
    tids = dict(db.execute("SELECT rid, tid FROM asset_terms")) if "asset_terms" in tables else {}
    known_tids = {t for (t,) in db.execute("SELECT tid FROM terms")} if "terms" in tables else set()
    listing = dict(db.execute("SELECT rid, licenses FROM asset_listing")) if "asset_listing" in tables else None
    for rid, aid in sorted(ids.items()):
        if terms is not None:
            if rid not in terms:
                p.add(f"asset_terms: {aid} (rid {rid}) has no row")
            elif terms[rid] != aid:
                p.add(f"asset_terms rid {rid}: names {terms[rid]}, but rid {rid} is {aid}")
            elif tids[rid] not in known_tids:
                p.add(f"asset_terms rid {rid} ({aid}): terms key {tids[rid]} is not in the terms table")
        if listing is not None:
            if rid not in listing:
                p.add(f"asset_listing: {aid} (rid {rid}) has no row")
            elif rid in docs:
                try:
                    lic = tuple(json.loads(listing[rid]))
                except (ValueError, TypeError):
                    lic = None
                if lic != tuple(docs[rid].licenses):
                    p.add(f"asset_listing rid {rid} ({aid}): licences {listing[rid]} are not its charter's {list(docs[rid].licenses)}")
    for table, rows in (("asset_terms", terms), ("asset_listing", listing)):
        for rid in sorted(set(rows or ()) - set(ids)):
            p.add(f"{table} rid {rid}: no such asset")
    return Result("", not p.count, p.first, p.count, len(ids))


class _AuditRows:
    """What charter.serve.audit.verify reads (audit_entries), over the check's read transaction."""

    def __init__(self, db) -> None:
        self.db = db

    def audit_entries(self, after: int = 0, limit: int | None = None):
        from charter.store.chain import AuditEntry
        from charter.store.dialect import SQLITE

        q = "SELECT seq, record, prev, hash FROM audit WHERE seq>? ORDER BY seq LIMIT ?"
        return [AuditEntry(*r) for r in self.db.execute(q, (after, SQLITE.limit(limit)))]


def _audit(db, tables, docs) -> Result:
    if "audit" not in tables:
        return Result("", True)
    from charter.serve.audit import verify

    v = verify(_AuditRows(db))
    if v.ok:
        return Result("", True, checked=v.entries)
    return Result("", False, f"audit seq {v.broken}: {v.problem}", 1, v.entries)


# topic -> (table, rows its triggers count): each row inserted moved the counter once (an API key: once more when revoked)
_COUNTED = {
    "policy": ("withdrawal_events", "owner_withdrawals", "restrictions", "restriction_lifts", "properties"),
    "keys": ("api_keys",),
}


def _generations(db, tables, docs) -> Result:
    if "generations" not in tables:
        return Result("", True)
    gens = dict(db.execute("SELECT topic, n FROM generations"))
    p = _Problems()
    for topic, counted in _COUNTED.items():
        present = [t for t in counted if t in tables]
        rows = sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in present)
        if "api_keys" in present and topic == "keys":
            rows += db.execute("SELECT count(*) FROM api_keys WHERE revoked IS NOT NULL").fetchone()[0]
        n = gens.get(topic)
        if n is None:
            p.add(f"generations: topic {topic} has no row")
        elif n < rows:
            p.add(f"generations: topic {topic} is at {n}, behind the {rows} rows of {', '.join(present)} its triggers counted "
                  "(a counter moved back, or its triggers were dropped; a registry first created before schema 5 counts only later rows)")
    return Result("", not p.count, p.first, p.count, len(_COUNTED))


_CHECKS: list[tuple[str, Callable]] = [
    ("integrity", _integrity),
    ("foreign-keys", _foreign_keys),
    ("triggers", _triggers),
    ("documents", _documents),
    ("edges", _edges),
    ("closure", _closure),
    ("rows", _rows),
    ("audit", _audit),
    ("generations", _generations),
]
_PG_CHECKS = [("triggers", _pg_triggers), *(c for c in _CHECKS if c[0] not in ("integrity", "foreign-keys", "triggers"))]
