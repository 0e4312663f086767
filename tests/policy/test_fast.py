"""The fast path (effective terms, policy/effective.py) against the reference decide()."""

from __future__ import annotations

import pickle
import time

import pytest

from charter import oracle
from charter.policy.decide import Decision, Request, decide
from charter.policy.effective import LazyDecision
from charter.registry import Registry
from charter.store import open_store


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_oracle_fast_path_agrees_with_decide(seed):
    rep = oracle.run(1200, seed=seed)
    assert rep.requests == 1200
    assert [d for d in rep.disagreements if d] == [] and not rep.disagreements
    # the worlds exercise both sides: allowed and denied, fold and reference
    assert 0 < rep.allowed < rep.requests
    assert rep.requests * 0.3 < rep.fast < rep.requests


def test_oracle_on_sqlite_stores(tmp_path):
    n = iter(range(10**6))
    rep = oracle.run(300, seed=9, store=lambda: open_store(str(tmp_path / f"w{next(n)}.db")))
    assert rep.requests == 300 and rep.listings == rep.worlds and not rep.disagreements


def _world(seed=5):
    import random

    for s in range(seed, seed + 200):
        reg, ids, conds, uses = oracle.random_world(random.Random(s))
        denied = [(a, (u,)) for a in ids for u in uses if not reg.check(a, (u,)).allowed]
        lazy = [(a, u) for a, u in denied if type(reg.check(a, u)) is LazyDecision]
        if lazy:
            return reg, lazy
    raise AssertionError("no world with a lazily reasoned denial")


def test_lazy_denial_is_the_reference_decision():
    reg, lazy = _world()
    for a, u in lazy[:20]:
        d = reg.check(a, u)
        ref = decide(Request(a, u), reg.lineage(a), reg.taxonomy, reg.licenses, reg.properties(a))
        assert type(d) is LazyDecision and "_decision" not in d.__dict__  # nothing built yet
        assert d == ref and ref == d and hash(d) == hash(ref) and d.to_json() == ref.to_json()
        assert d.reasons and d.reasons == ref.reasons and not d.allowed
        back = pickle.loads(pickle.dumps(d))
        assert type(back) is Decision and back == ref
        assert d != Decision(a, u, True)


def test_can_many_decides_and_logs_like_can(tmp_path):
    import random

    reg, ids, conds, uses = oracle.random_world(random.Random(11))
    pairs = [(a, (u,)) for a in ids for u in uses]
    many = reg.can_many(pairs)
    assert many == [reg.check(a, u) for a, u in pairs]
    logged = reg.store.events(type="decision")
    assert [(e.asset, e.data) for e in logged] == [(d.asset, d.to_json()) for d in many]
    assert reg.can_many(pairs[:3], log=False) == many[:3] and len(reg.store.events(type="decision")) == len(pairs)


def test_sqlite_log_many_is_one_write(tmp_path):
    s = open_store(str(tmp_path / "r.db"))
    s.log_many([("decision", "model/a@1", {"allowed": True}), ("decision", "model/b@1", {"allowed": False})])
    s.log_many([])
    assert [(e.type, e.asset, e.data) for e in s.events()] == [("decision", "model/a@1", {"allowed": True}),
                                                                 ("decision", "model/b@1", {"allowed": False})]
    s.close()


def test_ls_allowed_is_the_reference_filter():
    import random

    for seed in range(20, 40):
        reg, ids, conds, uses = oracle.random_world(random.Random(seed))
        for u in uses[:4]:
            want = [a for a in ids if oracle.reference(reg, a, (u,)).allowed]
            assert [a.id for a, _ in reg.ls(allowed=[u])] == want


def test_another_process_change_is_seen_within_the_poll_interval(tmp_path, monkeypatch):
    """A write this process did not make (simulated: the local write counter stands still) is seen
    once POLL_S has passed, by polling the registry's change counter."""
    import random

    import charter.registry as registry_mod

    rng = random.Random(3)
    src, ids, conds, uses = oracle.random_world(rng, max_assets=4)
    path = tmp_path / "r.db"
    a = Registry(open_store(str(path)), src.taxonomy, src.licenses)
    b = Registry(open_store(str(path)), src.taxonomy, src.licenses)
    a.add(src.store.get_many(ids).values())
    target = next((i, (u,)) for i in ids for u in uses if b.check(i, (u,)).allowed) if any(
        b.check(i, (u,)).allowed for i in ids for u in uses) else None
    if target is None:
        pytest.skip("nothing allowed in this world")
    monkeypatch.setattr(registry_mod, "WRITES", [0])
    b._refresh()
    asset, u = target
    assert b.check(asset, u).allowed
    a.withdraw(asset, "gone")
    time.sleep(Registry.POLL_S * 2)
    d = b.check(asset, u)
    assert not d.allowed and d.reasons[0].rule == "withdrawn"
    a.close()
    b.close()


@pytest.mark.sqlite_only("a schema-5 registry made with raw sqlite3")
def test_schema_5_registry_gains_terms_keys(tmp_path):
    """A registry made before the terms keys: opening it stores every asset's; decisions are unchanged."""
    import random
    import sqlite3

    src, ids, conds, uses = oracle.random_world(random.Random(4))
    path = tmp_path / "r.db"
    s = open_store(str(path))
    s.add(list(src.store.get_many(ids).values()))
    before = s.terms_ids()
    s.close()
    raw = sqlite3.connect(path)
    raw.execute("DROP TABLE asset_terms")
    raw.execute("DROP TABLE terms")
    raw.execute("PRAGMA user_version=5")
    raw.commit()
    raw.close()
    reg = Registry(open_store(str(path)), src.taxonomy, src.licenses)
    assert [i for i, _, _ in reg.store.terms_ids()] == ids and all(t is not None for _, t, _ in reg.store.terms_ids())
    assert len({t for _, t, _ in reg.store.terms_ids()}) == len({t for _, t, _ in before})
    for a in ids:
        for u in uses:
            assert reg.check(a, (u,)) == oracle.reference(reg, a, (u,))
    reg.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_an_asset_registered_after_a_withdrawal_inherits_it(tmp_path, backend):
    """The stored terms key knows nothing of withdrawals: an asset derived from a withdrawn one, registered
    after the registry last read the withdrawals, must still be denied."""
    from charter.core.assets import Asset, Edge
    from charter.store.memory import MemoryStore

    store = MemoryStore() if backend == "memory" else open_store(str(tmp_path / "r.db"))
    reg = Registry(store)
    reg.add([Asset("dataset/d@1", "dataset", "d", "1", licenses=("MIT",))])
    reg.withdraw("dataset/d@1", "takedown")
    assert not reg.check("dataset/d@1", ["inference"]).allowed  # the withdrawals (and who they touch) are read
    reg.add([Asset("model/m@1", "model", "m", "1", licenses=("MIT",), derived_from=(Edge("model/m@1", "dataset/d@1", "trained-on"),))])
    for d in (reg.check("model/m@1", ["inference"]), reg.can_many([("model/m@1", ("inference",))], log=False)[0]):
        assert not d.allowed and d.reasons[0].rule == "withdrawn"
    assert reg.allowed_ids(["inference"]) == []
    reg.close()
