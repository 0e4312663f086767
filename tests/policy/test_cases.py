"""Table-driven decision cases: tests/policy/cases/*.yaml, run through Registry.

Every case runs over a MemoryStore; cases marked ``sqlite: true`` also run over a registry file opened with
open_store (SQLite; PostgreSQL in ./dev test --postgres). See cases/README.md for the format.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from charter.core import charterfile
from charter.core.assets import Property
from charter.core import uses as uses_mod
from charter.policy import licenses as licenses_mod
from charter.policy.decide import RULES, Decision
from charter.registry import Registry
from charter.store.memory import MemoryStore
from charter.store import open_store

CASES_DIR = Path(__file__).parent / "cases"
TAX = uses_mod.load()
LIC = licenses_mod.load(TAX)

CASE_KEYS = {"name", "note", "sqlite", "assets", "withdrawn", "restricted", "properties", "request", "expect"}
EXPECT_KEYS = {"allowed", "count", "reasons"}
REASON_KEYS = {"asset", "rule", "use", "source", "path", "depth", "entries", "detail_has"}


def _load_cases() -> list[tuple[str, dict]]:
    out = []
    for f in sorted(CASES_DIR.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            out.append((f"{f.stem}/{case['name']}", case))
    return out


CASES = _load_cases()
SQLITE_CASES = [(cid, c) for cid, c in CASES if c.get("sqlite")]


def _key(r) -> tuple:
    return (r.asset, r.rule, r.use, r.source)


def run_case(case: dict, store) -> Decision:
    reg = Registry(store, TAX, LIC)
    assets = charterfile.parse_document(case["assets"], f"case:{case['name']}", TAX)
    reg.add(assets)
    for aid, reason in (case.get("withdrawn") or {}).items():
        reg.withdraw(aid, reason)
    for aid, r in (case.get("restricted") or {}).items():
        reg.restrict(aid, r["deny"], r["reason"])
    reg.attach(_properties(case))
    req = case["request"]
    decision = reg.check(req["asset"], req["uses"], req.get("attest", ()))
    check_expectation(case, decision, {a.id: a for a in assets})
    return decision


def _properties(case: dict) -> list[Property]:
    """``properties: {asset: {benchmark.metric: value | {value, ci: [lo, hi], n}}}``."""
    out = []
    for aid, ps in (case.get("properties") or {}).items():
        for key, v in ps.items():
            bench, metric = key.split(".")
            v = v if isinstance(v, dict) else {"value": v}
            ci = tuple(map(float, v["ci"])) if v.get("ci") else None
            out.append(Property(aid, bench, bench + "/test", metric, float(v["value"]), ci, int(v.get("n", 0))))
    return out


def check_expectation(case: dict, d: Decision, assets: dict) -> None:
    exp = case["expect"]
    asked = case["request"]["asset"]
    got = Counter(_key(r) for r in d.reasons)
    want = Counter((e["asset"], e["rule"], e["use"], e["source"]) for e in exp["reasons"])
    assert d.allowed is exp["allowed"], d.to_json()
    assert d.allowed == (not d.reasons)
    assert set(got) == set(want), f"reasons differ:\n got  {sorted(got, key=str)}\n want {sorted(want, key=str)}"
    if "count" in exp:
        assert len(d.reasons) == exp["count"], [r.to_json() for r in d.reasons]
    # no reason is reported twice
    full = Counter((r.asset, r.rule, r.use, r.source, r.entries, r.path) for r in d.reasons)
    assert all(n == 1 for n in full.values()), full
    for e in exp["reasons"]:
        k = (e["asset"], e["rule"], e["use"], e["source"])
        hits = [r for r in d.reasons if _key(r) == k]
        if "path" in e:
            assert all(list(r.path) == e["path"] for r in hits), (k, [r.path for r in hits])
        if "depth" in e:
            assert all(len(r.path) - 1 == e["depth"] for r in hits), (k, [r.path for r in hits])
        if "entries" in e:
            assert sorted({x for r in hits for x in r.entries}) == sorted(e["entries"]), (k, [r.entries for r in hits])
        for text in e.get("detail_has", ()):  # phrases every matching reason's detail contains
            assert all(text in r.detail for r in hits), (k, text, [r.detail for r in hits])
    # every path is a real lineage path: asked asset -> ... -> imposer, over propagating edges
    for r in d.reasons:
        assert r.path[0] == asked and r.path[-1] == r.asset
        for child, parent in zip(r.path, r.path[1:]):
            assert parent in assets[child].parents, (r.path, child, parent)
        assert r.detail


def test_case_files_are_well_formed():
    assert len(CASES) >= 60
    names = [cid for cid, _ in CASES]
    assert len(names) == len(set(names)), "case names must be unique within a file"
    for cid, case in CASES:
        assert set(case) <= CASE_KEYS, (cid, set(case) - CASE_KEYS)
        assert {"name", "assets", "request", "expect"} <= set(case), cid
        exp = case["expect"]
        assert set(exp) <= EXPECT_KEYS, cid
        assert exp["allowed"] == (not exp["reasons"]), cid
        for r in exp["reasons"]:
            assert set(r) <= REASON_KEYS and {"asset", "rule", "use", "source"} <= set(r), (cid, r)
            assert r["rule"] in RULES, (cid, r)
            assert ("path" in r) != ("depth" in r), f"{cid}: give path or depth"
            if r["rule"].startswith("property-"):
                assert r["source"] == "requires", cid
            if r["rule"] == "withdrawn":
                assert r["use"] is None and r["source"] == "withdrawal", cid
            else:
                TAX.check(r["use"])


def test_cases_cover_every_rule_and_source_kind():
    rules = {r["rule"] for _, c in CASES for r in c["expect"]["reasons"]}
    sources = {r["source"] for _, c in CASES for r in c["expect"]["reasons"]}
    assert rules == set(RULES)
    assert {"uses.deny", "uses.allow", "withdrawal", "license:unspecified", "restriction", "requires"} <= sources
    assert sum(c["expect"]["allowed"] for _, c in CASES) >= 15


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[cid for cid, _ in CASES])
def test_case_memory(case):
    run_case(case, MemoryStore())


@pytest.mark.parametrize("case", [c for _, c in SQLITE_CASES], ids=[cid for cid, _ in SQLITE_CASES])
def test_case_sqlite(case, tmp_path):
    store = open_store(str(tmp_path / "registry.db"))
    try:
        run_case(case, store)
    finally:
        store.close()


def test_sqlite_subset_is_meaningful():
    assert len(SQLITE_CASES) >= 15
    assert {cid.split("/")[0] for cid, _ in SQLITE_CASES} == {p.stem for p in CASES_DIR.glob("*.yaml")}


@pytest.mark.parametrize("case", [c for _, c in CASES if c["expect"]["reasons"]][:20])
def test_can_records_the_case_decision(case):
    """can() appends exactly the decision check() returns to the event log."""
    store = MemoryStore()
    reg = Registry(store, TAX, LIC)
    reg.add(charterfile.parse_document(case["assets"], "case", TAX))
    for aid, reason in (case.get("withdrawn") or {}).items():
        reg.withdraw(aid, reason)
    for aid, r in (case.get("restricted") or {}).items():
        reg.restrict(aid, r["deny"], r["reason"])
    reg.attach(_properties(case))
    d = reg.can(case["request"]["asset"], case["request"]["uses"])
    (event,) = store.events(type="decision")
    assert event.asset == case["request"]["asset"]
    assert event.data == d.to_json()
