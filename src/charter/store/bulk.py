"""Bulk registration (``Store.add_many``; ``Registry.add_many`` and ``charter add`` of a large file use it): the
same rows ``Store.add`` writes, computed in one pass over the batch and written in one transaction.

Where ``Store.add`` spends its time per asset (profiled at 50,000 assets): building each compiled lineage as
``Upstream`` tuples, serialising it (``lineage.dumps``), its terms key (``lineage.terms_key``) and the closure
from them, several ``json.dumps`` calls, and SQL rows whose keys arrive in random order. Here a lineage is three
flat tuples (member ids, each member's predecessor index, its distance): a child of one parent is its parent's
tuples shifted by one, and a lineage's terms rows are a shared frozenset (most assets add nothing to their
parent's), so its key is found in a dict. Each member's part of the lineage JSON is serialised once per batch,
and a parent's rows once for all its children. Both writers take a batch a chunk at a time (``Streamed``) while
its next chunk is planned elsewhere: ``write_sqlite`` inserts each chunk's rows in key order, with a page cache
large enough for the batch, while a forked process plans the next (a large batch; ``_forked``);
``write_postgres`` uses COPY on a second thread while this one plans the next. ``tests/store/test_bulk.py`` checks the
result equals ``Store.add``'s, row for row, on both backends.
"""

from __future__ import annotations

import gc
import json
import marshal
import os
import queue
import signal
import struct
import sys
import threading
from contextlib import closing, contextmanager, nullcontext
from itertools import repeat
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

from charter.core.assets import PROPAGATING, Asset, json_encoder, licence_free
from charter.core.digests import content_digests
from charter.core.lineage import Lineage

_PROPAGATES = frozenset(PROPAGATING)


_compact = json_encoder(separators=(",", ":"), ensure_ascii=False)  # lineage.dumps' and terms_key's encoding
_string = json.encoder.encode_basestring  # a str as _compact writes it (ensure_ascii=False), without the encoder's set-up


class Flat(NamedTuple):
    """A compiled lineage (core/lineage.py) as flat tuples: member ids (the asset first, then by distance and
    id), each member's predecessor on its path as an index (-1 for the asset), each member's distance, and the
    set of its members' terms rows (what ``lineage.terms_key`` reads)."""

    ids: tuple[str, ...]
    prev: tuple[int, ...]
    depth: tuple[int, ...]
    krows: frozenset


class Planned(NamedTuple):
    """One asset's rows, before registration numbers are known: (canonical doc, its hash, lineage JSON,
    terms key, its lineage, content digests)."""

    asset: Asset
    doc: str
    hash: str
    lineage: str
    key: str
    flat: Flat
    digests: frozenset


def _key_row(aid: str, licenses, allow, deny, requires) -> tuple:
    return (licenses, allow, deny, bool(requires), licence_free(aid, licenses))


