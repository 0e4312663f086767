"""The differential oracle: the fast path (``Registry.check`` / ``can_many`` over effective terms)
against the reference ``decide()`` on seeded random worlds.

A world: a random use taxonomy (2-3 facets, a DAG under each), a random licence table (deny lists,
allow lists, conditions), assets on a random DAG (propagating and ``evaluated-on`` edges) whose
licence fields are single names, aliases, unknown names, ``A OR B``, ``A AND B`` and
``(A AND B) OR C`` expressions, with own deny/allow lists (allow-only and undeclared facets),
requirements with evaluated properties, attested conditions; then withdrawals, restrictions and
their lifts happen between requests, so the materialised terms must follow the change counters.
Each request (random uses, random attestations) is decided both ways: decision, reasons and
conditions must be identical (``==`` and ``to_json()``).

Used by tests/policy/test_fast.py (a few thousand requests) and ``bench/bench_decide.py --oracle N``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from charter.core.assets import PROPAGATING, Asset, Edge, Property, Requirement
from charter.core.uses import Use, build
from charter.policy.decide import Request, decide
from charter.policy.effective import REFERENCE, verdict
from charter.policy.licenses import Condition, License, LicenseTable, _key


@dataclass
class Report:
    requests: int = 0
    worlds: int = 0
    allowed: int = 0
    listings: int = 0
    fast: int = 0  # decided by the fold alone (allowed, or denied with lazy reasons)
    disagreements: list = field(default_factory=list)


def random_taxonomy(rng: random.Random) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for f in range(rng.randint(2, 3)):
        members = [f"f{f}"]
        out[f"f{f}"] = ()
        for i in range(rng.randint(1, 6)):
            uid = f"f{f}-u{i}"
            out[uid] = tuple(rng.sample(members, min(len(members), rng.randint(1, 2))))
            members.append(uid)
    return out


def random_world(rng: random.Random, max_assets: int = 9, store=None):
    """(registry, asset ids, condition ids, use ids) for one random world, registered in ``store``
    (a new MemoryStore by default)."""
    from charter.registry import Registry
    from charter.store.memory import MemoryStore

    uses = random_taxonomy(rng)
    tax = build([Use(u, p) for u, p in uses.items()])
    use_ids = sorted(uses)
    pick = lambda k: tuple(rng.sample(use_ids, rng.randint(0, k)))
    by_key = {_key("unspecified"): License("unspecified", deny=tuple(rng.sample(use_ids, 1)))}
    cond_ids = []
    lids = []
    for i in range(rng.randint(1, 4)):
        conds = ()
        if rng.random() < 0.4:
            cid = f"cond-{i}"
            cond_ids.append(cid)
            conds = (Condition(cid, rng.choice(use_ids), f"condition {i} holds", f"§{i}"),)
        allow = pick(2) if rng.random() < 0.4 else ()
        lic = License(f"Lic-{i}", deny=pick(2), allow=allow, conditions=conds, cites={u: f"§{i}.{u}" for u in allow[:1]})
        for n in (lic.id, f"lic {i} alias"):
            by_key[_key(n)] = lic
        lids.append(lic.id)
    table = LicenseTable(by_key=by_key)
    names = ["unspecified", "Mystery-1", "Other"] + lids + [f"lic {i} alias" for i in range(len(lids))]
    if len(lids) >= 2:
        a, b = rng.sample(lids, 2)
        names += [f"{a} OR {b}", f"{a} AND {b}", f"{a} OR Mystery-2"]
        if len(lids) >= 3:
            c = next(x for x in lids if x not in (a, b))
            names += [f"({a} AND {b}) OR {c}", f"{a} AND ({b} OR {c})"]
    n = rng.randint(1, max_assets)
    assets = []
    for i in range(n):
        aid = f"model/a{i}@1"
        edges = []
        if i:
            for p in rng.sample(range(i), rng.randint(0, min(i, 3))):
                edges.append(Edge(aid, f"model/a{p}@1", rng.choice(PROPAGATING + ("evaluated-on",) * 3)))
        requires = ()
        if rng.random() < 0.1:
            requires = (Requirement(rng.choice(use_ids), "bench", rng.choice(("m1", "m2")), None, 0.5),)
        assets.append(Asset(
            id=aid, kind="model", name=f"a{i}", version="1",
            licenses=tuple(rng.sample(names, rng.choice((0, 1, 1, 1, 2)))),
            allow=pick(2) if rng.random() < 0.25 else (),
            deny=pick(1) if rng.random() < 0.4 else (),
            derived_from=tuple(edges), requires=requires,
            attest=tuple(rng.sample(cond_ids, 1)) if cond_ids and rng.random() < 0.15 else (),
        ))
    reg = Registry(store if store is not None else MemoryStore(), tax, table)
    reg.add(assets)
    props = [Property(a.id, "bench", "bench/1", m, rng.choice((0.1, 0.9))) for a in assets for m in ("m1", "m2") if rng.random() < 0.5]
    if props:
        reg.attach(props)
    return reg, [a.id for a in assets], cond_ids, use_ids


def _mutate(rng: random.Random, reg, ids: list[str], use_ids: list[str]) -> None:
    aid = rng.choice(ids)
    x = rng.random()
    wd, rs = reg.withdrawals(), reg._rs
    if x < 0.35:
        if aid in wd:
            reg.lift(aid, "lifted")
        else:
            reg.withdraw(aid, f"reason {aid}")
    elif x < 0.7:
        reg.restrict(aid, rng.sample(use_ids, rng.randint(1, 2)), f"restricted {aid}")
    elif x < 0.85:
        if aid in rs:
            reg.lift_restrictions(aid, "lifted")
    else:  # a new asset derived from an existing one: it inherits whatever was withdrawn or restricted
        new = f"model/n{len(ids)}@1"
        parent = aid
        reg.add([Asset(new, "model", f"n{len(ids)}", "1", licenses=reg.get(parent).licenses,
                       derived_from=(Edge(new, parent, rng.choice(PROPAGATING)),))])
        ids.append(new)


def reference(reg, asset: str, uses: tuple[str, ...], attest: tuple[str, ...] = ()):
    return decide(Request(asset, uses, attest), reg.lineage(asset), reg.taxonomy, reg.licenses, reg.properties(asset))


def run(requests: int, seed: int = 0, per_world: int = 40, max_assets: int = 9, keep: int = 5, store=None) -> Report:
    """Decide ``requests`` random requests both ways; every difference goes to ``disagreements``.
    Each world also lists the assets allowed for one random request (``Registry.allowed_ids``) against
    the reference decisions (counted in ``listings``). ``store``: a factory of fresh stores per world."""
    rng = random.Random(seed)
    rep = Report()
    while rep.requests < requests:
        reg, ids, cond_ids, use_ids = random_world(rng, max_assets, store() if store else None)
        rep.worlds += 1
        if rng.random() < 0.3:
            _mutate(rng, reg, ids, use_ids)
        uses = tuple(rng.sample(use_ids, rng.randint(1, 2)))
        want = [a for a in ids if reference(reg, a, uses).allowed]
        got = reg.allowed_ids(uses)
        rep.listings += 1
        if got != want:
            rep.disagreements.append({"world": rep.worlds, "listing": uses, "fast": got, "reference": want})
        for j in range(min(per_world, requests - rep.requests)):
            if rng.random() < 0.1:
                _mutate(rng, reg, ids, use_ids)
            asset = rng.choice(ids)
            uses = tuple(rng.sample(use_ids, rng.randint(1, 3)))
            attest = tuple(rng.sample(cond_ids, rng.randint(0, len(cond_ids)))) if cond_ids and rng.random() < 0.3 else ()
            batch = rng.random() < 0.2
            fast = reg.can_many([(asset, uses)], log=False)[0] if batch and not attest else reg.check(asset, uses, attest)
            ref = reference(reg, asset, uses, attest)
            rep.requests += 1
            rep.allowed += ref.allowed
            e, asked_attest, _ = reg._terms(asset)
            rep.fast += verdict(e, reg._bits.mask(uses), attest + asked_attest) != REFERENCE
            if not (fast == ref and ref == fast and fast.to_json() == ref.to_json() and fast.allowed == ref.allowed):
                if len(rep.disagreements) < keep:
                    rep.disagreements.append({"world": rep.worlds, "asset": asset, "uses": uses, "attest": attest,
                                              "fast": fast.to_json(), "reference": ref.to_json()})
                else:
                    rep.disagreements.append(None)
    return rep
