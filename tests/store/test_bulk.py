"""The bulk path (``Store.add_many``, store/bulk.py) writes what ``Store.add`` writes, on SQLite and PostgreSQL:
every table row for row, the same closure, events, inherited withdrawals and restrictions, and the same decisions;
all or nothing."""

from __future__ import annotations

import marshal
import os
import random
import re
import sys
import threading
import time

import pytest

from charter.core.assets import Asset, Edge, Requirement
from charter.errors import Conflict, Denied, LineageCycle, NotFound
from charter.registry import Registry
from charter.store import bulk, open_store
from charter.store.base import _topological

# every table a registration writes, its columns in one order (times left out: two runs differ there)
TABLES = {
    "assets": "rid, id, kind, name, version, hash, doc",
    "edges": "child, parent, relation",
    "lineage": "id, doc",
    "terms": "tid, doc",
    "asset_terms": "rid, tid, id",
    "asset_listing": "rid, licenses",
    "closure": "descendant, ancestor, depth",
    "downstream": "ancestor, depth, descendant",
    "content": "digest, asset",
    "registrations": "rid, actor",
    "withdrawal_events": "asset, action, reason",
    "restrictions": "asset, deny, reason",
}
_ISO = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+\+00:00")
USES = (("fine-tuning", "commercial"), ("inference", "research"), ("training",), ("inference", "face-recognition", "commercial"))


@pytest.fixture(params=["sqlite", "postgres"])
def urls(request, tmp_path):
    """Two fresh registries of one backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "a.db"), str(tmp_path / "b.db")
        return
    from charter.store.pgserver import create_database, drop_database

    first, server = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_server")
    name = first.rsplit("/", 1)[1] + "_b"
    try:
        yield first, create_database(server, name)
    finally:
        drop_database(server, name)


def world(n: int, seed: int = 3) -> tuple[list[Asset], list[Asset]]:
    """(assets registered first, a batch of ``n`` more): random lineage with several parents, non-propagating edges,
    deny and allow lists, requirements, attestations, content digests (one shared), new versions of names, ids
    outside ASCII; the batch shuffled out of parents-first order and holding assets already registered."""
    rng = random.Random(seed)
    base = [Asset(id=f"dataset/corpus-{i}@1", kind="dataset", name=f"corpus-{i}", version="1",
                  licenses=(rng.choice(["cc-by-4.0", "cc-by-nc-4.0", "mit"]),)) for i in range(6)]
    base.append(Asset(id="model/base@1", kind="model", name="base", version="1", licenses=("llama2",),
                      derived_from=(Edge("model/base@1", "dataset/corpus-0@1", "trained-on"),)))
    ids = [a.id for a in base]
    batch = []
    for i in range(n):
        kind = rng.choice(["model", "model", "model", "dataset", "application"])
        name = f"m{i % (n // 3)}-ü" if kind == "model" else f"x{i}"
        aid = f"{kind}/{name}@{i}"
        edges = [Edge(aid, p, rng.choice(["fine-tuned-from", "quantized-from", "merged-from", "trained-on"]))
                 for p in dict.fromkeys(rng.sample(ids, min(len(ids), rng.choice([1, 1, 1, 2, 3]))))]
        if rng.random() < 0.1:
            edges.append(Edge(aid, rng.choice(ids), "evaluated-on"))
        notes = {"weights": {"sha256": f"{i % 40:064x}", "digest": "folder-v2"}} if rng.random() < 0.2 else {}
        batch.append(Asset(
            id=aid, kind=kind, name=name, version=str(i), licenses=tuple(rng.sample(["apache-2.0", "mit", "llama2", "openrail-m"], rng.choice([0, 1, 1, 2]))),
            deny=("face-recognition",) if rng.random() < 0.1 else (), allow=("research",) if rng.random() < 0.05 else (),
            duties=("attribution",) if rng.random() < 0.1 else (),
            requires=(Requirement("commercial", "toxigen", "rate", max=0.2),) if rng.random() < 0.03 else (),
            attest=("llama2-700m-mau",) if rng.random() < 0.03 else (),
            derived_from=tuple(edges), notes=notes,
            data={"digests": [{"path": "d.txt", "sha256": f"{i:064x}", "bytes": 3}]} if kind == "dataset" and rng.random() < 0.5 else {}))
        ids.append(aid)
    for name in ("solo-w", "solo-r"):  # one new version of each name prepare() withdraws or restricts an older one of
        batch.append(Asset(id=f"model/{name}@2", kind="model", name=name, version="2",
                           derived_from=(Edge(f"model/{name}@2", rng.choice(ids), "fine-tuned-from"),)))
    rng.shuffle(batch)
    return base, batch + base[:3]


def prepare(store, base: list[Asset], withdrawn: str = "solo-w", restricted: str = "solo-r") -> None:
    """Register ``base``, and an older version of two names, one withdrawn and one restricted: the batch's
    versions of those names inherit that."""
    store.add(base)
    store.add([Asset(id=f"model/{withdrawn}@old", kind="model", name=withdrawn, version="old")])
    store.withdraw(f"model/{withdrawn}@old", "a withdrawn version: new versions of its name inherit it")
    store.add([Asset(id=f"model/{restricted}@old", kind="model", name=restricted, version="old")])
    store.restrict(f"model/{restricted}@old", ["face-recognition"], "restricted: inherited too")


def dump(store) -> dict[str, list[tuple]]:
    """Every table's rows; times (an inherited withdrawal's reason names its source's) as T."""
    def rows(q: str) -> list[tuple]:
        return [tuple(_ISO.sub("T", v) if isinstance(v, str) else v for v in r) for r in store.db.execute(q).fetchall()]

    out = {t: sorted(rows(f"SELECT {cols} FROM {t}")) for t, cols in TABLES.items()}
    out["events"] = rows("SELECT type, asset, data FROM events ORDER BY seq")
    return out