class Planner:
    """Computes ``Planned`` rows for assets given parents-first, each after its parents."""

    def __init__(self, outside: Mapping[str, Lineage]) -> None:
        self.flat: dict[str, Flat] = {}
        self.frag: dict[str, tuple[str, str]] = {}  # member id -> its lineage JSON row around the predecessor index
        self.cols: dict[tuple, str] = {}  # (licences, allow, deny, duties) -> their part of a lineage row
        self.krow: dict[str, tuple] = {}
        self.sets: dict[frozenset, frozenset] = {}  # terms-row sets, interned: their hash is computed once
        self.keys: dict[tuple, str] = {}  # (terms-row set, attestations) -> terms key
        self.below: dict[str, tuple] = {}  # asset id -> (prev, depth, lineage rows) as each child of it holds them
        self.unsorted: set[str] = set()  # outside lineages not in (distance, id) order (written by older code, if any)
        for i, lin in outside.items():
            self.flat[i] = self._from_lineage(lin)
            d, ids = self.flat[i].depth, self.flat[i].ids
            if any((d[k], ids[k]) >= (d[k + 1], ids[k + 1]) for k in range(1, len(ids) - 1)):
                self.unsorted.add(i)

    def _member(self, aid: str, licenses, allow, deny, duties, requires, attest) -> None:
        if aid in self.frag:
            return
        plain = not (requires or attest)
        tail = self.cols.get((licenses, allow, deny, duties)) if plain else None
        if tail is None:  # (most assets share their terms with others: each set is encoded once)
            cols = [list(licenses), list(allow), list(deny), list(duties)]
            if not plain:  # the optional columns exactly as lineage.dumps writes them
                cols.append([r.to_json() for r in requires])
            if attest:
                cols.append(list(attest))
            tail = "," + _compact(cols)[1:]
            if plain:
                self.cols[(licenses, allow, deny, duties)] = tail
        self.frag[aid] = ("[" + _string(aid) + ",", tail)
        self.krow[aid] = _key_row(aid, licenses, allow, deny, requires)

    def _intern(self, rows: frozenset) -> frozenset:
        return self.sets.setdefault(rows, rows)

    def _from_lineage(self, lin: Lineage) -> Flat:
        index = {u.asset.id: k for k, u in enumerate(lin)}
        for u in lin:
            t = u.asset
            self._member(t.id, t.licenses, t.allow, t.deny, t.duties, t.requires, t.attest)
        ids = tuple(u.asset.id for u in lin)
        prev = tuple(index[u.path[-2]] if len(u.path) > 1 else -1 for u in lin)
        depth = tuple(len(u.path) - 1 for u in lin)
        return Flat(ids, prev, depth, self._intern(frozenset(self.krow[i] for i in ids)))

    def plan(self, a: Asset) -> Planned:
        aid = a.id
        self._member(aid, a.licenses, a.allow, a.deny, a.duties, a.requires, a.attest)
        parents = list(dict.fromkeys(e.parent for e in a.derived_from if e.relation in _PROPAGATES))
        own = self.krow[aid]
        frag = self.frag
        head, tail = frag[aid]
        if len(parents) == 1 and parents[0] not in self.unsorted:  # the parent's lineage one step further: same order, indices and distances + 1
            p = self.flat[parents[0]]
            below = self.below.get(parents[0])
            if below is None:  # what every child of this parent shares: indices and distances + 1, the lineage rows
                below = self.below[parents[0]] = ((-1, *[x + 1 for x in p.prev]), (0, *[d + 1 for d in p.depth]),
                                                  ",".join([frag[i][0] + str(x + 1) + frag[i][1] for i, x in zip(p.ids, p.prev)]))
            f = Flat((aid, *p.ids), below[0], below[1], p.krows if own in p.krows else self._intern(p.krows | {own}))
            lineage = "[" + head + "-1" + tail + "," + below[2] + "]"
        elif parents:
            f = self._merge(aid, parents, own)
            lineage = "[" + ",".join([frag[i][0] + str(x) + frag[i][1] for i, x in zip(f.ids, f.prev)]) + "]"
        else:
            f = Flat((aid,), (-1,), (0,), self._intern(frozenset((own,))))
            lineage = "[" + head + "-1" + tail + "]"
        self.flat[aid] = f
        ck = (f.krows, a.attest)
        key = self.keys.get(ck)
        if key is None:
            key = self.keys[ck] = _compact({"m": sorted(f.krows), "a": list(a.attest)})
        doc = a.canonical()
        return Planned(a, doc, Asset.hash_of(doc), lineage, key, f, content_digests(a))

    def _merge(self, aid: str, parents: list[str], own: tuple) -> Flat:
        """Several parents: each member's shortest path, ties to the earliest parent (lineage.compile_lineage)."""
        best: dict[str, tuple[int, str]] = {}
        for p in parents:
            f = self.flat[p]
            ids = f.ids
            for j, m in enumerate(ids):
                d = f.depth[j] + 1
                cur = best.get(m)
                if cur is None or d < cur[0]:
                    best[m] = (d, aid if j == 0 else ids[f.prev[j]])
        order = sorted(best, key=lambda m: (best[m][0], m))
        ids = (aid, *order)
        index = {m: k for k, m in enumerate(ids)}
        prev = (-1, *[index[best[m][1]] for m in order])
        depth = (0, *[best[m][0] for m in order])
        krows = frozenset([own]).union(*[self.flat[p].krows for p in parents])
        return Flat(ids, prev, depth, self._intern(krows))


