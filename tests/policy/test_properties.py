"""Property tests: the decision rule against a small, independent reference implementation.

Random taxonomies (a DAG of uses under 2-3 facets), random licence tables and random
lineage DAGs with random allow/deny lists, licences and withdrawals. The reference below
shares no code with charter.policy.decide or the stores: ancestors by naive recursion,
E and shortest distances by naive relaxation over the edge list.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.core.assets import PROPAGATING, RELATIONS, Asset, Edge, Property, Requirement
from charter.core.uses import Use, build
from charter.policy.licenses import License, LicenseTable
from charter.registry import Registry
from charter.store.memory import MemoryStore
from charter.store import open_store

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the world: taxonomy, licences, assets -------------------------------------------------

METRICS = ("m1", "m2")  # metrics of one benchmark, "bench"; requirements bound them with max 0.5

@dataclass
class World:
    uses: dict[str, tuple[str, ...]]  # use -> parents
    licences: list[tuple[str, list[str], tuple[str, ...], tuple[str, ...]]]  # (id, names, deny, allow)
    unspecified_deny: tuple[str, ...]
    assets: list[Asset]
    withdrawn: dict[str, str] = field(default_factory=dict)
    restricted: dict[str, tuple[str, ...]] = field(default_factory=dict)  # added after registration
    evaluated: dict[str, dict[str, float]] = field(default_factory=dict)  # asset -> metric -> value

    def taxonomy(self):
        return build([Use(u, p) for u, p in self.uses.items()])

    def licence_table(self) -> LicenseTable:
        by_key = {_norm("unspecified"): License("unspecified", deny=self.unspecified_deny)}
        for lid, names, deny, allow in self.licences:
            lic = License(lid, deny=deny, allow=allow)
            for n in [lid, *names]:
                by_key[_norm(n)] = lic
        return LicenseTable(by_key=by_key)

    def registry(self, store=None) -> Registry:
        reg = Registry(store or MemoryStore(), self.taxonomy(), self.licence_table())
        reg.add(self.assets)
        for aid, reason in self.withdrawn.items():
            reg.withdraw(aid, reason)
        for aid, deny in self.restricted.items():
            reg.restrict(aid, deny, f"restricted {aid}")
        reg.attach([Property(aid, "bench", "bench/1", m, v) for aid, ms in self.evaluated.items() for m, v in ms.items()])
        return reg


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@st.composite
def taxonomies(draw) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for f in range(draw(st.integers(2, 3))):
        facet = f"f{f}"
        members = [facet]
        out[facet] = ()
        for i in range(draw(st.integers(1, 5))):
            uid = f"f{f}-u{i}"
            out[uid] = tuple(draw(st.lists(st.sampled_from(members), min_size=1, max_size=2, unique=True)))
            members.append(uid)
    return out


@st.composite
def worlds(draw, max_assets: int = 7) -> World:
    uses = draw(taxonomies())
    use_ids = sorted(uses)
    some_uses = st.lists(st.sampled_from(use_ids), max_size=2, unique=True)
    licences = []
    for i in range(draw(st.integers(0, 3))):
        allow = tuple(draw(some_uses)) if draw(st.booleans()) else ()
        licences.append((f"Lic-{i}", [f"lic {i} alias"], tuple(draw(some_uses)), allow))
    unspecified_deny = tuple(draw(st.lists(st.sampled_from(use_ids), min_size=1, max_size=1)))
    # names an asset may carry: ids, aliases, punctuation variants, unknown names, "unspecified"
    names = ["unspecified", "Mystery-1", "mystery 1", "Other"]
    for lid, aliases, _, _ in licences:
        names += [lid, lid.lower().replace("-", "_"), aliases[0].upper()]
    n = draw(st.integers(1, max_assets))
    assets = []
    for i in range(n):
        aid = f"model/a{i}@1"
        edges = []
        if i:
            for p in draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)):
                rel = draw(st.sampled_from(PROPAGATING + ("evaluated-on",) * 3))
                edges.append(Edge(aid, f"model/a{p}@1", rel))
        assets.append(Asset(
            id=aid, kind="model", name=f"a{i}", version="1",
            licenses=tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True))),
            allow=tuple(draw(some_uses)) if draw(st.integers(0, 2)) == 0 else (),
            deny=tuple(draw(some_uses)),
            derived_from=tuple(edges),
            requires=tuple(Requirement(u, "bench", m, None, 0.5) for u, m in draw(
                st.lists(st.tuples(st.sampled_from(use_ids), st.sampled_from(METRICS)), max_size=2, unique=True))),
        ))
    withdrawn = {a.id: f"reason {a.id}" for a in assets if draw(st.integers(0, 5)) == 0}
    restricted = {a.id: tuple(draw(st.lists(st.sampled_from(use_ids), min_size=1, max_size=2, unique=True)))
                  for a in assets if draw(st.integers(0, 4)) == 0}
    evaluated = {a.id: draw(st.dictionaries(st.sampled_from(METRICS), st.sampled_from([0.1, 0.5, 0.9]), max_size=2)) for a in assets}
    return World(uses, licences, unspecified_deny, assets, withdrawn, restricted, evaluated)


@st.composite
def requests(draw, world: World) -> tuple[str, tuple[str, ...]]:
    asked = draw(st.sampled_from([a.id for a in world.assets]))
    req = tuple(draw(st.lists(st.sampled_from(sorted(world.uses)), min_size=1, max_size=3, unique=True)))
    return asked, req


@st.composite
def scenarios(draw, max_assets: int = 7):
    w = draw(worlds(max_assets))
    return w, draw(requests(w))


# --- the reference implementation --------------------------------------------------------

def ref_ancestors(uses: dict, u: str) -> set[str]:
    out = {u}
    for p in uses[u]:
        out |= ref_ancestors(uses, p)
    return out


def ref_facet(uses: dict, u: str) -> str:
    (root,) = [a for a in ref_ancestors(uses, u) if not uses[a]]
    return root


def ref_distances(assets: list[Asset], asked: str) -> dict[str, int]:
    """Shortest distance from ``asked`` to each member of E, by relaxation until nothing changes."""
    edges = [(e.child, e.parent) for a in assets for e in a.derived_from if e.relation != "evaluated-on"]
    dist = {asked: 0}
    changed = True
    while changed:
        changed = False
        for child, parent in edges:
            if child in dist and dist[child] + 1 < dist.get(parent, 10**9):
                dist[parent] = dist[child] + 1
                changed = True
    return dist


def ref_reasons(w: World, asked: str, req: tuple[str, ...]) -> set[tuple]:
    uses = w.uses
    by_id = {a.id: a for a in w.assets}
    table = {}
    for lid, names, deny, allow in w.licences:
        for n in [lid, *names]:
            table[_norm(n)] = (lid, deny, allow)
    table[_norm("unspecified")] = ("unspecified", w.unspecified_deny, ())
    out = set()
    for e in ref_distances(w.assets, asked):
        a = by_id[e]
        if e in w.withdrawn:
            out.add((e, "withdrawn", None, "withdrawal"))
        if a.licenses:
            lics = [table.get(_norm(n), (n, w.unspecified_deny, ())) for n in a.licenses]
        else:
            lics = [table[_norm("unspecified")]]
        groups = [("uses", a.deny, a.allow)] + [(f"license:{lid}", deny, allow) for lid, deny, allow in lics]
        if e in w.restricted:
            groups.append(("restriction", w.restricted[e], ()))
        for r in a.requires:  # judged on the asked asset's own evaluations; bounds are inclusive
            for u in req:
                if r.use in ref_ancestors(uses, u) or u in ref_ancestors(uses, r.use):
                    value = w.evaluated.get(asked, {}).get(r.metric)
                    if value is None:
                        out.add((e, "property-missing", u, "requires"))
                    elif value > r.max:
                        out.add((e, "property-unmet", u, "requires"))
        for src, deny, allow in groups:
            deny_src = "uses.deny" if src == "uses" else src  # "restriction" stays itself
            allow_src = "uses.allow" if src == "uses" else src
            for d in deny:
                for u in req:
                    if d in ref_ancestors(uses, u) or u in ref_ancestors(uses, d):
                        out.add((e, "deny", u, deny_src))
            for f in {ref_facet(uses, x) for x in allow}:
                asked_in_f = [u for u in req if ref_facet(uses, u) == f]
                if not asked_in_f:
                    out.add((e, "undeclared-facet", f, allow_src))
                for u in asked_in_f:
                    if not any(x in ref_ancestors(uses, u) for x in allow):
                        out.add((e, "allow-only", u, allow_src))
    return out


def keys(decision) -> set[tuple]:
    return {(r.asset, r.rule, r.use, r.source) for r in decision.reasons}


# --- properties ----------------------------------------------------------------------------

@SETTINGS
@given(scenarios())
def test_decide_matches_reference(scenario):
    w, (asked, req) = scenario
    d = w.registry().check(asked, req)
    want = ref_reasons(w, asked, req)
    assert keys(d) == want
    assert d.allowed == (not want)
    # shortest paths, each a real chain of propagating edges from the asked asset
    dist = ref_distances(w.assets, asked)
    parents = {a.id: {e.parent for e in a.derived_from if e.relation in PROPAGATING} for a in w.assets}
    for r in d.reasons:
        assert r.path[0] == asked and r.path[-1] == r.asset
        assert len(r.path) - 1 == dist[r.asset]
        assert all(p in parents[c] for c, p in zip(r.path, r.path[1:]))
    # no reason twice
    full = [(r.asset, r.rule, r.use, r.source, r.entries) for r in d.reasons]
    assert len(full) == len(set(full))


@SETTINGS
@given(scenarios())
def test_lineage_is_reference_E(scenario):
    w, (asked, _) = scenario
    reg = w.registry()
    dist = ref_distances(w.assets, asked)
    lineage = reg.lineage(asked)
    assert lineage[0].asset.id == asked
    assert {u.asset.id: len(u.path) - 1 for u in lineage} == dist
    assert dict(reg.store.upstream(asked)) == {k: v for k, v in dist.items() if k != asked}
    down = {a.id: ref_distances(w.assets, a.id).get(asked) for a in w.assets}
    assert dict(reg.store.downstream(asked)) == {k: v for k, v in down.items() if v and k != asked}


@SETTINGS
@given(scenarios(), st.data())
def test_adding_a_deny_never_allows_more(scenario, data):
    w, (asked, req) = scenario
    before = w.registry().check(asked, req)
    k = data.draw(st.integers(0, len(w.assets) - 1))
    extra = data.draw(st.sampled_from(sorted(w.uses)))
    a = w.assets[k]
    bigger = replace(w, assets=[*w.assets[:k], replace(a, deny=tuple(dict.fromkeys(a.deny + (extra,)))), *w.assets[k + 1:]])
    after = bigger.registry().check(asked, req)
    assert keys(before) <= keys(after)
    assert before.allowed or not after.allowed


@SETTINGS
@given(scenarios(max_assets=6), st.data())
def test_adding_an_upstream_asset_never_allows_more(scenario, data):
    w, (asked, req) = scenario
    before = w.registry().check(asked, req)
    names = ["unspecified", "Mystery-1"] + [lid for lid, *_ in w.licences]
    some = st.lists(st.sampled_from(sorted(w.uses)), max_size=2, unique=True)
    new = Asset(
        id="dataset/new@1", kind="dataset", name="new", version="1",
        licenses=tuple(data.draw(st.lists(st.sampled_from(names), max_size=1))),
        allow=tuple(data.draw(some)), deny=tuple(data.draw(some)),
    )
    k = data.draw(st.integers(0, len(w.assets) - 1))
    rel = data.draw(st.sampled_from(RELATIONS))
    a = w.assets[k]
    linked = replace(a, derived_from=a.derived_from + (Edge(a.id, new.id, rel),))
    withdrawn = dict(w.withdrawn)
    if data.draw(st.booleans()):
        withdrawn[new.id] = "gone"
    bigger = replace(w, assets=[new, *w.assets[:k], linked, *w.assets[k + 1:]], withdrawn=withdrawn)
    after = bigger.registry().check(asked, req)
    assert keys(before) <= keys(after)
    assert before.allowed or not after.allowed
    assert keys(after) == ref_reasons(bigger, asked, req)


@SETTINGS
@given(scenarios(), st.data())
def test_a_withdrawn_member_of_E_denies_every_request(scenario, data):
    w, (asked, req) = scenario
    members = sorted(ref_distances(w.assets, asked))
    gone = data.draw(st.sampled_from(members))
    reg = w.registry()
    if gone not in w.withdrawn:
        reg.withdraw(gone, "test withdrawal")
    d = reg.check(asked, req)
    assert not d.allowed
    assert (gone, "withdrawn", None, "withdrawal") in keys(d)
    # and nothing outside E is ever blamed
    assert {r.asset for r in d.reasons} <= set(members)


@SETTINGS
@given(scenarios())
def test_withdrawal_after_first_decision_is_seen(scenario):
    """The registry caches lineage; a later withdrawal must still reach the decision."""
    w, (asked, req) = scenario
    reg = w.registry()
    reg.check(asked, req)
    top = max(ref_distances(w.assets, asked).items(), key=lambda kv: (kv[1], kv[0]))[0]
    if top not in w.withdrawn:
        reg.withdraw(top, "late")
    d = reg.check(asked, req)
    assert (top, "withdrawn", None, "withdrawal") in keys(d)


@FEW
@given(scenarios())
def test_sqlite_store_decides_like_memory_store(scenario):
    w, (_, req) = scenario
    mem = w.registry()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "r.db"))
        try:
            sql = w.registry(store)
            for a in w.assets:
                assert sql.check(a.id, req).to_json() == mem.check(a.id, req).to_json()
                assert store.upstream(a.id) == mem.store.upstream(a.id)
                assert store.downstream(a.id) == mem.store.downstream(a.id)
                assert set(store.children(a.id)) == set(mem.store.children(a.id))
            assert store.withdrawals().keys() == mem.store.withdrawals().keys()
            assert [(e.type, e.asset) for e in store.events()] == [(e.type, e.asset) for e in mem.store.events()]
        finally:
            store.close()