@pytest.fixture(params=[None, 7, "forked"], ids=["one-chunk", "chunks-of-7", "forked-chunks-of-7"])
def chunk(request, monkeypatch):
    """The bulk writers plan and write a batch in chunks (bulk.Streamed): each test once with the batch
    in one chunk, once in a first chunk of 3 then chunks of 7 (lineages, terms and withdrawals spanning chunks),
    and once so on SQLite with the chunks planned in a forked process (bulk.FORK_MIN: a large batch)."""
    if request.param:
        monkeypatch.setattr(bulk.Streamed, "CHUNK", 7)
        monkeypatch.setattr(bulk.Streamed, "FIRST", 3)
    if request.param == "forked":
        monkeypatch.setattr(bulk, "FORK_MIN", 1)
    return request.param


def test_add_many_writes_what_add_writes_one_by_one(urls, chunk):
    base, batch = world(300)
    bulk_store, ref = open_store(urls[0]), open_store(urls[1])
    try:
        for s in (bulk_store, ref):
            prepare(s, base)
        got = bulk_store.add_many(batch)
        assert {a.id for a in got} == {a.id for a in batch} - {a.id for a in base}
        assert [a.id for a in got] == [a.id for a in _topological([a for a in batch if a not in base], {})]
        for a in got:  # the reference: Store.add of each asset alone, in the order add_many registered them
            ref.add([a])
        mine, theirs = dump(bulk_store), dump(ref)
        for t in TABLES:
            assert mine[t] == theirs[t], t
        assert len(mine["closure"]) > len(batch) and len(mine["withdrawal_events"]) > 1 and len(mine["restrictions"]) > 1
        assert sorted(mine["events"]) == sorted(theirs["events"])
        assert bulk_store.add_many(batch) == []  # all registered: nothing new, nothing written
        assert dump(bulk_store) == mine
        r1, r2 = Registry(bulk_store), Registry(ref)
        for a in batch:
            assert r1.trace(a.id, down=True) == r2.trace(a.id, down=True)
            assert r1.trace(a.id, down=False) == r2.trace(a.id, down=False)
            for uses in USES:
                assert _ISO.sub("T", repr(r1.check(a.id, uses))) == _ISO.sub("T", repr(r2.check(a.id, uses))), (a.id, uses)
    finally:
        bulk_store.close()
        ref.close()


def test_a_batch_in_one_add_equals_add_many(urls, chunk):
    """Store.add of the whole batch (one transaction) writes the same rows and events, in the same order; here
    with several new versions of a withdrawn and of a restricted name in the batch (each inherits from the
    stored versions only, not from another of the batch: Store.add's rule for a batch)."""
    base, batch = world(120, seed=5)
    bulk_store, ref = open_store(urls[0]), open_store(urls[1])
    try:
        for s in (bulk_store, ref):
            prepare(s, base, "m0-ü", "m1-ü")
        bulk_store.add_many(batch)
        ref.add(batch)
        assert dump(bulk_store) == dump(ref)
    finally:
        bulk_store.close()
        ref.close()