class Streamed:
    """A batch planned chunk by chunk as it is written: PostgreSQL's server inserts one chunk's rows while this
    thread plans the next (``write_postgres``); SQLite inserts one while a forked process plans the next
    (``write_sqlite``, a large batch; a small one is planned whole first). ``len`` is the batch's size."""

    CHUNK = 50_000  # (1,000,000 assets: the server's time 43.7 s with chunks of 25,000, 40.2 s with 50,000)
    FIRST = 5_000  # the first chunk small: the server waits for it

    def __init__(self, assets: Sequence[Asset], outside: Mapping[str, Lineage], batch: set[str], parents: set[str]) -> None:
        """``batch``: the assets' ids; ``parents``: those of the registered parents they name."""
        self.assets, self.outside, self.batch, self.parents = assets, outside, batch, parents

    def __len__(self) -> int:
        return len(self.assets)

    def chunks(self) -> Iterator[list[Planned]]:
        planner = Planner(self.outside)
        i = 0
        while i < len(self.assets):
            n = self.FIRST if i == 0 else self.CHUNK
            yield [planner.plan(a) for a in self.assets[i:i + n]]
            i += n

    def outside_ids(self) -> set[str]:
        """The registered assets the batch's edges and closures name (their registration numbers are read once),
        found without planning it: a lineage's members outside the batch are those of its registered parents' lineages."""
        out = {u.asset.id for lin in self.outside.values() for u in lin}
        out.update(self.parents)
        return out - self.batch


def plan(assets: Sequence[Asset], outside: Mapping[str, Lineage]) -> list[Planned]:
    """The rows of ``assets`` (parents first; ``outside``: the compiled lineages of their registered parents)."""
    planner = Planner(outside)
    with no_gc():
        return [planner.plan(a) for a in assets]


@contextmanager
def no_gc():
    """A batch allocates millions of acyclic tuples and strings: left on, the cycle collector scans all that is
    alive again and again meanwhile (measured: most of the planning time at 100,000 assets)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def register_event(h: str) -> str:
    """The ``register`` event's data, as ``json.dumps({"hash": h})`` writes it (a hash has no character to escape)."""
    return '{"hash": "' + h + '"}'


def listing_json(memo: dict, licenses: tuple[str, ...]) -> str:
    got = memo.get(licenses)
    if got is None:
        got = memo[licenses] = json.dumps(list(licenses))
    return got


def add_many(store, assets: Sequence[Asset], sources: Mapping[str, str]) -> list[Asset]:
    """``Store.add_many``: check the batch as ``Store.add`` does, plan its rows, write them in one transaction
    (what the registration inherits is read inside it, under the write lock: ``Store._under_write_lock``)."""
    write = _writer(store)
    if write is None:  # a backend without a bulk writer (the memory store): Store.add is as fast there
        return store.add(assets, sources)
    with no_gc():  # (the whole call: each collection would scan every planned row, at 1,000,000 assets ~10 million objects)
        return _add_many(store, write, assets, sources)


def _add_many(store, write, assets: Sequence[Asset], sources: Mapping[str, str]) -> list[Asset]:
    from charter.store.base import now

    ids = [a.id for a in assets]
    known = store._known(ids)
    ordered, batch, parents = store._checked(assets, sources, store.get_many(known) if known else {})
    if not ordered:
        return []
    # the lineages the batch inherits: its propagating registered parents' (no pass over the batch when it names none)
    outside = store._compiled_many({e.parent for a in ordered for e in a.derived_from if e.relation in _PROPAGATES and e.parent in parents}) if parents else {}
    planned = Streamed(ordered, outside, batch, parents)
    t = now()
    write(store, planned, t, store._under_write_lock(ordered, sources, t))
    return ordered


def _writer(store):
    from charter.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return write_sqlite
    try:
        from charter.store.postgres import PostgresStore
    except ImportError:  # psycopg not installed: no PostgreSQL store either
        return None
    return write_postgres if isinstance(store, PostgresStore) else None


class Rows(NamedTuple):
    """Every table's rows for one batch, registration numbers filled in."""

    assets: list[tuple]
    edges: list[tuple]
    lineage: list[tuple]
    asset_terms: list[tuple]  # (rid, terms key, id): the key becomes its terms id when written
    listing: list[tuple]
    closure: list[tuple]
    downstream: list[tuple]
    events: list[tuple]
    content: list[tuple]
    registrations: list[tuple]


class Linked(NamedTuple):
    """A chunk's rows that need its planned lineages (what a forked planner sends back, ``_forked``), and each
    asset's canonical doc, hash and terms key; ``rows_of`` adds the rest from the assets themselves."""

    docs: list[str]
    hashes: list[str]
    keys: list[str]
    edges: list[tuple]
    lineage: list[tuple]
    closure: list[tuple]
    downstream: list[tuple]
    content: list[tuple]


