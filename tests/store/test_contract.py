"""The Store contract, run against every backend.

To add a backend, add a factory to ``BACKENDS``: a function taking pytest's ``tmp_path``
(PostgreSQL's: a fresh database's URL) and returning a fresh, empty store. Every test in the
contract section then runs against it. PostgreSQL runs on a throwaway server per test session
(tests/store/conftest.py); ``PG_URL`` or ``CHARTER_TEST_POSTGRES`` points it at an existing one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from charter.core.assets import Asset, Edge, Withdrawal
from charter.errors import CharterError, Conflict, InvalidInput, LineageCycle, NotFound, StoreError
from charter.store import Store, open_store
from charter.store.base import SignatureRecord, withdraw_owners
from charter.store.memory import MemoryStore
from charter.store.sqlite import SCHEMA_VERSION, SIGNATURES_SINCE, SQLiteStore

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda tmp: MemoryStore(),
    "sqlite": lambda tmp: SQLiteStore(tmp / "registry.db"),
    # a fresh database per test on the session's throwaway server (tests/store/conftest.py: pg_url;
    # PG_URL or CHARTER_TEST_POSTGRES names an existing server instead); skipped where PostgreSQL is not installed
    "postgres": lambda url: _postgres(url),
}


def _postgres(url: str) -> Store:
    from charter.store.postgres import PostgresStore

    s = open_store(url)
    assert isinstance(s, PostgresStore), url
    return s


SQLITE_PARAM = "the SQLite parameter of a backend-parametrised test (its postgres parameter runs)"


@pytest.fixture(params=[pytest.param(b, marks=pytest.mark.sqlite_only(SQLITE_PARAM)) if b == "sqlite" else b for b in sorted(BACKENDS)])
def store(request, tmp_path):
    arg = request.getfixturevalue("pg_url") if request.param == "postgres" else tmp_path
    s = BACKENDS[request.param](arg)
    yield s
    s.close()


def A(aid: str, *parents: str | tuple[str, str], **kw) -> Asset:
    """An asset; parents are ids (relation trained-on) or (id, relation) pairs."""
    kind, rest = aid.split("/", 1)
    name, version = rest.rsplit("@", 1)
    edges = tuple(Edge(aid, *(p if isinstance(p, tuple) else (p, "trained-on"))) for p in parents)
    return Asset(id=aid, kind=kind, name=name, version=version, derived_from=edges, **kw)


def ids(assets) -> list[str]:
    return [a.id for a in assets]


def snapshot(store: Store) -> tuple:
    return store.count(), [(e.seq, e.type, e.asset) for e in store.events()], sorted(store.withdrawals())


def diamond(store: Store) -> None:
    """top <- left, right <- merge <- app; app also trained-on top directly; evalm evaluated-on top."""
    store.add([
        A("dataset/top@1"),
        A("model/left@1", "dataset/top@1"),
        A("model/right@1", ("dataset/top@1", "fine-tuned-from")),
        A("model/merge@1", ("model/left@1", "merged-from"), ("model/right@1", "merged-from")),
        A("application/app@1", ("model/merge@1", "deployed-from"), "dataset/top@1"),
        A("model/evalm@1", ("dataset/top@1", "evaluated-on")),
    ])


# === registration ==========================================================================

def test_empty_store(store):
    assert store.count() == 0
    assert list(store.find()) == []
    assert store.events() == []
    assert store.withdrawals() == {}
    assert store.get("model/x@1") is None
    assert store.get_many(["model/x@1"]) == {}
    assert store.upstream("model/x@1") == [] and store.downstream("model/x@1") == []
    assert store.lineage("model/x@1") == [] and store.children("model/x@1") == []


def test_add_returns_new_assets_parents_first(store):
    child, parent = A("model/m@1", "dataset/d@1"), A("dataset/d@1")
    assert ids(store.add([child, parent])) == ["dataset/d@1", "model/m@1"]
    assert store.count() == 2
    assert store.get("model/m@1") == child
    assert store.get("model/m@1").content_hash == child.content_hash
    assert store.get_many(["dataset/d@1", "model/m@1", "model/zz@1"]).keys() == {"dataset/d@1", "model/m@1"}


def test_add_round_trips_every_field(store):
    a = A("model/m@1", description="a model", licenses=("MIT", "CC-BY-4.0"), allow=("inference",),
          deny=("military", "surveillance"), duties=("attribution",), notes={"url": "https://x", "n": [1, 2], "d": {"k": None}})
    store.add([a])
    got = store.get(a.id)
    assert got == a and got.notes == a.notes and got.content_hash == a.content_hash
    assert got.to_json() == a.to_json()


def test_add_only_new_ones_returned(store):
    store.add([A("dataset/d@1")])
    assert ids(store.add([A("dataset/d@1"), A("model/m@1", "dataset/d@1")])) == ["model/m@1"]


def test_readding_identical_content_is_a_noop(store):
    store.add([A("dataset/d@1", licenses=("MIT",)), A("model/m@1", "dataset/d@1")])
    before = snapshot(store)
    assert store.add([A("model/m@1", "dataset/d@1"), A("dataset/d@1", licenses=("MIT",))]) == []
    assert snapshot(store) == before


def test_same_id_different_content_is_a_conflict(store):
    store.add([A("dataset/d@1", licenses=("MIT",))])
    before = snapshot(store)
    with pytest.raises(Conflict) as e:
        store.add([A("dataset/d@1", licenses=("CC-BY-NC-4.0",))], sources={"dataset/d@1": "d.yaml:3"})
    assert "dataset/d@1" in e.value.message and e.value.hint and e.value.where == "d.yaml:3"
    assert snapshot(store) == before
    assert store.get("dataset/d@1").licenses == ("MIT",)


def test_notes_count_as_content(store):
    store.add([A("dataset/d@1", notes={"url": "a"})])
    with pytest.raises(Conflict):
        store.add([A("dataset/d@1", notes={"url": "b"})])


def test_same_id_twice_in_one_batch(store):
    with pytest.raises(Conflict):
        store.add([A("dataset/d@1", licenses=("MIT",)), A("dataset/d@1", licenses=("GPL-3.0",))])
    assert snapshot(store) == (0, [], [])
    assert ids(store.add([A("dataset/d@1"), A("dataset/d@1")])) == ["dataset/d@1"]
    assert store.count() == 1 and len(store.events()) == 1


def test_missing_parent_is_not_found(store):
    store.add([A("dataset/d@1")])
    before = snapshot(store)
    with pytest.raises(NotFound) as e:
        store.add([A("model/m@1", "dataset/d@2")], sources={"model/m@1": "m.yaml"})
    assert e.value.field == "derived_from" and "dataset/d@2" in e.value.message
    assert "dataset/d@1" in e.value.hint  # registered versions of the same name
    assert e.value.where == "m.yaml"
    assert snapshot(store) == before


def test_missing_evaluated_on_parent_is_not_found(store):
    with pytest.raises(NotFound):
        store.add([A("model/m@1", ("dataset/bench@1", "evaluated-on"))])
    assert store.count() == 0


@pytest.mark.parametrize("batch", [
    [A("model/a@1", "model/b@1"), A("model/b@1", "model/a@1")],
    [A("model/a@1", "model/c@1"), A("model/b@1", "model/a@1"), A("model/c@1", ("model/b@1", "merged-from"))],
    [A("model/a@1", "model/a@1")],
    [A("model/a@1", ("model/b@1", "evaluated-on")), A("model/b@1", "model/a@1")],
], ids=["two", "three", "self", "via-evaluated-on"])
def test_cycle_within_a_batch(store, batch):
    store.add([A("dataset/other@1")])
    before = snapshot(store)
    with pytest.raises(LineageCycle) as e:
        store.add(batch)
    assert e.value.field == "derived_from" and " -> " in e.value.message
    assert snapshot(store) == before


@pytest.mark.parametrize("failure", ["conflict", "missing-parent", "cycle", "write-error"])
def test_a_failing_batch_writes_nothing(store, failure):
    store.add([A("dataset/base@1", licenses=("MIT",))])
    before = snapshot(store)
    good = [A("dataset/ok@1"), A("model/ok@1", "dataset/ok@1", "dataset/base@1")]
    bad = {
        "conflict": A("dataset/base@1", licenses=("GPL-3.0",)),
        "missing-parent": A("model/bad@1", "dataset/nowhere@1"),
        "cycle": A("model/bad@1", "model/bad@1"),
        # fails inside the backend's write: the content cannot be serialised
        "write-error": A("model/bad@1", "model/ok@1", notes={"x": object()}),
    }[failure]
    with pytest.raises((CharterError, TypeError)):  # TypeError: the unserialisable notes
        store.add([*good, bad])
    assert snapshot(store) == before
    assert store.get("dataset/ok@1") is None and store.get("model/ok@1") is None
    assert store.downstream("dataset/base@1") == [] and store.children("dataset/base@1") == []
    # and the store is still usable
    assert ids(store.add(good)) == ["dataset/ok@1", "model/ok@1"]


def test_find_in_registration_order(store):
    store.add([A("model/m@2"), A("dataset/d@1")])
    store.add([A("model/m@1"), A("model/other@1")])
    assert ids(store.find()) == ["model/m@2", "dataset/d@1", "model/m@1", "model/other@1"]
    assert ids(store.find(kind="model")) == ["model/m@2", "model/m@1", "model/other@1"]
    assert ids(store.find(kind="model", name="m")) == ["model/m@2", "model/m@1"]
    assert ids(store.find(name="d")) == ["dataset/d@1"]
    assert store.count() == 4


def test_names_with_slashes(store):
    store.add([A("model/org/llm-7b@v1.0+q4")])
    assert ids(store.find(kind="model", name="org/llm-7b")) == ["model/org/llm-7b@v1.0+q4"]


def test_require(store):
    store.add([A("model/m@1"), A("model/m@2")])
    assert store.require("model/m@2").version == "2"
    with pytest.raises(NotFound) as e:
        store.require("model/m@3")
    assert "model/m@1" in e.value.hint and "model/m@2" in e.value.hint
    with pytest.raises(NotFound) as e:
        store.require("model/mm@1")
    assert "model/m@1" in e.value.hint  # did you mean


# === lineage ===============================================================================

def test_upstream_closure_with_shortest_depths(store):
    diamond(store)
    assert store.upstream("application/app@1") == [
        ("dataset/top@1", 1), ("model/merge@1", 1), ("model/left@1", 2), ("model/right@1", 2)]
    assert store.upstream("model/merge@1") == [("model/left@1", 1), ("model/right@1", 1), ("dataset/top@1", 2)]
    assert store.upstream("dataset/top@1") == []


def test_lineage_is_the_asset_and_its_upstream(store):
    diamond(store)
    lin = store.lineage("application/app@1")
    assert lin[0].id == "application/app@1"
    assert sorted(ids(lin)) == sorted(["application/app@1", "model/merge@1", "model/left@1", "model/right@1", "dataset/top@1"])
    assert ids(store.lineage("dataset/top@1")) == ["dataset/top@1"]
    assert ids(store.lineage("model/evalm@1")) == ["model/evalm@1"]


def test_downstream_closure_and_depth_limit(store):
    diamond(store)
    everything = [("application/app@1", 1), ("model/left@1", 1), ("model/right@1", 1), ("model/merge@1", 2)]
    assert store.downstream("dataset/top@1") == everything
    assert store.downstream("dataset/top@1", None) == everything
    assert store.downstream("dataset/top@1", 1) == everything[:3]
    assert store.downstream("dataset/top@1", 2) == everything
    assert store.downstream("dataset/top@1", 0) == []
    assert store.downstream("model/left@1") == [("model/merge@1", 1), ("application/app@1", 2)]
    assert store.downstream("application/app@1") == []


def test_children_include_evaluated_on_which_is_not_in_the_closure(store):
    diamond(store)
    assert set(store.children("dataset/top@1")) == {
        Edge("model/left@1", "dataset/top@1", "trained-on"),
        Edge("model/right@1", "dataset/top@1", "fine-tuned-from"),
        Edge("application/app@1", "dataset/top@1", "trained-on"),
        Edge("model/evalm@1", "dataset/top@1", "evaluated-on"),
    }
    assert "model/evalm@1" not in dict(store.downstream("dataset/top@1"))
    assert store.upstream("model/evalm@1") == []
    assert store.children("model/merge@1") == [Edge("application/app@1", "model/merge@1", "deployed-from")]
    assert store.children("application/app@1") == []


def test_child_counts_count_propagating_edges_only(store):
    diamond(store)
    # dataset/top's four children: evaluated-on does not count; an unregistered id and a leaf count 0
    assert store.child_counts(["dataset/top@1", "model/merge@1", "application/app@1", "model/nope@1"]) == {
        "dataset/top@1": 3, "model/merge@1": 1, "application/app@1": 0, "model/nope@1": 0}
    assert store.child_counts([]) == {}
    store.add([A("dataset/b@1"), A("model/m@1", ("dataset/b@1", "evaluated-on"), ("dataset/b@1", "trained-on"))])
    assert store.child_counts(["dataset/b@1"]) == {"dataset/b@1": 1}


def test_closure_built_across_batches(store):
    store.add([A("dataset/a@1")])
    store.add([A("dataset/b@1", ("dataset/a@1", "curated-from"))])
    store.add([A("model/c@1", "dataset/b@1"), A("model/d@1", ("model/c@1", "quantized-from"))])
    assert store.upstream("model/d@1") == [("model/c@1", 1), ("dataset/b@1", 2), ("dataset/a@1", 3)]
    assert store.downstream("dataset/a@1", 2) == [("dataset/b@1", 1), ("model/c@1", 2)]


def test_evaluated_on_and_propagating_edge_to_the_same_parent(store):
    store.add([A("dataset/b@1"), A("model/m@1", ("dataset/b@1", "evaluated-on"), ("dataset/b@1", "trained-on"))])
    assert store.upstream("model/m@1") == [("dataset/b@1", 1)]
    assert len(store.children("dataset/b@1")) == 2


# === withdrawals ===========================================================================

def test_withdraw(store):
    diamond(store)
    v0 = store.withdrawals_version()
    w = store.withdraw("model/left@1", "  bad checkpoint  ")
    assert isinstance(w, Withdrawal) and w.asset == "model/left@1" and w.reason == "bad checkpoint" and w.time
    assert store.withdrawals() == {"model/left@1": w}
    v1 = store.withdrawals_version()
    assert v1 != v0
    assert store.withdrawals_version() == v1  # stable while nothing changes
    store.withdraw("dataset/top@1", "takedown")
    assert store.withdrawals_version() not in (v0, v1)
    assert set(store.withdrawals()) == {"model/left@1", "dataset/top@1"}


def test_withdrawing_twice_is_a_conflict(store):
    store.add([A("dataset/d@1")])
    store.withdraw("dataset/d@1", "first")
    before = snapshot(store)
    with pytest.raises(Conflict) as e:
        store.withdraw("dataset/d@1", "second")
    assert "first" in e.value.message
    assert snapshot(store) == before
    assert store.withdrawals()["dataset/d@1"].reason == "first"


def test_withdraw_unknown_asset_or_without_reason(store):
    store.add([A("dataset/d@1")])
    with pytest.raises(NotFound):
        store.withdraw("dataset/d@9", "why")
    with pytest.raises(InvalidInput):
        store.withdraw("dataset/d@1", "   ")
    assert snapshot(store) == (1, [(1, "register", "dataset/d@1")], [])


def test_withdrawal_does_not_change_lineage(store):
    diamond(store)
    up, down = store.upstream("application/app@1"), store.downstream("dataset/top@1")
    store.withdraw("model/merge@1", "x")
    assert store.upstream("application/app@1") == up and store.downstream("dataset/top@1") == down


# === owner withdrawals (data contributors) ==================================================

def owners_snapshot(store: Store) -> tuple:
    return store.owner_withdrawals(), [(e.type, e.asset, e.data) for e in store.events()], store.withdrawals_version()


def test_withdraw_owners(store):
    store.add([A("dataset/d@1")])
    assert store.owner_withdrawals() == {}
    v0 = store.withdrawals_version()
    new, already = withdraw_owners(store, ["member-1", " member-2 ", "member-1"], "  asked to be forgotten ")
    assert already == [] and [w.asset for w in new] == ["member-1", "member-2"]
    assert all(isinstance(w, Withdrawal) and w.reason == "asked to be forgotten" and w.time for w in new)
    assert store.owner_withdrawals() == {w.asset: w for w in new}
    v1 = store.withdrawals_version()
    assert v1 != v0 and store.withdrawals_version() == v1  # changes with a withdrawal, stable otherwise
    assert store.withdrawals() == {}  # owners are not assets
    assert [(e.type, e.asset, e.data) for e in store.events()[1:]] == [
        ("withdraw-owner", "member-1", {"reason": "asked to be forgotten"}),
        ("withdraw-owner", "member-2", {"reason": "asked to be forgotten"})]
    assert [e.asset for e in store.events(type="withdraw-owner")] == ["member-1", "member-2"]
    # again: only the new owner is written; the earlier withdrawal keeps its reason and time
    new2, already2 = withdraw_owners(store, ["member-2", "member-3"], "later")
    assert [w.asset for w in new2] == ["member-3"] and already2 == ["member-2"]
    assert store.owner_withdrawals()["member-2"] == new[1]
    assert store.withdrawals_version() != v1
    assert len(store.events(type="withdraw-owner")) == 3


def test_withdraw_owners_only_already_withdrawn_writes_nothing(store):
    withdraw_owners(store, ["o"], "r")
    before = owners_snapshot(store)
    assert withdraw_owners(store, ["o", " o "], "again") == ([], ["o"])
    assert owners_snapshot(store) == before


@pytest.mark.parametrize("owners, reason", [(["o"], "   "), ([], "r"), (["", "  "], "r"), (["o", " "], "r")])  # an empty id was dropped
def test_withdraw_owners_needs_owners_and_a_reason(store, owners, reason):
    before = owners_snapshot(store)
    with pytest.raises(InvalidInput):
        withdraw_owners(store, owners, reason)
    assert owners_snapshot(store) == before


def test_owner_withdrawals_are_atomic(store):
    withdraw_owners(store, ["o1"], "first")
    before = owners_snapshot(store)
    t = "2026-01-01T00:00:00+00:00"
    with pytest.raises(Exception):  # the second one cannot be stored (its reason is no text)
        store._write_owner_withdrawals([Withdrawal("o2", "fine", t), Withdrawal("o3", object(), t)])
    assert owners_snapshot(store) == before
    assert withdraw_owners(store, ["o2"], "fine")[0][0].asset == "o2"  # still usable


# === events ================================================================================

def test_events_are_appended_in_order(store):
    store.add([A("dataset/d@1"), A("model/m@1", "dataset/d@1")])
    store.withdraw("dataset/d@1", "takedown")
    e = store.log("decision", "model/m@1", {"allowed": False, "reasons": [{"rule": "withdrawn"}]})
    events = store.events()
    assert [(x.type, x.asset) for x in events] == [
        ("register", "dataset/d@1"), ("register", "model/m@1"), ("withdraw", "dataset/d@1"), ("decision", "model/m@1")]
    seqs = [x.seq for x in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert e.seq == seqs[-1] and e.type == "decision"
    assert events[-1].data == {"allowed": False, "reasons": [{"rule": "withdrawn"}]}
    assert events[0].data == {"hash": store.get("dataset/d@1").content_hash}
    assert events[2].data == {"reason": "takedown"}
    times = [x.time for x in events]
    assert times == sorted(times) and all(t for t in times)


def test_events_filters(store):
    store.add([A("dataset/d@1"), A("model/m@1", "dataset/d@1")])
    store.log("decision", "model/m@1", {"n": 1})
    store.log("decision", "dataset/d@1", {"n": 2})
    all_ = store.events()
    assert [e.asset for e in store.events(type="decision")] == ["model/m@1", "dataset/d@1"]
    assert [e.type for e in store.events(asset="model/m@1")] == ["register", "decision"]
    assert store.events(type="decision", asset="dataset/d@1")[0].data == {"n": 2}
    assert store.events(after=all_[1].seq) == all_[2:]
    assert store.events(limit=2) == all_[:2]
    assert store.events(after=all_[-1].seq) == []


def test_events_are_not_changed_by_later_writes(store):
    data = {"reasons": [{"rule": "deny"}]}
    store.log("decision", "model/m@1", data)
    data["reasons"].append("mutated")
    store.log("decision", "model/m@1", {"n": 2})
    assert store.events()[0].data == {"reasons": [{"rule": "deny"}]}


def test_failed_writes_log_no_events(store):
    store.add([A("dataset/d@1")])
    for bad in ([A("model/m@1", "dataset/x@1")], [A("dataset/d@1", licenses=("MIT",))]):
        with pytest.raises((NotFound, Conflict)):
            store.add(bad)
    with pytest.raises(NotFound):
        store.withdraw("dataset/x@1", "r")
    assert [e.type for e in store.events()] == ["register"]


# === SQLite specifics ======================================================================

@pytest.fixture
def sqlite_store(tmp_path):
    s = SQLiteStore(tmp_path / "registry.db")
    yield s
    s.close()


@pytest.mark.parametrize("sql", ["UPDATE events SET type='x'", "DELETE FROM events", "DELETE FROM events WHERE seq=1"])
def test_sqlite_event_log_is_append_only(sqlite_store, sql):
    sqlite_store.add([A("dataset/d@1")])
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sqlite_store.db.execute(sql)
    assert len(sqlite_store.events()) == 1


def test_sqlite_assets_are_immutable(sqlite_store):
    sqlite_store.add([A("dataset/d@1")])
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        sqlite_store.db.execute("UPDATE assets SET doc='{}'")


def test_sqlite_wal_mode(sqlite_store):
    assert sqlite_store.db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    assert sqlite_store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_sqlite_second_connection_sees_withdrawals(tmp_path):
    path = tmp_path / "registry.db"
    a, b = SQLiteStore(path), SQLiteStore(path)
    try:
        a.add([A("dataset/d@1"), A("model/m@1", "dataset/d@1")])
        assert b.count() == 2 and b.upstream("model/m@1") == [("dataset/d@1", 1)]
        v = b.withdrawals_version()
        assert b.withdrawals() == {}
        a.withdraw("dataset/d@1", "takedown")
        assert b.withdrawals_version() != v
        assert b.withdrawals()["dataset/d@1"].reason == "takedown"
        with pytest.raises(Conflict):  # b sees it when deciding whether to withdraw, too
            b.withdraw("dataset/d@1", "again")
        b.log("decision", "model/m@1", {})
        assert [e.type for e in a.events()] == ["register", "register", "withdraw", "decision"]
    finally:
        a.close()
        b.close()


def test_sqlite_second_connection_sees_owner_withdrawals(tmp_path):
    path = tmp_path / "registry.db"
    a, b = SQLiteStore(path), SQLiteStore(path)
    try:
        v = b.withdrawals_version()
        withdraw_owners(a, ["member-1"], "gone")
        assert b.withdrawals_version() != v
        assert b.owner_withdrawals()["member-1"].reason == "gone"
        assert withdraw_owners(b, ["member-1", "member-2"], "x")[1] == ["member-1"]
        assert set(a.owner_withdrawals()) == {"member-1", "member-2"}
    finally:
        a.close()
        b.close()


def test_sqlite_second_connection_conflicts(tmp_path):
    path = tmp_path / "registry.db"
    a, b = SQLiteStore(path), SQLiteStore(path)
    try:
        a.add([A("dataset/d@1", licenses=("MIT",))])
        with pytest.raises(Conflict):
            b.add([A("dataset/d@1", licenses=("GPL-3.0",))])
        assert b.add([A("dataset/d@1", licenses=("MIT",))]) == []
    finally:
        a.close()
        b.close()


def test_sqlite_reopen_keeps_everything(tmp_path):
    path = tmp_path / "sub" / "registry.db"
    s = SQLiteStore(path)
    diamond(s)
    s.withdraw("model/left@1", "bad")
    s.log("decision", "application/app@1", {"allowed": False})
    before = (snapshot(s), s.upstream("application/app@1"), s.downstream("dataset/top@1"),
              set(s.children("dataset/top@1")), [a.to_json() for a in s.find()], [e.to_json() for e in s.events()])
    s.close()
    s = SQLiteStore(path, create=False)
    try:
        after = (snapshot(s), s.upstream("application/app@1"), s.downstream("dataset/top@1"),
                 set(s.children("dataset/top@1")), [a.to_json() for a in s.find()], [e.to_json() for e in s.events()])
        assert after == before
        assert s.withdrawals()["model/left@1"].reason == "bad"
        s.add([A("model/late@1", "application/app@1")])
        assert s.upstream("model/late@1")[0] == ("application/app@1", 1)
        assert s.events()[-1].seq > before[0][1][-1][0]
    finally:
        s.close()


def test_sqlite_stores_canonical_json(sqlite_store):
    a = A("model/m@1", licenses=("MIT",), notes={"b": 1, "a": "é"})
    sqlite_store.add([a])
    (doc, h), = sqlite_store.db.execute("SELECT doc, hash FROM assets").fetchall()
    assert doc == a.canonical() and h == a.content_hash
    assert json.loads(doc)["notes"] == {"a": "é", "b": 1}


def test_sqlite_open_errors(tmp_path):
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        SQLiteStore(junk)
    newer = tmp_path / "newer.db"
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(newer)


@pytest.mark.sqlite_only("open_store's SQLite URL forms open SQLiteStore")
def test_open_store_urls(tmp_path, monkeypatch):
    assert isinstance(open_store("memory:"), MemoryStore)
    for url in (f"sqlite://{tmp_path}/a.db", str(tmp_path / "b.db")):
        s = open_store(url)
        assert isinstance(s, SQLiteStore) and s.path.exists()
        s.close()
    assert (tmp_path / "a.db").exists()
    with pytest.raises(StoreError):
        open_store("postgresql://localhost/charter")
    with pytest.raises(StoreError):
        open_store(str(tmp_path / "nope.db"), create=False)
    monkeypatch.setenv("CHARTER_REGISTRY", str(tmp_path / "env.db"))
    s = open_store()
    assert s.path == tmp_path / "env.db"
    s.close()


def test_compiled_lineage_matches_the_graph(store):
    diamond(store)
    lin = store.compiled("application/app@1")
    got = {u.asset.id: u.path for u in lin}
    assert lin[0].asset.id == "application/app@1"
    # shortest paths; the direct edge to top beats the route through the merge
    assert got["dataset/top@1"] == ("application/app@1", "dataset/top@1")
    assert got["model/left@1"] == ("application/app@1", "model/merge@1", "model/left@1")
    assert {k: len(v) - 1 for k, v in got.items() if k != "application/app@1"} == dict(store.upstream("application/app@1"))
    assert store.compiled("model/evalm@1")[0].path == ("model/evalm@1",) and len(store.compiled("model/evalm@1")) == 1
    assert store.compiled("model/none@1") is None


# --- after registration: restrictions and evaluated properties ---------------------------------

def test_restrictions_round_trip_and_log(store):
    store.add([A("model/m@1")])
    v = store.withdrawals_version()
    r = store.restrict("model/m@1", ["face-recognition", "face-recognition", "surveillance"], "  new terms ")
    assert r.deny == ("face-recognition", "surveillance") and r.reason == "new terms"
    store.restrict("model/m@1", ["military"], "second")
    assert store.withdrawals_version() != v
    got = store.restrictions()["model/m@1"]
    assert [x.deny for x in got] == [("face-recognition", "surveillance"), ("military",)]
    assert [(e.type, e.data) for e in store.events(type="restrict")] == [
        ("restrict", {"deny": ["face-recognition", "surveillance"], "reason": "new terms"}),
        ("restrict", {"deny": ["military"], "reason": "second"})]


@pytest.mark.parametrize("deny, reason", [([], "why"), (["military"], "  ")])
def test_restriction_needs_uses_and_a_reason(store, deny, reason):
    store.add([A("model/m@1")])
    with pytest.raises(InvalidInput):
        store.restrict("model/m@1", deny, reason)
    assert store.restrictions() == {} and store.events(type="restrict") == []


def test_restricting_an_unknown_asset_is_not_found(store):
    with pytest.raises(NotFound):
        store.restrict("model/nope@1", ["military"], "x")


def test_properties_attach_in_order_with_one_event_per_benchmark_run(store):
    from charter.core.assets import Property

    store.add([A("model/m@1"), A("model/n@1")])
    v = store.withdrawals_version()
    p1 = Property("model/m@1", "bbq", "bbq/1", "amb_bias_score", 0.04, (0.01, 0.07), 120, run="runs/a", detail={"groups": {"Age": 0.1}})
    p2 = Property("model/m@1", "bbq", "bbq/1", "accuracy_amb", 0.5, None, 120, run="runs/a")
    got = store.attach([p1, p2])
    assert all(p.time for p in got) and got[0].time == got[1].time
    assert store.withdrawals_version() != v
    assert [p.to_json() for p in store.properties("model/m@1")] == [p.to_json() for p in got]
    assert store.properties("model/n@1") == []
    (e,) = store.events(type="evaluate")
    assert e.asset == "model/m@1" and e.data == {"benchmarks": {"bbq": {"version": "bbq/1", "run": "runs/a",
                                                                          "metrics": {"amb_bias_score": 0.04, "accuracy_amb": 0.5}}}}
    later = store.attach([Property("model/m@1", "bbq", "bbq/2", "amb_bias_score", 0.02)])
    assert store.properties("model/m@1")[-1] == later[0]
    assert store.evaluated() == [("model/m@1", 3, 1)]  # model/n@1 has none
    store.attach([Property("model/n@1", "winobias", "winobias/1", "gap", 0.1), Property("model/n@1", "crows", "crows/1", "pct", 0.6)])
    assert store.evaluated() == [("model/m@1", 3, 1), ("model/n@1", 2, 2)]


def test_properties_for_unknown_assets_or_nan_write_nothing(store):
    from charter.core.assets import Property

    store.add([A("model/m@1")])
    with pytest.raises(NotFound):
        store.attach([Property("model/m@1", "bbq", "bbq/1", "acc", 0.5), Property("model/x@1", "bbq", "bbq/1", "acc", 0.5)])
    with pytest.raises(ValueError):
        store.attach([Property("model/m@1", "bbq", "bbq/1", "acc", 0.5), Property("model/m@1", "bbq", "bbq/1", "gap", float("nan"))])
    assert store.properties("model/m@1") == [] and store.events(type="evaluate") == []


@pytest.mark.parametrize("sql", ["UPDATE properties SET doc='{}'", "DELETE FROM properties", "UPDATE restrictions SET reason='x'", "DELETE FROM restrictions"])
def test_sqlite_restrictions_and_properties_are_append_only(sqlite_store, sql):
    from charter.core.assets import Property

    sqlite_store.add([A("model/m@1")])
    sqlite_store.restrict("model/m@1", ["military"], "x")
    sqlite_store.attach([Property("model/m@1", "bbq", "bbq/1", "acc", 0.5)])
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sqlite_store.db.execute(sql)


def test_sqlite_second_connection_sees_restrictions_and_properties(tmp_path):
    from charter.core.assets import Property

    path = tmp_path / "registry.db"
    a, b = SQLiteStore(path), SQLiteStore(path)
    try:
        a.add([A("model/m@1")])
        v = b.withdrawals_version()
        a.restrict("model/m@1", ["military"], "x")
        assert b.withdrawals_version() != v and b.restrictions()["model/m@1"][0].deny == ("military",)
        v = b.withdrawals_version()
        a.attach([Property("model/m@1", "bbq", "bbq/1", "acc", 0.5)])
        assert b.withdrawals_version() != v and b.properties("model/m@1")[0].value == 0.5
    finally:
        a.close()
        b.close()


# === the gateway: API keys and the hash-chained audit log ====================================

def apps(store: Store) -> None:
    store.add([A("model/m@1"), A("application/a@1", ("model/m@1", "deployed-from")), A("application/b@1", ("model/m@1", "deployed-from"))])


def test_api_keys(store):
    apps(store)
    v0 = store.api_keys_version()
    k = store.add_api_key("application/a@1", "k1", "h1")
    assert (k.key_id, k.hash, k.application, k.revoked) == ("k1", "h1", "application/a@1", None) and k.created
    store.add_api_key("application/b@1", "k2", "h2")
    v1 = store.api_keys_version()
    assert v1 != v0
    assert store.api_key("h1") == k and store.api_key("nope") is None
    assert [x.key_id for x in store.api_keys()] == ["k1", "k2"] and [x.key_id for x in store.api_keys("application/b@1")] == ["k2"]
    r = store.revoke_api_key("k1")
    assert r.revoked and store.api_key("h1").revoked == r.revoked and store.api_keys_version() != v1
    with pytest.raises(Conflict):
        store.revoke_api_key("k1")
    with pytest.raises(NotFound):
        store.revoke_api_key("k9")
    with pytest.raises(NotFound):
        store.add_api_key("application/zz@1", "k3", "h3")
    with pytest.raises(InvalidInput):
        store.add_api_key("model/m@1", "k3", "h3")
    with pytest.raises((Conflict, sqlite3.IntegrityError)):
        store.add_api_key("application/a@1", "k4", "h2")  # a hash is unique
    assert [x.key_id for x in store.api_keys()] == ["k1", "k2"]


def test_generations_are_both_versions_in_one_read(store):
    """The gateway reads both counters once per request: they must be exactly the two versions, moving
    with keys and with policy, and not with audit appends."""
    apps(store)
    g0 = store.generations()
    assert tuple(g0) == (store.withdrawals_version(), store.api_keys_version())
    store._append_audit_many(['{"a":1}', '{"a":2}'])
    assert tuple(store.generations()) == tuple(g0)
    store.add_api_key("application/a@1", "k1", "h1")
    g1 = store.generations()
    assert g1[0] == g0[0] and g1[1] != g0[1] and tuple(g1) == (store.withdrawals_version(), store.api_keys_version())
    store.withdraw("application/a@1", "gone")
    g2 = store.generations()
    assert g2[0] != g1[0] and g2[1] == g1[1]


def test_audit_chain(store):
    from charter.store.base import GENESIS, audit_json, chain_hash

    assert store.audit_entries() == []
    recs = [{"b": 1, "a": "é"}, {"decision": "denied", "reasons": [{"path": ["x", "y"]}]}, {"n": None}]
    out = [store.append_audit(r) for r in recs]
    got = store.audit_entries()
    assert got == out and [e.seq for e in got] == [1, 2, 3]
    assert got[0].prev == GENESIS and got[1].prev == got[0].hash and got[2].prev == got[1].hash
    assert all(e.hash == chain_hash(e.prev, e.record) for e in got)
    assert [e.data for e in got] == recs and got[0].record == audit_json(recs[0]) == '{"a":"\\u00e9","b":1}'
    assert store.audit_entries(after=1) == got[1:] and store.audit_entries(limit=2) == got[:2]
    assert store.audit_entries(after=3) == []
    with pytest.raises(ValueError):
        store.append_audit({"x": float("nan")})
    assert len(store.audit_entries()) == 3


def test_sqlite_audit_log_and_keys_resist_changes(sqlite_store):
    apps(sqlite_store)
    sqlite_store.append_audit({"n": 1})
    sqlite_store.add_api_key("application/a@1", "k1", "h1")
    for sql in ("UPDATE audit SET record='{}'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            sqlite_store.db.execute(sql)
    for sql in ("UPDATE api_keys SET hash='x'", "UPDATE api_keys SET application='application/b@1'", "DELETE FROM api_keys"):
        with pytest.raises(sqlite3.DatabaseError):
            sqlite_store.db.execute(sql)
    sqlite_store.revoke_api_key("k1")
    with pytest.raises(sqlite3.DatabaseError, match="stays revoked"):
        sqlite_store.db.execute("UPDATE api_keys SET revoked=NULL")


def test_sqlite_connections_share_keys_and_one_chain(tmp_path):
    from charter.store.base import chain_hash

    path = tmp_path / "registry.db"
    a, b = SQLiteStore(path), SQLiteStore(path)
    try:
        apps(a)
        v = b.api_keys_version()
        a.add_api_key("application/a@1", "k1", "h1")
        assert b.api_keys_version() != v and b.api_key("h1").key_id == "k1"
        v = b.api_keys_version()
        a.append_audit({"n": 0})  # another connection's commit that is not about keys
        assert b.api_keys_version() == v
        a.revoke_api_key("k1")
        assert b.api_keys_version() != v and b.api_key("h1").revoked
        for i in range(1, 6):
            (a if i % 2 else b).append_audit({"n": i})
        es = a.audit_entries()
        assert [e.data["n"] for e in es] == list(range(6)) and all(x.prev == y.hash for y, x in zip(es, es[1:]))
        assert all(e.hash == chain_hash(e.prev, e.record) for e in es)
    finally:
        a.close()
        b.close()


def _append_many(path: str, tag: str, n: int) -> None:
    s = SQLiteStore(Path(path))
    for i in range(n):
        s.append_audit({"by": tag, "i": i})
    s.close()


def test_sqlite_audit_appends_from_several_processes(tmp_path):
    import multiprocessing

    path = str(tmp_path / "registry.db")
    SQLiteStore(Path(path)).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(path, t, 150)) for t in ("p", "q", "r")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    s = SQLiteStore(Path(path))
    try:
        es = s.audit_entries()
        assert len(es) == 450 and [e.seq for e in es] == list(range(1, 451))
        assert all(x.prev == y.hash for y, x in zip(es, es[1:]))
        assert {e.data["by"] for e in es} == {"p", "q", "r"}
    finally:
        s.close()


def test_sqlite_schema_1_registry_gains_the_gateway_tables(tmp_path):
    path = tmp_path / "registry.db"
    s = SQLiteStore(path)
    s.add([A("dataset/d@1")])
    for t in ("audit", "api_keys"):
        s.db.execute(f"DROP TABLE {t}")  # what a registry made before the gateway looks like
    s.db.execute("PRAGMA user_version=1")
    s.close()
    s = SQLiteStore(path)
    try:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION and s.count() == 1
        assert s.append_audit({"ok": True}).seq == 1 and s.api_keys() == []
    finally:
        s.close()


# === withdrawals cannot be escaped or undone (issue 12, section 3) ==============================

def _data(aid: str, digest: str) -> Asset:
    return A(aid, data={"files": [f"/d/{digest}.jsonl"], "digests": [{"path": f"/d/{digest}.jsonl", "sha256": digest, "bytes": 1}]})


def test_a_withdrawal_binds_the_content(store):
    from charter.errors import Denied

    store.add([_data("dataset/t@1", "a" * 64)])
    store.withdraw("dataset/t@1", "consent revoked")
    with pytest.raises(Denied) as e:
        store.add([_data("dataset/renamed@1", "a" * 64)])  # the same file under another name
    assert "dataset/t@1" in e.value.message and "consent revoked" in e.value.message and "--lift" in e.value.hint
    assert store.get("dataset/renamed@1") is None
    store.add([_data("dataset/other@1", "b" * 64)])  # other content registers
    store.lift("dataset/t@1", "withdrawn by mistake")
    store.add([_data("dataset/renamed@1", "a" * 64)])  # lifted: the content is free again


def test_weights_withdrawn_under_the_legacy_folder_hash_are_bound_too(store, tmp_path):
    """A model registered before folder-v2 carries the old whole-folder hash; the same weights registered
    today carry a folder-v2 digest, which differs. The withdrawal must still bind them."""
    from charter.core.digests import legacy_folder_hash, weights_digest
    from charter.errors import Denied

    w = tmp_path / "w"
    w.mkdir()
    (w / "config.json").write_text("{}")
    (w / "model.safetensors").write_bytes(b"weights")
    store.add([A("model/old@1", notes={"weights": {"path": str(w), "sha256": legacy_folder_hash(w)}})])
    store.withdraw("model/old@1", "trained on withdrawn data")
    with pytest.raises(Denied, match="model/old@1"):
        store.add([A("model/new@1", notes={"weights": {"path": str(w), **weights_digest(w)}})])
    (w / "model.safetensors").write_bytes(b"retrained")
    store.add([A("model/new@1", notes={"weights": {"path": str(w), **weights_digest(w)}})])  # other weights register


def test_a_new_version_inherits_withdrawals_and_restrictions_until_lifted(store):
    store.add([A("dataset/t@1")])
    store.withdraw("dataset/t@1", "consent revoked")
    store.restrict("dataset/t@1", ["commercial"], "licence changed")
    store.add([A("dataset/t@2")])
    w = store.withdrawals()["dataset/t@2"]
    assert w.reason.startswith("consent revoked (inherited from dataset/t@1")
    assert [r.deny for r in store.restrictions()["dataset/t@2"]] == [("commercial",)]
    store.lift("dataset/t@2", "the new version holds only consented records")
    assert "dataset/t@2" not in store.withdrawals() and "dataset/t@1" in store.withdrawals()
    assert [e.type for e in store.events(asset="dataset/t@2")] == ["register", "withdraw", "restrict", "lift"]
    store.withdraw("dataset/t@2", "again")  # lifted, it can be withdrawn again
    assert store.withdrawals()["dataset/t@2"].reason == "again"
    with pytest.raises(InvalidInput):
        store.lift("dataset/t@2", " ")  # a lift needs a reason


def test_lifting_what_is_not_withdrawn_is_a_conflict(store):
    store.add([A("dataset/t@1")])
    with pytest.raises(Conflict):
        store.lift("dataset/t@1", "nothing to lift")


def test_history_tables_refuse_raw_update_and_delete(tmp_path):
    """`DELETE FROM withdrawals` used to silently un-withdraw: the storage itself refuses it now."""
    import sqlite3

    from charter.registry import Registry

    db = tmp_path / "r.db"
    reg = Registry.open(str(db))
    reg.add([_data("dataset/t@1", "d" * 64)])
    reg.withdraw("dataset/t@1", "consent revoked")
    reg.restrict("dataset/t@1", ["commercial"], "x")
    withdraw_owners(reg.store, ["alice"], "asked")
    raw = sqlite3.connect(db)
    for sql in ("DELETE FROM withdrawal_events", "UPDATE withdrawal_events SET action='lift'", "DELETE FROM owner_withdrawals",
                "UPDATE owner_withdrawals SET owner='bob'", "DELETE FROM restrictions", "DELETE FROM events", "DELETE FROM content"):
        with pytest.raises(sqlite3.DatabaseError):
            raw.execute(sql)
    raw.close()
    assert not reg.check("dataset/t@1", ["research"]).allowed


def test_schema_2_registry_upgrades_keeping_its_withdrawals(tmp_path):
    import sqlite3

    db = tmp_path / "old.db"
    s = SQLiteStore(db)
    s.add([_data("dataset/t@1", "c" * 64)])
    s.close()
    raw = sqlite3.connect(db)  # turn it back into a schema-2 registry with a withdrawal
    raw.executescript("""DROP TRIGGER withdrawal_events_append_only_d; DROP TABLE withdrawal_events;
        DROP TRIGGER content_fixed_d; DROP TABLE content;
        CREATE TABLE withdrawals(asset INTEGER PRIMARY KEY, reason TEXT NOT NULL, time TEXT NOT NULL);
        INSERT INTO withdrawals VALUES (1, 'old withdrawal', '2026-01-01T00:00:00+00:00'); PRAGMA user_version=2;""")
    raw.close()
    s = SQLiteStore(db)
    assert s.withdrawals()["dataset/t@1"].reason == "old withdrawal"
    assert s._holders(["c" * 64]) == {"c" * 64: {"dataset/t@1"}}
    s.close()


def test_concurrent_writes_are_one_line_errors(tmp_path):
    import sqlite3

    db = tmp_path / "r.db"
    s = SQLiteStore(db)
    s.add([A("dataset/t@1")])
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    s.db.execute("PRAGMA busy_timeout=100")
    with pytest.raises(StoreError) as e:
        s.withdraw("dataset/t@1", "x")
    assert "locked by another process" in e.value.message and "run this again" in e.value.hint
    other.execute("ROLLBACK")
    # two processes adding the same id at once: the loser's INSERT meets the winner's row
    s.db.execute("PRAGMA busy_timeout=30000")
    other.execute("INSERT INTO assets(rid, id, kind, name, version, hash, doc, registered) VALUES (99, 'dataset/u@1', 'dataset', 'u', '1', 'h', '{}', 't')")
    with pytest.raises(Conflict) as e:
        s._write_assets([A("dataset/u@1")], {"dataset/u@1": ()}, "t", lambda: ((), ()))
    assert "at the same time" in e.value.message
    other.close()
    s.close()


def test_audit_batches_chain_in_order_and_the_head_is_the_last_entry(store):
    """The gateway's group commit: a batch is appended in one write, chained in order after what was there."""
    from charter.store.base import GENESIS, audit_json, chain_hash

    assert store.audit_head() == (0, GENESIS)
    first = store.append_audit({"i": 0})
    batch = store._append_audit_many([audit_json({"i": i}) for i in (1, 2, 3)])
    assert [e.seq for e in batch] == [2, 3, 4] and batch[0].prev == first.hash
    assert all(e.hash == chain_hash(e.prev, e.record) for e in batch) and batch[1].prev == batch[0].hash
    assert store.audit_entries() == [first, *batch] and store.audit_head() == (4, batch[-1].hash)
    w = store.audit_writer()  # another connection (SQLite) or the store itself: the same chain either way
    try:
        (e,) = w._append_audit_many([audit_json({"i": 4})])
    finally:
        if w is not store:
            w.close()
    assert e.seq == 5 and e.prev == batch[-1].hash and store.audit_head() == (5, e.hash)