def test_add_many_is_all_or_nothing(urls):
    base, batch = world(60, seed=7)
    store = open_store(urls[0])
    try:
        prepare(store, base)
        before = dump(store)
        changed = Asset(id=base[0].id, kind="dataset", name=base[0].name, version="1", description="other content")
        for bad, error in (
            ([*batch, changed], Conflict),
            ([*batch, Asset(id="model/orphan@1", kind="model", name="orphan", version="1",
                            derived_from=(Edge("model/orphan@1", "model/nowhere@1", "fine-tuned-from"),))], NotFound),
            ([*batch, Asset(id="model/a@1", kind="model", name="a", version="1", derived_from=(Edge("model/a@1", "model/b@1", "fine-tuned-from"),)),
              Asset(id="model/b@1", kind="model", name="b", version="1", derived_from=(Edge("model/b@1", "model/a@1", "fine-tuned-from"),))], LineageCycle),
        ):
            with pytest.raises(error):
                store.add_many(bad)
            assert dump(store) == before
        # withdrawn content is refused, and nothing of the batch is written
        store.add([Asset(id="model/w@1", kind="model", name="w", version="1", notes={"weights": {"sha256": "cd" * 32, "digest": "folder-v2"}})])
        store.withdraw("model/w@1", "its weights are withdrawn")
        before = dump(store)
        with pytest.raises(Denied):
            store.add_many([*batch, Asset(id="model/copy@1", kind="model", name="copy", version="1", notes={"weights": {"sha256": "cd" * 32}})])
        assert dump(store) == before
    finally:
        store.close()


def test_a_failure_while_writing_rolls_the_whole_batch_back(urls, monkeypatch, chunk):
    """The last table's insert fails (a row another process wrote at the same time): no row of the batch stays."""
    base, batch = world(80, seed=11)
    store, other = open_store(urls[0]), open_store(urls[0])
    try:
        prepare(store, base)
        before = dump(store)
        first = store.assets_version() + 1
        under = type(store)._under_write_lock

        def collide_then_lock(self, ordered, *rest):  # just before the batch's transaction (planned or not yet)
            q = "INSERT INTO registrations VALUES (%s, 'someone')" if "postgres" in type(other).__name__.lower() else "INSERT INTO registrations VALUES (?, 'someone')"
            with other._tx():
                other.db.execute(q, (first + len(ordered) - 1,))
            return under(self, ordered, *rest)

        monkeypatch.setattr(type(store), "_under_write_lock", collide_then_lock)
        with pytest.raises(Conflict):
            store.add_many(batch)
        after = dump(store)
        after["registrations"].remove((first + len({a.id for a in batch} - {a.id for a in base}) - 1, "someone"))
        assert after == before
    finally:
        store.close()
        other.close()


def _spy_bulk_writers(monkeypatch) -> list[int]:
    """The batch sizes the bulk writers (either backend: the PostgreSQL pass maps these registry paths) were given."""
    calls: list[int] = []
    for name in ("write_sqlite", "write_postgres"):
        write = getattr(bulk, name)
        monkeypatch.setattr(bulk, name, lambda *a, write=write: calls.append(len(a[1])) or write(*a))
    return calls


def test_registry_add_many_and_large_adds_take_the_bulk_path(tmp_path, monkeypatch):
    calls = _spy_bulk_writers(monkeypatch)
    base, batch = world(40)
    reg = Registry(open_store(str(tmp_path / "r.db")))
    reg.add(base)  # small: Store.add
    assert calls == []
    assert len(reg.add_many(batch)) == 42  # and solo-w@2, solo-r@2
    assert calls == [42]
    monkeypatch.setattr(Registry, "BULK_MIN", 10)
    reg.add([Asset(id=f"dataset/more-{i}@1", kind="dataset", name=f"more-{i}", version="1") for i in range(12)])
    assert calls == [42, 12]
    assert [r["action"] for r in reg.actions()][-2:] == ["add", "add"]  # each write recorded with its actor
    reg.close()