def rows(planned: Sequence[Planned], first: int, rids: dict[str, int], time: str, actor: str) -> Rows:
    """The rows of a batch whose first asset gets registration number ``first`` (``rids``: those of the registered
    assets it names; it gains the batch's own, for a next chunk), in each table's key order (so that each B-tree
    grows at one end): most come so by registration number; the lineage is sorted by id, and the downstream rows
    gathered by ancestor."""
    return rows_of([p.asset for p in planned], linked(planned, first, rids), first, time, actor)


def linked(planned: Sequence[Planned], first: int, rids: dict[str, int]) -> Linked:
    """``rows``' part that needs the planned lineages (``rids`` gains the batch's registration numbers)."""
    rid = rids  # (updated in place: a next chunk names this one's assets)
    rid.update((p.asset.id, first + k) for k, p in enumerate(planned))
    closure: list[tuple] = []
    downstream: list[tuple] = []
    for k, p in enumerate(planned):
        f = p.flat
        if len(f.ids) > 1:  # (the tuples built by zip, in C)
            ancestors = [rid[i] for i in f.ids[1:]]
            closure += zip(repeat(first + k), ancestors, f.depth[1:])
            downstream += zip(ancestors, f.depth[1:], repeat(p.asset.id))
    downstream.sort()  # gathered by ancestor, then distance and descendant
    return Linked(
        docs=[p.doc for p in planned], hashes=[p.hash for p in planned], keys=[p.key for p in planned],
        edges=[(first + k, rid[e.parent], e.relation) for k, p in enumerate(planned) for e in p.asset.derived_from],
        lineage=sorted([(p.asset.id, p.lineage) for p in planned]),
        closure=closure,
        downstream=downstream,
        content=[(d, first + k) for k, p in enumerate(planned) if p.digests for d in sorted(p.digests)],
    )


def rows_of(assets: Sequence[Asset], part: Linked, first: int, time: str, actor: str) -> Rows:
    """A chunk's ``Rows``: its ``Linked`` rows, and the rows each asset gives alone (numbered from ``first``)."""
    memo: dict = {}
    ks = range(first, first + len(assets))
    ids = [a.id for a in assets]
    return Rows(
        assets=[(k, a.id, a.kind, a.name, a.version, h, d, time) for k, a, h, d in zip(ks, assets, part.hashes, part.docs)],
        edges=part.edges, lineage=part.lineage,
        asset_terms=list(zip(ks, part.keys, ids)),
        listing=[(k, listing_json(memo, a.licenses)) for k, a in zip(ks, assets)],
        closure=part.closure, downstream=part.downstream,
        events=[(time, "register", i, register_event(h)) for i, h in zip(ids, part.hashes)],
        content=part.content,
        registrations=list(zip(ks, repeat(actor))),
    )


def new_terms(keys_in_order: Iterable[str], known: Mapping[str, int], first: int) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """Terms ids for the batch's keys: ``known`` ones kept, new ones numbered from ``first`` in the order they first
    appear (registering one by one numbers them so too). Returns (key -> tid, new (tid, key) rows)."""
    tid = dict(known)
    new: list[tuple[int, str]] = []
    for k in keys_in_order:
        if k not in tid:
            tid[k] = first + len(new)
            new.append((tid[k], k))
    return tid, new


SWITCH_S = 0.0002  # the interpreter's thread switch interval while a pipelined write runs
_switch = {"n": 0, "was": 0.0}  # pipelined writes running in this process, and the interval before the first
_switch_lock = threading.Lock()


@contextmanager
def _short_switch():
    """The thread switch interval at ``SWITCH_S`` while any pipelined write runs (a process-wide setting: the
    first write sets it, the last one to end puts the old value back). The writing thread waits on its socket
    without the GIL, then asks for it back while the planning thread runs; at the default 5 ms the server drained
    its buffer and waited meanwhile (1,000,000 assets: 52.2 -> 50.8 s in one pair of runs)."""
    with _switch_lock:
        if _switch["n"] == 0:
            _switch["was"] = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_S)
        _switch["n"] += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch["n"] -= 1
            if _switch["n"] == 0:
                sys.setswitchinterval(_switch["was"])