def test_sqlite_audit_batches_from_two_connections_at_once_form_one_chain(tmp_path):
    """Two gateway processes (here: two connections on two threads) appending batches concurrently:
    BEGIN IMMEDIATE per batch reads the last hash under the write lock."""
    import threading

    from charter.store.base import audit_json, chain_hash

    a, b = SQLiteStore(tmp_path / "r.db"), SQLiteStore(tmp_path / "r.db")

    def append(s, tag):
        for i in range(40):
            s._append_audit_many([audit_json({"w": tag, "i": i, "j": j}) for j in range(5)])

    ts = [threading.Thread(target=append, args=(s, t)) for s, t in ((a, "a"), (b, "b"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    got = a.audit_entries()
    assert [e.seq for e in got] == list(range(1, 401))
    assert all(e.hash == chain_hash(e.prev, e.record) for e in got) and all(x.hash == y.prev for x, y in zip(got, got[1:]))
    for tag in "ab":  # each batch landed whole and in order
        mine = [e.data for e in got if e.data["w"] == tag]
        assert [(d["i"], d["j"]) for d in mine] == [(i, j) for i in range(40) for j in range(5)]
    datas = [e.data for e in got]
    assert all([(d["w"], d["i"]) for d in datas[k:k + 5]] == [(datas[k]["w"], datas[k]["i"])] * 5 for k in range(0, 400, 5))
    a.close(), b.close()


def test_restrictions_can_be_lifted_and_new_versions_stop_inheriting_them(store):
    """A restricted name's new versions inherited its restrictions with no way to lift them."""
    store.add([A("dataset/t@1")])
    store.restrict("dataset/t@1", ["commercial"], "licence changed")
    store.restrict("dataset/t@1", ["military", "commercial"], "publisher asked")
    store.add([A("dataset/t@2")])
    assert [r.deny for r in store.restrictions()["dataset/t@2"]] == [("commercial",), ("military", "commercial")]
    v = store.withdrawals_version()
    lift = store.lift_restrictions("dataset/t@2", "relicensed under CC0")
    assert lift.asset == "dataset/t@2" and lift.deny == ("commercial", "military") and lift.reason == "relicensed under CC0"
    assert "dataset/t@2" not in store.restrictions() and "dataset/t@1" in store.restrictions()
    assert store.withdrawals_version() != v  # decisions re-read it
    assert [e.type for e in store.events(asset="dataset/t@2")] == ["register", "restrict", "restrict", "lift-restrictions"]
    assert store.events(asset="dataset/t@2")[-1].data == {"deny": ["commercial", "military"], "reason": "relicensed under CC0"}
    with pytest.raises(Conflict):
        store.lift_restrictions("dataset/t@2", "again")  # nothing left to lift
    store.restrict("dataset/t@2", ["research"], "new")  # a later restriction applies again
    assert [r.deny for r in store.restrictions()["dataset/t@2"]] == [("research",)]
    store.lift_restrictions("dataset/t@1", "relicensed")
    store.add([A("dataset/t@3")])  # lifted on t@1: t@3 inherits only t@2's remaining one
    assert [r.deny for r in store.restrictions()["dataset/t@3"]] == [("research",)]
    with pytest.raises(InvalidInput):
        store.lift_restrictions("dataset/t@3", "  ")


def test_restriction_lifts_are_append_only_and_schema_3_upgrades(tmp_path):
    db = tmp_path / "r.db"
    s = SQLiteStore(db)
    s.add([A("dataset/t@1")])
    s.restrict("dataset/t@1", ["commercial"], "x")
    s.db.execute("DROP TRIGGER restriction_lifts_append_only_d")  # turn it back into a schema-3 registry
    s.db.execute("DROP TABLE restriction_lifts")
    s.db.execute("PRAGMA user_version=3")
    s.close()
    s = SQLiteStore(db)
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 9
    assert [r.deny for r in s.restrictions()["dataset/t@1"]] == [("commercial",)]
    s.lift_restrictions("dataset/t@1", "relicensed")
    raw = sqlite3.connect(db)
    for sql in ("DELETE FROM restriction_lifts", "UPDATE restriction_lifts SET upto=0"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(sql)
    raw.close()
    assert "dataset/t@1" not in s.restrictions()
    s.close()


def test_policy_and_key_versions_move_with_policy_not_with_audit_appends(tmp_path):
    """Caches (the gateway's keys, the registry's withdrawals) poll these versions on every request. They
    used to follow PRAGMA data_version, which the gateway's own audit writer moved hundreds of times a
    second, so every request re-read the withdrawals, restrictions and key table."""
    import sqlite3


    db = tmp_path / "r.db"
    s, other = SQLiteStore(db), SQLiteStore(db)
    s.add([A("dataset/t@1"), A("dataset/u@1"), A("application/app@1")])
    policy, keys = s.withdrawals_version(), s.api_keys_version()
    other.append_audit({"n": 1})
    other.audit_writer().append_audit({"n": 2})
    assert (s.withdrawals_version(), s.api_keys_version()) == (policy, keys)
    other.withdraw("dataset/t@1", "consent revoked")  # another connection
    assert s.withdrawals_version() != policy and s.api_keys_version() == keys
    policy = s.withdrawals_version()
    raw = sqlite3.connect(db)  # even a raw insert moves it: the triggers are in the storage
    raw.execute("INSERT INTO restrictions(asset, deny, reason, time) VALUES ('dataset/u@1', '[\"commercial\"]', 'x', 't')")
    raw.commit()
    assert s.withdrawals_version() != policy
    other.add_api_key("application/app@1", "k1", "h" * 64)
    assert s.api_keys_version() != keys
    keys = s.api_keys_version()
    other.revoke_api_key("k1")
    assert s.api_keys_version() != keys
    raw.close()


def test_schema_4_upgrades_to_generations(tmp_path):
    import sqlite3

    db = tmp_path / "r.db"
    s = SQLiteStore(db)
    s.add([A("dataset/t@1")])
    s.close()
    raw = sqlite3.connect(db)
    for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE '%generation%'").fetchall():
        raw.execute(f"DROP TRIGGER {name}")
    raw.execute("DROP TABLE generations")
    raw.execute("PRAGMA user_version=4")
    raw.commit()
    raw.close()
    s = SQLiteStore(db)
    v = s.withdrawals_version()
    s.withdraw("dataset/t@1", "consent revoked")
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION and s.withdrawals_version() == v + 1
    s.close()


# === signatures (charter.trust) ==============================================================


def _sig(asset: str, digest: str, kind: str = "charter", **kw) -> SignatureRecord:
    return SignatureRecord(0, asset, kind, "k1", digest, '{"payload": "x"}', **kw)


def test_signatures_append_dedupe_and_filter(store):
    store.add([A("dataset/d@1"), A("model/m@1", "dataset/d@1")])
    new = store.add_signatures([_sig("dataset/d@1", "sha256:a"), _sig("model/m@1", "sha256:b", source="bundle:x"),
                                _sig("model/m@1", "sha256:a2", kind="withdraw", applied="t")])
    assert [r.digest for r in new] == ["sha256:a", "sha256:b", "sha256:a2"] and all(r.time for r in new)
    assert store.add_signatures([_sig("dataset/d@1", "sha256:a")]) == []  # the same envelope again: a no-op
    got = store.signatures()
    assert [(r.seq, r.asset, r.kind, r.source) for r in got] == [(1, "dataset/d@1", "charter", "local"), (2, "model/m@1", "charter", "bundle:x"),
                                                                 (3, "model/m@1", "withdraw", "local")]
    assert [r.digest for r in store.signatures(["model/m@1"], kind="charter")] == ["sha256:b"]
    assert store.signatures(["model/zz@1"]) == []
    assert [e.asset for e in store.events(type="sign")] == ["dataset/d@1", "model/m@1", "model/m@1"]


def test_signatures_need_a_registered_asset_and_a_known_kind(store):
    store.add([A("dataset/d@1")])
    with pytest.raises(NotFound):
        store.add_signatures([_sig("dataset/x@1", "sha256:a")])
    with pytest.raises(InvalidInput):
        store.add_signatures([_sig("dataset/d@1", "sha256:a", kind="bless")])
    assert store.signatures() == []


def test_sqlite_signatures_are_append_only_and_older_schemas_gain_the_table(tmp_path):
    db = tmp_path / "r.db"
    s = SQLiteStore(db)
    s.add([A("dataset/d@1")])
    s.db.execute("DROP TRIGGER signatures_append_only_u")
    s.db.execute("DROP TRIGGER signatures_append_only_d")
    s.db.execute("DROP TABLE signatures")
    s.db.execute(f"PRAGMA user_version={SIGNATURES_SINCE - 1}")
    s.close()
    s = SQLiteStore(db)
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    s.add_signatures([_sig("dataset/d@1", "sha256:a")])
    raw = sqlite3.connect(db)
    for sql in ("DELETE FROM signatures", "UPDATE signatures SET keyid='k2'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(sql)
    raw.close()
    assert [r.keyid for r in s.signatures()] == ["k1"]
    s.close()


def test_web_signal_snapshots_are_kept_once_each_in_fetch_order(store):
    from charter.store.base import SignalSnapshot

    def row(domain, at, body):
        import hashlib

        return SignalSnapshot(domain, "robots", at, hashlib.sha256(body.encode()).hexdigest(), body, "test", "2026-01-01T00:00:00Z")

    rows = [row("b.org", "2026-02-01T00:00:00Z", "x"), row("a.org", "2026-03-01T00:00:00Z", "y"), row("a.org", "2026-01-01T00:00:00Z", "z")]
    assert store.add_signals(rows + rows[:1]) == 3 and store.add_signals(rows) == 0
    assert [(r.domain, r.fetched_at) for r in store.signals()] == [("a.org", "2026-01-01T00:00:00Z"), ("a.org", "2026-03-01T00:00:00Z"),
                                                                   ("b.org", "2026-02-01T00:00:00Z")]
    assert [r.body for r in store.signals(["b.org"])] == ["x"]
    assert [e.data for e in store.events(type="import-signals")] == [{"snapshots": 3}]
    with pytest.raises(InvalidInput):
        store.add_signals([row("a.org", "", "w")])


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite_only(SQLITE_PARAM)), "postgres"])
def test_two_processes_withdrawing_the_same_asset_at_once_record_one_withdrawal(backend, request, tmp_path):
    """Both check "already withdrawn" before their transaction; the second to take the write lock must find the
    first's withdrawal and refuse (Conflict), not append a second one. Likewise for lifts."""
    arg = request.getfixturevalue("pg_url") if backend == "postgres" else tmp_path
    first = BACKENDS[backend](arg)
    second = open_store(arg) if backend == "postgres" else SQLiteStore(tmp_path / "registry.db")
    try:
        first.add([A("dataset/d@1")])
        stale = {}  # what the second saw before the first wrote
        second.withdrawals = lambda: stale
        first.withdraw("dataset/d@1", "first")
        with pytest.raises(Conflict, match="already withdrawn .*by another process"):
            second.withdraw("dataset/d@1", "second")
        assert [e.data["reason"] for e in first.events(type="withdraw")] == ["first"]
        stale["dataset/d@1"] = Withdrawal("dataset/d@1", "first", "t")  # both see it withdrawn, both lift
        first.lift("dataset/d@1", "lifted")
        with pytest.raises(Conflict, match="not withdrawn .*lifted it just now"):
            second.lift("dataset/d@1", "lifted again")
        assert [e.type for e in first.events(asset="dataset/d@1") if e.type in ("withdraw", "lift")] == ["withdraw", "lift"]
    finally:
        second.close()
        first.close()