def test_charter_add_of_a_large_file_takes_the_bulk_path_and_writes_the_same(tmp_path, monkeypatch):
    """`charter add FILE` with at least Registry.BULK_MIN charters registers them through add_many; the registry
    holds what the same command writes through Store.add."""
    from charter.cli.main import main
    from charter.core.files import resource

    eco = str(resource("examples") / "ecosystem.yaml")
    calls = _spy_bulk_writers(monkeypatch)
    assert main(["add", eco, "--registry", str(tmp_path / "small.db")]) == 0  # 15 charters: Store.add
    assert calls == []
    monkeypatch.setattr(Registry, "BULK_MIN", 10)
    assert main(["add", eco, "--registry", str(tmp_path / "bulk.db")]) == 0
    assert calls == [15]
    a, b = open_store(str(tmp_path / "small.db")), open_store(str(tmp_path / "bulk.db"))
    assert dump(a) == dump(b)
    a.close()
    b.close()


def test_a_large_batch_on_postgresql_refreshes_the_planner_statistics(pg_url, monkeypatch):
    """A batch of a tenth or more of the registry is followed by ANALYZE of the tables it wrote (stale statistics
    made the planner sort a large trace on disk); a small batch into a larger registry is not (autovacuum's job)."""
    import psycopg

    from charter.store import bulk
    from charter.store.postgres import PostgresStore

    def reltuples(table: str) -> float:
        with psycopg.connect(pg_url) as c:
            return c.execute("SELECT reltuples FROM pg_class WHERE relname=%s", (table,)).fetchone()[0]

    base, batch = world(60)
    store = open_store(pg_url)
    try:
        assert reltuples("downstream") < 0  # never analyzed
        bulk.add_many(store, base + batch, {})
        n = store.count()
        assert n > 20 and reltuples("assets") == n and reltuples("downstream") > 0
        calls = []
        monkeypatch.setattr(PostgresStore, "_analyze", lambda self, *a: calls.append(a))
        bulk.add_many(store, [Asset(id="dataset/late@1", kind="dataset", name="late", version="1", licenses=("mit",))], {})
        assert calls == []  # one asset on top of n: not a tenth
        monkeypatch.undo()
        with pytest.raises(ValueError):  # only the tables it writes are ever named
            store._analyze(("assets; DROP TABLE assets",))
    finally:
        store.close()


def test_pipelined_stops_both_sides_at_the_first_failure():
    """bulk._pipelined: a write that fails stops the planning at its next chunk and is raised; a plan that fails
    stops the writer; neither thread is left waiting."""
    written, made = [], []

    def make(chunk, k):
        made.append(k)
        if chunk == ["bad-plan"]:
            raise ValueError("plan")
        return chunk

    def write(r):
        if r == ["bad-write"]:
            raise KeyError("write")
        written.append(r)

    with pytest.raises(KeyError):
        bulk._pipelined(iter([["a"], ["bad-write"], ["c"], ["d"], ["e"]]), make, write)
    assert written == [["a"]] and len(made) <= 4  # at most one chunk planned after the failed write
    written.clear()
    with pytest.raises(ValueError):
        bulk._pipelined(iter([["a"], ["bad-plan"], ["c"]]), make, write)
    assert written == [["a"]]
    written.clear()
    bulk._pipelined(iter([["a"], ["b"]]), make, write)
    assert written == [["a"], ["b"]]
    assert not [t for t in threading.enumerate() if t.name == "charter-bulk-copy"]


def test_pipelined_shortens_the_switch_interval_while_it_runs_and_puts_it_back():
    """The interval is process-wide: set while any pipelined write runs, the old value back when the last one
    ends (also after a failure, and with two writes overlapping on two threads)."""
    before = sys.getswitchinterval()
    seen = []
    bulk._pipelined(iter([["a"]]), lambda c, k: c, lambda r: seen.append(sys.getswitchinterval()))
    assert seen == [pytest.approx(bulk.SWITCH_S)] and sys.getswitchinterval() == before
    with pytest.raises(KeyError):
        bulk._pipelined(iter([["a"]]), lambda c, k: c, lambda r: {}["x"])
    assert sys.getswitchinterval() == before
    inner_started, outer_may_end = threading.Event(), threading.Event()

    def outer_write(r):
        inner_started.wait(5)
        outer_may_end.wait(5)

    t = threading.Thread(target=bulk._pipelined, args=(iter([["a"]]), lambda c, k: c, outer_write))
    t.start()

    def inner_write(r):
        inner_started.set()

    bulk._pipelined(iter([["b"]]), lambda c, k: c, inner_write)  # ends first: the outer write still runs
    assert sys.getswitchinterval() == pytest.approx(bulk.SWITCH_S)
    outer_may_end.set()
    t.join(10)
    assert sys.getswitchinterval() == before