def _pipelined(chunks: Iterable[list], make, write) -> None:
    """``make(chunk, offset)`` for each chunk on this thread, ``write`` of its result on another, one chunk
    behind. The first failure on either side ends both (the other thread is stopped, not left waiting) and
    is raised here, inside the caller's transaction, which then rolls back."""
    q: queue.Queue = queue.Queue(maxsize=1)
    failed: list[BaseException] = []

    def consume() -> None:
        try:
            while (item := q.get()) is not None:
                write(item)
        except BaseException as e:  # (raised on the caller's thread below)
            failed.append(e)
            while q.get() is not None:  # the producer stops at its next chunk; until then nothing is written
                pass

    t = threading.Thread(target=consume, name="charter-bulk-copy", daemon=True)
    with _short_switch():
        t.start()
        try:
            k = 0
            for chunk in chunks:
                if failed:
                    break
                q.put(make(chunk, k))
                k += len(chunk)
        finally:
            q.put(None)
            t.join()
    if failed:
        raise failed[0]


BULK_CACHE_KIB = 2**21  # SQLite's page cache while a bulk write runs (2 GiB at most, used as the batch needs it)
FORK_MIN = 20_000  # a SQLite batch this large is planned in a forked process while this one writes (Linux)
CHECKPOINT_LATER_MIN = 20_000  # a SQLite batch this large is copied from the WAL on another thread, after its COMMIT


def write_sqlite(store, planned: Streamed, time: str, inherit) -> None:
    """One transaction: every row of the batch, chunk by chunk, each chunk's rows of a table sorted by its key
    (executemany), with a page cache large enough for the indexes the batch touches (the connection's own is
    set back after). A batch of ``FORK_MIN`` or more is planned by a forked copy of this process that hands
    over each chunk's rows (``_forked``) while this one inserts the chunk before: SQLite's inserts take the
    GIL at each row, so a planning thread beside them gained nothing (1,000,000 assets: 74.7 s against 75.4 s),
    a second process runs on the other core. A smaller batch is planned whole first, before the write lock."""
    db = store.db
    others = planned.outside_ids()
    rids = dict(store._in_chunks("SELECT id, rid FROM assets WHERE id IN ({})", others))  # immutable once registered
    fork = len(planned) >= FORK_MIN and _can_fork()
    plans = None if fork else [p for chunk in planned.chunks() for p in chunk]
    later = store._checkpoint_later() if len(planned) >= CHECKPOINT_LATER_MIN else nullcontext()
    with later, store._lock, _page_cache(db, BULK_CACHE_KIB), store._tx():
        withdrawals, restrictions = inherit()
        first = (db.execute("SELECT max(rid) FROM assets").fetchone()[0] or 0) + 1
        actor = store.actor or "unknown"
        terms = _Terms(lambda keys: dict(store._in_chunks("SELECT doc, tid FROM terms WHERE doc IN ({})", keys)),
                       (db.execute("SELECT max(tid) FROM terms").fetchone()[0] or 0) + 1)
        if fork:
            k = 0
            with closing(_forked(planned, first, rids)) as parts:
                for part in parts:  # (the assets' own rows made here: this side waits for the planner)
                    n = len(part.docs)
                    _insert_sqlite(db, rows_of(planned.assets[k:k + n], part, first + k, time, actor), terms)
                    k += n
        else:
            _insert_sqlite(db, rows(plans, first, rids, time, actor), terms)
        for w in withdrawals:
            store._insert_withdrawal(w, "withdraw")
        for rs in restrictions:
            store._insert_restriction(rs)


class _Terms:
    """The terms ids of a batch's keys across its chunks: stored ones looked up once (``lookup(keys)`` -> the
    stored ones' ids), new ones numbered on from ``next_tid``."""

    def __init__(self, lookup, next_tid: int) -> None:
        self.lookup, self.next, self.tid = lookup, next_tid, {}

    def ids(self, keys: Iterable[str]) -> tuple[dict[str, int], list[tuple[int, str]]]:
        """(key -> tid for every key seen so far, the new (tid, key) rows to insert)."""
        keys = [k for k in dict.fromkeys(keys) if k not in self.tid]
        got, new = new_terms(keys, self.lookup(keys) if keys else {}, self.next)
        self.tid.update(got)
        self.next += len(new)
        return self.tid, new


