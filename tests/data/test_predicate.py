"""The compiled record predicate: hand-checked cases, and agreement with policy/decide.py.

A record is one more member of E carrying its own allow/deny tags, so for any request R the
SQL predicate must keep exactly the records that ``decide`` allows for a lineage made of the
record alone (licence 'proprietary': no restrictions of its own), and the reason it gives
first must be one that ``decide`` reports too.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.core import uses as uses_mod
from charter.core.lineage import Terms, Upstream
from charter.data.predicate import All, HasAny, In, Not, Predicate, Shorter, compile_predicate, render
from charter.policy import licenses as licenses_mod
from charter.policy.decide import Request, decide

TAX = uses_mod.load()
LICENSES = licenses_mod.load(TAX)
USES = sorted(TAX.uses)
LIST = pa.list_(pa.string())
CON = duckdb.connect()


def table(records: list[dict]) -> pa.Table:
    """Records as the normalised columns the predicate reads (missing keys -> NULL)."""
    return pa.table({
        "id": pa.array(range(len(records)), pa.int64()),
        "text": pa.array([r.get("text", "a reasonably long text") for r in records], pa.string()),
        "charter_allow": pa.array([r.get("allow") for r in records], LIST),
        "charter_deny": pa.array([r.get("deny") for r in records], LIST),
        "charter_owner": pa.array([r.get("owner") for r in records], pa.string()),
    })


def evaluate(p: Predicate, records: list[dict]) -> list[tuple[bool, str | None]]:
    """(keep, first reason) for each record, in one DuckDB query."""
    CON.register("t", table(records))
    return CON.execute(f"SELECT {p.keep()} AS keep, {p.reason()} AS reason FROM t ORDER BY id").fetchall()


def one(uses, record: dict, **kw) -> tuple[bool, str | None]:
    return evaluate(compile_predicate(uses, TAX, **kw), [record])[0]


# === hand-checked cases =====================================================================

MT = ("fine-tuning", "machine-translation", "commercial")


@pytest.mark.parametrize("record, expected", [
    ({}, (True, None)),  # NULL lists
    ({"allow": [], "deny": []}, (True, None)),  # empty lists
    ({"deny": ["purpose"]}, (False, "record-deny:machine-translation")),  # purpose is an ancestor of machine-translation
    ({"deny": ["machine-translation"]}, (False, "record-deny:machine-translation")),
    ({"deny": ["training"]}, (False, "record-deny:fine-tuning")),  # fine-tuning is a kind of training
    ({"deny": ["pretraining"]}, (True, None)),  # a sibling of fine-tuning: no overlap
    ({"deny": ["face-recognition"]}, (True, None)),  # no overlap with any requested use
    ({"deny": ["military", "surveillance"]}, (True, None)),
    ({"deny": ["academic-research"]}, (True, None)),  # research is not commercial
    ({"allow": ["research"]}, (False, "record-allow-only:commercial")),
    ({"allow": ["commercial"]}, (True, None)),
    ({"allow": ["context"]}, (True, None)),  # the facet itself covers every context
    ({"allow": ["machine-translation", "summarization"]}, (True, None)),
    ({"allow": ["summarization"]}, (False, "record-allow-only:machine-translation")),
    ({"allow": ["inference"]}, (False, "record-allow-only:fine-tuning")),
    ({"deny": ["commercial"], "allow": ["research"]}, (False, "record-deny:commercial")),  # deny reasons come first
])
def test_hand_checked_for_commercial_machine_translation(record, expected):
    assert one(MT, record) == expected


def test_allow_in_an_undeclared_facet():
    # the record permits only research contexts; the request declares no context at all
    assert one(["training"], {"allow": ["research"]}) == (False, "record-undeclared-facet:context")
    assert one(["training", "research"], {"allow": ["research"]}) == (True, None)
    assert one(["training", "academic-research"], {"allow": ["research"]}) == (True, None)  # covered by research
    assert one(["training", "non-commercial"], {"allow": ["research"]}) == (False, "record-allow-only:non-commercial")


def test_withdrawn_owner_and_too_short():
    kw = {"withdrawn_owners": ["member-001", "o'neil"], "min_chars": 5}
    assert one(MT, {"owner": "member-001"}, **kw) == (False, "owner-withdrew-consent")
    assert one(MT, {"owner": "o'neil"}, **kw) == (False, "owner-withdrew-consent")  # quoted in SQL
    assert one(MT, {"owner": "member-002"}, **kw) == (True, None)
    assert one(MT, {"owner": None}, **kw) == (True, None)  # NULL owner: nobody withdrew
    # the owner's withdrawal is reported first, even when the record's tags deny too
    assert one(MT, {"owner": "member-001", "deny": ["commercial"]}, **kw) == (False, "owner-withdrew-consent")
    assert one(MT, {"text": "abcd"}, **kw) == (False, "too-short")
    assert one(MT, {"text": "abcde"}, **kw) == (True, None)
    assert one(MT, {"text": None}, **kw) == (False, "too-short")  # NULL text counts as empty
    assert one(MT, {"text": "abc", "deny": ["purpose"]}, **kw) == (False, "record-deny:machine-translation")


def test_branches_in_priority_order():
    p = compile_predicate(["training", "commercial", "training"], TAX, withdrawn_owners=["b", "a", "b"], min_chars=3)
    assert p.uses == ("training", "commercial")
    reasons = [b.reason for b in p.branches]
    assert reasons == ["owner-withdrew-consent", "record-deny:training", "record-deny:commercial",
                       "record-allow-only:training", "record-undeclared-facet:purpose", "record-allow-only:commercial", "too-short"]
    assert p.branches[0].when == In("charter_owner", ("a", "b"))
    assert p.branches[1].when == HasAny("charter_deny", tuple(sorted(TAX.overlapping["training"])))
    assert compile_predicate(["training"], TAX).branches[-1].reason == "record-undeclared-facet:context"


def test_empty_predicate_keeps_everything():
    p = Predicate(("training",), ())
    assert p.keep() == "true" and p.keep("spark") == "true"
    assert evaluate(p, [{}, {"deny": ["training"]}]) == [(True, None), (True, None)]
    assert "STRING" in p.reason("spark")


def test_render_both_dialects():
    e = All((HasAny("charter_allow", ("a", "b'c")), Not(In("charter_owner", ("x",))), Shorter("text", 3)))
    duck, spark = render(e, "duckdb"), render(e, "spark")
    assert "list_has_any(coalesce(charter_allow, []::VARCHAR[]), ['a', 'b''c'])" in duck
    assert "coalesce(arrays_overlap(coalesce(charter_allow, array()), array('a', 'b''c')), false)" in spark  # NULL-safe
    assert "coalesce(charter_owner IN ('x'), false)" in duck and "coalesce(length(text), 0) < 3" in spark
    with pytest.raises(TypeError):
        render("charter_allow", "duckdb")


def test_keep_merges_tests_of_one_list_into_one():
    # the plain expression tree (Spark's rendering; DuckDB's maps each list to a bit mask instead)
    p = compile_predicate(MT, TAX)
    keep = p.keep("spark")
    assert keep.count("arrays_overlap(coalesce(charter_deny") == 1  # the deny branches, merged
    assert keep.count("arrays_overlap(coalesce(charter_allow") == 2 * 3  # allow-only is not a single list test


def test_null_elements_inside_lists():
    # a NULL element matches nothing, and never turns the decision into NULL
    rows = evaluate(compile_predicate(MT, TAX), [{"deny": [None]}, {"deny": [None, "commercial"]}, {"allow": [None, "research"]}])
    assert rows == [(True, None), (False, "record-deny:commercial"), (False, "record-allow-only:commercial")]


# === agreement with decide ====================================================================

RULE_OF = {"record-deny": "deny", "record-allow-only": "allow-only", "record-undeclared-facet": "undeclared-facet"}

tags = st.one_of(st.none(), st.lists(st.sampled_from(USES), max_size=3))
requests = st.lists(st.sampled_from(USES), min_size=1, max_size=4)
records = st.lists(st.tuples(tags, tags), min_size=1, max_size=40)


def decide_record(uses: tuple[str, ...], rid: str, allow, deny):
    terms = Terms(rid, licenses=("proprietary",), allow=tuple(allow or ()), deny=tuple(deny or ()))
    return decide(Request(rid, uses), [Upstream(terms, (rid,))], TAX, LICENSES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, records)
def test_sql_predicate_agrees_with_decide(uses, recs):
    p = compile_predicate(uses, TAX)
    got = evaluate(p, [{"allow": a, "deny": d} for a, d in recs])
    for i, ((allow, deny), (keep, reason)) in enumerate(zip(recs, got)):
        d = decide_record(p.uses, f"record/{i}", allow, deny)
        assert keep == d.allowed, (uses, allow, deny, reason, d.reasons)
        assert (reason is None) == keep
        if reason is not None:
            code, _, use = reason.partition(":")
            assert (RULE_OF[code], use) in {(r.rule, r.use) for r in d.reasons}, (uses, allow, deny, reason, d.reasons)


def test_license_proprietary_adds_no_restriction():
    # the property above relies on this: the record's own tags are the only terms
    assert all(not (lic.allow or lic.deny) for lic in LICENSES.for_asset(("proprietary",)))


# === exclusion counts per group of records ====================================================

owners = st.one_of(st.none(), st.sampled_from(["ann", "bob", "cy", "o'neil"]))
texts = st.one_of(st.none(), st.text(max_size=6))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, st.lists(st.tuples(tags, tags, owners, texts), min_size=1, max_size=40),
       st.lists(st.sampled_from(["ann", "cy", "o'neil", "zed"]), max_size=3), st.integers(0, 4))
def test_counts_per_group_equal_the_reasons_per_record(uses, recs, withdrawn, min_chars):
    p = compile_predicate(uses, TAX, withdrawn, min_chars)
    CON.register("t", table([{"allow": a, "deny": d, "owner": o, "text": x} for a, d, o, x in recs]))
    per_record = dict(CON.execute(f"SELECT {p.reason()} AS r, count(*) FROM t GROUP BY r").fetchall())
    rows = CON.execute(p.counts("t", ["len(charter_allow) > 1", "charter_deny IS NULL"])).fetchall()
    assert {r: n for r, n, _, _ in rows} == per_record
    flags = {r: (f0, f1) for r, _, f0, f1 in rows}
    expect = CON.execute(f"SELECT {p.reason()} AS r, bool_or(len(charter_allow) > 1), bool_or(charter_deny IS NULL) FROM t GROUP BY r").fetchall()
    assert flags == {r: (f0, f1) for r, f0, f1 in expect}


def test_counts_hand_checked():
    recs = [{"owner": "ann"}, {"owner": "ann", "deny": ["commercial"]}, {"owner": "bob", "deny": ["commercial"]},
            {"owner": "bob", "text": "ab"}, {"owner": None, "allow": ["research"]}, {"owner": "bob"}]
    CON.register("t", table(recs))
    p = compile_predicate(MT, TAX, ["ann"], min_chars=3)
    got = {r: n for r, n in CON.execute(p.counts("t")).fetchall()}
    assert got == {"owner-withdrew-consent": 2, "record-deny:commercial": 1, "too-short": 1, "record-allow-only:commercial": 1, None: 1}


# === unknown tags (issue 12: --on-error skip excludes them as record-unknown-use) ==============

def test_unknown_tags_beside_null_lists_and_null_elements():
    """On raw columns (NULL lists, NULL elements): a NULL on one side used to make the unknown-tag test NULL."""
    p = compile_predicate(MT, TAX, unknown=True)
    rows = evaluate(p, [{}, {"deny": [None]}, {"deny": ["comercial"]}, {"allow": [None, "Research"]},
                        {"deny": ["commercial", "comercial"]}, {"deny": ["commercial"]}])
    assert rows == [(True, None), (True, None), (False, "record-unknown-use"), (False, "record-unknown-use"),
                    (False, "record-unknown-use"), (False, "record-deny:commercial")]
    assert "record-unknown-use" not in compile_predicate(MT, TAX).reason()  # stop mode: the run stops before


typo_tags = st.one_of(st.none(), st.lists(st.one_of(st.sampled_from(USES), st.none(),
                                                    st.sampled_from(["comercial", "Commercial", " research", "research ", ""])), max_size=3))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, st.lists(st.tuples(typo_tags, typo_tags), min_size=1, max_size=30))
def test_unknown_tags_excluded_first_otherwise_decide(uses, recs):
    p = compile_predicate(uses, TAX, unknown=True)
    got = evaluate(p, [{"allow": a, "deny": d} for a, d in recs])
    for i, ((allow, deny), (keep, reason)) in enumerate(zip(recs, got)):
        if any(t is not None and t not in TAX for t in (allow or []) + (deny or [])):
            assert (keep, reason) == (False, "record-unknown-use"), (allow, deny)
        else:
            clean = [[t for t in x if t is not None] if x else x for x in (allow, deny)]
            assert keep == decide_record(p.uses, f"record/{i}", *clean).allowed, (uses, allow, deny, reason)