def _forks(monkeypatch) -> list[int]:
    """The pids of the processes os.fork starts from now on (the planners of large SQLite batches)."""
    pids: list[int] = []
    fork = os.fork

    def spied() -> int:
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", spied)
    return pids


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.sqlite_only("the forked planner is SQLite's bulk writer")
def test_a_large_sqlite_batch_is_planned_in_a_forked_process_that_is_reaped(tmp_path, monkeypatch):
    base, batch = world(200, seed=13)
    monkeypatch.setattr(bulk.Streamed, "CHUNK", 50)
    monkeypatch.setattr(bulk.Streamed, "FIRST", 10)
    stores = open_store(str(tmp_path / "a.db")), open_store(str(tmp_path / "b.db"))
    try:
        for s in stores:
            prepare(s, base)
        stores[1].add_many(batch)  # below FORK_MIN: planned here
        pids = _forks(monkeypatch)
        monkeypatch.setattr(bulk, "FORK_MIN", len(batch) - len(base))  # this batch: forked
        stores[0].add_many(batch)
        assert len(pids) == 1 and _reaped(pids[0])
        assert dump(stores[0]) == dump(stores[1])
    finally:
        for s in stores:
            s.close()


@pytest.mark.sqlite_only("the forked planner is SQLite's bulk writer")
@pytest.mark.parametrize("how", ["raises", "dies", "dies-mid-frame", "writer-fails"])
def test_a_failing_or_dying_planner_rolls_the_batch_back(tmp_path, monkeypatch, how):
    """The planner fails at its third chunk (an exception: its message comes back; or its process ends at once):
    the writer raises PlanningFailed inside its transaction, nothing of the batch stays, the child is reaped; so too
    when it ends halfway through sending its second chunk.
    Or the writer fails at the second chunk while the planner still works: the planner is killed and reaped."""
    base, batch = world(100, seed=17)
    store = open_store(str(tmp_path / "a.db"))
    try:
        prepare(store, base)
        before = dump(store)
        monkeypatch.setattr(bulk, "FORK_MIN", 1)
        monkeypatch.setattr(bulk.Streamed, "CHUNK", 20)
        monkeypatch.setattr(bulk.Streamed, "FIRST", 5)
        calls, linked = [], bulk.linked

        def third_fails(*a):  # (runs in the forked planner: it inherits this patch)
            calls.append(1)
            if how == "writer-fails":
                time.sleep(0.2)
            elif len(calls) == 3 and how in ("raises", "dies"):
                if how == "dies":
                    os._exit(9)
                raise ValueError("a bug in planning")
            return linked(*a)

        monkeypatch.setattr(bulk, "linked", third_fails)
        frame, frames = bulk._frame, []

        def second_cut(out, item):  # (in the planner too)
            frames.append(1)
            if how == "dies-mid-frame" and len(frames) == 2:
                data = marshal.dumps(item)
                out.write(bulk._FRAME.pack(len(data)) + data[:len(data) // 2])
                out.flush()
                os._exit(9)
            return frame(out, item)

        monkeypatch.setattr(bulk, "_frame", second_cut)
        insert, inserts = bulk._insert_sqlite, []

        def second_fails(*a):
            inserts.append(1)
            if how == "writer-fails" and len(inserts) == 2:
                raise OSError("disk full")
            return insert(*a)

        monkeypatch.setattr(bulk, "_insert_sqlite", second_fails)
        pids = _forks(monkeypatch)
        error = OSError if how == "writer-fails" else bulk.PlanningFailed
        with pytest.raises(error) as e:
            store.add_many(batch)
        want = {"dies": "exit status 9", "dies-mid-frame": "exit status 9", "raises": "ValueError: a bug in planning", "writer-fails": "disk full"}[how]
        assert want in str(e.value)
        assert len(pids) == 1 and _reaped(pids[0])
        assert dump(store) == before
        monkeypatch.setattr(bulk, "linked", linked)
        monkeypatch.setattr(bulk, "_frame", frame)
        store.add_many(batch)  # the registry is usable after
        assert len(dump(store)["assets"]) == len(before["assets"]) + len({a.id for a in batch} - {a.id for a in base})
    finally:
        store.close()


_KILLED_AFTER_ADD = """
import os, signal, sys, time
sys.path[:0] = [{src!r}, {tests!r}]
from charter.store import bulk, open_store
from charter.store.sqlite import SQLiteStore
from store.test_bulk import world, prepare
bulk.CHECKPOINT_LATER_MIN = 1
SQLiteStore._checkpoint = lambda self: time.sleep(60)  # the checkpoint not begun when the process dies
base, batch = world(150, seed=23)
store = open_store({path!r})
prepare(store, base)
store.add_many(batch)
print("acknowledged", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.sqlite_only("the background checkpoint is SQLite's (PostgreSQL checkpoints by itself)")
def test_a_large_sqlite_batch_is_checkpointed_after_its_commit_on_another_thread(tmp_path, monkeypatch):
    """A batch of CHECKPOINT_LATER_MIN or more: its COMMIT leaves the WAL's frames there (the connection's
    automatic checkpoint off for it, then back); a thread with its own connection copies them all after;
    a smaller batch starts no thread."""
    base, batch = world(120, seed=19)
    path = tmp_path / "odd [name] %20 #1.db"  # (the checkpoint's connection opens it by URI: quoted)
    store = open_store(str(path))
    try:
        prepare(store, base)
        monkeypatch.setattr(bulk, "CHECKPOINT_LATER_MIN", len(batch) + 1)
        store.add_many([Asset(id="dataset/small@1", kind="dataset", name="small", version="1")])
        assert store._checkpointer is None
        seen = []
        real = type(store)._checkpoint

        def spied(self):  # what the WAL held when the thread began: the batch's frames, none copied yet
            seen.append(_wal_frames(path))
            real(self)

        monkeypatch.setattr(type(store), "_checkpoint", spied)
        monkeypatch.setattr(bulk, "CHECKPOINT_LATER_MIN", 10)
        store.add_many(batch)
        running = store._checkpointer  # (None once it has ended)
        if running is not None:
            running.join(30)
        assert store._checkpointer is None  # ended
        assert seen and seen[0] > 0
        busy, frames, copied = store.checkpointed
        assert busy == 0 and frames == copied > 0  # every frame of the WAL is in the database file now
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # SQLite's default, back
        assert store.count() == len({a.id for a in base + batch}) + 3  # (the batch repeats some of base)
    finally:
        store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + "-generations"]  # (the beacon's); no other file made (a misquoted URI would)


def _wal_frames(path) -> int:
    """The frames in the WAL next to ``path`` (its header 32 bytes, each frame a 24-byte header and a page)."""
    import sqlite3

    wal = path.with_name(path.name + "-wal")
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    return (wal.stat().st_size - 32) // (24 + page) if wal.exists() else 0


@pytest.mark.sqlite_only("the background checkpoint is SQLite's")
def test_a_registry_removed_before_its_checkpoint_is_not_made_again(tmp_path):
    store = open_store(str(tmp_path / "gone.db"))
    try:
        store.add(world(3)[0])
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"gone.db{suffix}").unlink(missing_ok=True)
        store._checkpoint_again = True
        store._checkpoint()  # (opens it read-write only if it exists)
        assert store.checkpointed is None
        assert not (tmp_path / "gone.db").exists()
    finally:
        store.close()


@pytest.mark.sqlite_only("the background checkpoint is SQLite's")
def test_a_batch_acknowledged_before_its_checkpoint_survives_sigkill(tmp_path):
    """The process is killed right after add_many returned, its checkpoint not begun: the batch is in the WAL,
    whole, and the registry passes `charter check`."""
    import subprocess

    from charter.registry_check import check

    path = tmp_path / "killed.db"
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(os.path.dirname(tests), "src")
    code = _KILLED_AFTER_ADD.format(src=src, tests=tests, path=str(path))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == -9 and p.stdout.strip() == "acknowledged", p.stderr[-2000:]
    base, batch = world(150, seed=23)
    reference = open_store(str(tmp_path / "reference.db"))
    store = open_store(str(path))
    try:
        prepare(reference, base)
        reference.add_many(batch)
        assert dump(store) == dump(reference)
    finally:
        store.close()
        reference.close()
    report = check(path)
    assert report.ok, report.to_json()