def _insert_sqlite(db, r: Rows, terms: _Terms) -> None:
    tid, new = terms.ids(k for _, k, _ in r.asset_terms)
    x = db.executemany
    x("INSERT INTO assets(rid, id, kind, name, version, hash, doc, registered) VALUES (?,?,?,?,?,?,?,?)", r.assets)
    x("INSERT INTO edges VALUES (?,?,?)", r.edges)
    x("INSERT INTO lineage VALUES (?,?)", r.lineage)
    x("INSERT INTO terms VALUES (?,?)", new)
    x("INSERT INTO asset_terms VALUES (?,?,?)", [(rid, tid[k], i) for rid, k, i in r.asset_terms])
    x("INSERT INTO asset_listing VALUES (?,?)", r.listing)
    x("INSERT INTO closure VALUES (?,?,?)", r.closure)
    x("INSERT INTO downstream VALUES (?,?,?)", r.downstream)
    x("INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)", r.events)
    x("INSERT OR IGNORE INTO content VALUES (?,?)", r.content)
    x("INSERT INTO registrations VALUES (?,?)", r.registrations)


def _can_fork() -> bool:
    """Linux only: macOS's system libraries are not safe to use in a forked child, Windows has no fork."""
    return sys.platform == "linux" and hasattr(os, "fork")


_FRAME = struct.Struct("<Q")
PIPE_BYTES = 1 << 20  # the pipe's buffer (Linux's default 64 KiB woke the reader every 64 KiB)


class PlanningFailed(RuntimeError):
    """The forked planner failed or ended early: the transaction it fed rolls back."""


def _forked(planned: Streamed, first: int, rids: dict[str, int]) -> Iterator[Linked]:
    """Each chunk's ``Linked`` rows, computed by a forked child (it inherits the batch: nothing is sent to it) and
    sent back marshalled through a pipe (plain lists of tuples of str and int: marshal is for this process's own
    data, nothing untrusted reads it). The child never touches the registry's connection and leaves with
    ``os._exit``; it stops at its next write when this side closes the pipe (an error here, or this process
    killed). A failure there (its type and message), or its end without the closing frame, is raised here
    as ``PlanningFailed``. Close the generator (``closing``): the child is then killed and reaped."""
    import fcntl  # (Linux only, as is forking here: _can_fork)

    r, w = os.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # (a limit lower than that: the default buffer works, with more wake-ups)
        pass
    pid = os.fork()
    if pid == 0:  # the child
        os.close(r)
        _plan_into(w, planned, first, rids)  # (does not return)
    os.close(w)
    src = os.fdopen(r, "rb", buffering=PIPE_BYTES)
    ended = False
    try:
        while True:
            head = src.read(_FRAME.size)
            size = _FRAME.unpack(head)[0] if len(head) == _FRAME.size else -1
            data = src.read(size) if size >= 0 else b""
            if len(data) != size:  # the child closed the pipe without the closing frame (or within a frame): it has ended
                ended = True
                status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                raise PlanningFailed(f"the planning process ended before the batch's last chunk (exit status {status})")
            kind, body = marshal.loads(data)
            if kind == "rows":
                yield Linked(*body)
            elif kind == "end":
                return
            else:
                raise PlanningFailed(f"planning the batch failed in its process: {body}")
    finally:
        src.close()
        if not ended:  # kill it if it still runs (this side stopped reading early), and wait for it
            os.kill(pid, signal.SIGKILL)  # (not reaped yet: the pid is still the child's)
            os.waitpid(pid, 0)


def _plan_into(w: int, planned: Streamed, first: int, rids: dict[str, int]) -> None:
    code = 0
    try:
        with os.fdopen(w, "wb", buffering=PIPE_BYTES) as out:
            try:
                k = 0
                for chunk in planned.chunks():
                    _frame(out, ("rows", tuple(linked(chunk, first + k, rids))))
                    k += len(chunk)
                _frame(out, ("end", None))
            except BrokenPipeError:  # the writer stopped reading (it failed, or was killed): nothing to say
                code = 1
            except BaseException as e:  # told to the writer, which raises it in its transaction
                code = 1
                _frame(out, ("error", f"{type(e).__name__}: {e}"))
    except BaseException:
        code = 1
    finally:
        os._exit(code)  # (no atexit, no finalisers: the connection and files belong to the parent)


def _frame(out, item: tuple) -> None:
    data = marshal.dumps(item)
    out.write(_FRAME.pack(len(data)))
    out.write(data)
    out.flush()


@contextmanager
def _page_cache(db, kib: int):
    """SQLite's page cache at ``kib`` KiB for a while (a connection's setting: set back after)."""
    was = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute(f"PRAGMA cache_size=-{kib}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size={was}")


def write_postgres(store, planned: Streamed, time: str, inherit) -> None:
    """One transaction under the write lock: the rows through COPY (new terms and content digests, which may
    already be there, through INSERT), a chunk at a time on a second thread while this one plans the next chunk
    and formats its COPY text (``Streamed``, ``copy_text``: the copying thread then holds the GIL only to hand
    over whole buffers, so the server is not kept waiting for it while this thread plans); then, when the batch
    is a tenth or more of the registry, ANALYZE of the tables it wrote (``PostgresStore._analyze``)."""
    import hashlib

    from psycopg.adapt import Transformer

    from charter.store.postgres import any_text

    others = list(planned.outside_ids())
    actor = store.actor or "unknown"
    with store._tx() as cur:
        withdrawals, restrictions = inherit()
        q, arg = any_text(others)
        rids = dict(cur.execute(f"SELECT id, rid FROM assets WHERE id = ANY({q})", (arg,)).fetchall()) if others else {}
        first = cur.execute("SELECT coalesce(max(rid), 0) + 1 FROM assets").fetchone()[0]
        digest: dict[str, str] = {}  # terms key -> its sha256, how PostgreSQL's terms table finds it

        def stored(keys: list[str]) -> dict[str, int]:
            digest.update((k, hashlib.sha256(k.encode()).hexdigest()) for k in keys)
            found = dict(cur.execute("SELECT digest, tid FROM terms WHERE digest = ANY(%s::text[])", ([digest[k] for k in keys],)).fetchall())
            return {k: found[digest[k]] for k in keys if digest[k] in found}

        terms = _Terms(stored, cur.execute("SELECT coalesce(max(tid), 0) + 1 FROM terms").fetchone()[0])
        tx = Transformer.from_context(cur)  # (made here: the connection's dumpers and encoding, read once)

        def make(chunk: list[Planned], k: int) -> tuple[Rows, dict[str, bytes]]:
            r = rows(chunk, first + k, rids, time, actor)
            return r, {table: copy_text(tx, getattr(r, field)) for table, field in _COPIED}

        def write(item: tuple[Rows, dict[str, bytes]]) -> None:
            r, texts = item
            tid, new = terms.ids(k for _, k, _ in r.asset_terms)
            for table, _ in _COPIED:
                with cur.copy(f"COPY {table} FROM STDIN") as cp:  # (a fixed list of tables: nothing else is interpolated)
                    cp.write(texts[table])
            if new:
                cur.executemany("INSERT INTO terms(tid, digest, doc) VALUES (%s,%s,%s)", [(t, digest[k], k) for t, k in new])
            store._copy(cur, "asset_terms(rid, tid, id)", ((rid, tid[k], i) for rid, k, i in r.asset_terms))
            if r.content:
                cur.executemany("INSERT INTO content VALUES (%s,%s) ON CONFLICT DO NOTHING", r.content)

        _pipelined(planned.chunks(), make, write)
        for w in withdrawals:
            store._insert_withdrawal(cur, w, "withdraw")
        for rs in restrictions:
            store._insert_restriction(cur, rs)
    if len(planned) * 10 >= first - 1 + len(planned):  # a tenth or more of the assets are new: the statistics are stale
        store._analyze()


_COPIED = (  # (COPY target, Rows field) written from COPY text made on the planning thread
    ("assets(rid, id, kind, name, version, hash, doc, registered)", "assets"), ("edges(child, parent, relation)", "edges"),
    ("lineage(id, doc)", "lineage"), ("asset_listing(rid, licenses)", "listing"),
    ("closure(descendant, ancestor, depth)", "closure"), ("downstream(ancestor, depth, descendant)", "downstream"),
    ("events(time, type, asset, data)", "events"), ("registrations(rid, actor)", "registrations"))


def copy_text(tx, rows: Iterable[tuple]) -> bytes:
    """``rows`` as COPY's text format, by psycopg's own formatter (the one ``Copy.write_row`` uses, in C) with the
    connection's dumpers ``tx``: the same bytes write_row would send."""
    from psycopg._copy_base import TextFormatter  # (psycopg is pinned: tests/store/test_bulk.py compares the rows)

    f = TextFormatter(tx)
    out = [f.write_row(r) for r in rows]
    out.append(f.end())
    return b"".join(out)
