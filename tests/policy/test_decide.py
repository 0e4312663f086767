"""decide() called directly with hand-built Upstream lists (no store)."""

from __future__ import annotations

from charter.core import uses as uses_mod
from charter.core.assets import Asset, Withdrawal
from charter.policy import licenses as licenses_mod
from charter.policy.decide import RULES, Decision, Reason, Request, Upstream, decide

TAX = uses_mod.load()
LIC = licenses_mod.load(TAX)


def asset(aid: str, **kw) -> Asset:
    kind, rest = aid.split("/", 1)
    name, version = rest.rsplit("@", 1)
    return Asset(id=aid, kind=kind, name=name, version=version, **kw)


def test_rules():
    assert RULES == ("withdrawn", "deny", "undeclared-facet", "allow-only", "condition", "property-missing", "property-unmet")


def test_allowed_with_no_constraints():
    m = asset("model/m@1", licenses=("MIT",))
    d = decide(Request(m.id, ("inference", "commercial")), [Upstream(m, (m.id,))], TAX, LIC)
    assert d == Decision(m.id, ("inference", "commercial"), True, ())
    assert d.to_json() == {"asset": m.id, "uses": ["inference", "commercial"], "allowed": True, "reasons": []}


def test_requested_uses_are_deduplicated_in_order():
    m = asset("model/m@1", licenses=("MIT",), deny=("military",))
    d = decide(Request(m.id, ("military", "inference", "military")), [Upstream(m, (m.id,))], TAX, LIC)
    assert d.uses == ("military", "inference")
    assert len(d.reasons) == 1


def test_reason_fields_and_json():
    d0 = asset("dataset/d@1", licenses=("CC-BY-NC-4.0",))
    m = asset("model/m@1", licenses=("MIT",), allow=("text-generation",))
    w = Withdrawal(d0.id, "takedown", "2025-01-01T00:00:00+00:00")
    lineage = [Upstream(m, (m.id,)), Upstream(d0, (m.id, d0.id), w)]
    d = decide(Request(m.id, ("commercial",)), lineage, TAX, LIC)
    assert not d.allowed
    by_rule = {r.rule: r for r in d.reasons}
    assert by_rule["undeclared-facet"] == Reason(
        m.id, "undeclared-facet", "purpose", "uses.allow", (m.id,), ("text-generation",), by_rule["undeclared-facet"].detail)
    assert by_rule["withdrawn"].use is None and by_rule["withdrawn"].source == "withdrawal"
    assert "takedown" in by_rule["withdrawn"].detail
    assert by_rule["deny"].to_json() == {
        "asset": d0.id, "rule": "deny", "use": "commercial", "source": "license:CC-BY-NC-4.0",
        "path": [m.id, d0.id], "entries": ["commercial"], "detail": by_rule["deny"].detail}
    assert [r.rule for r in d.reasons] == ["undeclared-facet", "withdrawn", "deny"]  # lineage order
    assert d.to_json()["reasons"][0]["rule"] == "undeclared-facet"


def test_allow_only_lists_the_facet_entries():
    m = asset("model/m@1", licenses=("MIT",), allow=("inference", "summarization", "machine-translation"))
    d = decide(Request(m.id, ("inference", "question-answering")), [Upstream(m, (m.id,))], TAX, LIC)
    (r,) = d.reasons
    assert (r.rule, r.use, r.entries) == ("allow-only", "question-answering", ("summarization", "machine-translation"))


def test_decide_is_pure_and_deterministic():
    m = asset("model/m@1", deny=("military", "surveillance"), allow=("inference",))
    lineage = (Upstream(m, (m.id,)),)
    req = Request(m.id, ("military", "fine-tuning", "commercial"))
    assert decide(req, lineage, TAX, LIC) == decide(req, lineage, TAX, LIC)
    assert m.deny == ("military", "surveillance")


def test_compute_without_a_licence_has_no_licence_terms():
    """A compute asset naming no licence is not 'unspecified' (which denies commercial); its own lists
    still bind, along trained-with, with the path from the asked asset."""
    c = asset("compute/alice@1", deny=("military",))
    m = asset("model/m@1", licenses=("MIT",), derived_from=())
    lineage = [Upstream(m, (m.id,)), Upstream(c, (m.id, c.id))]
    assert decide(Request(m.id, ("inference", "commercial")), lineage, TAX, LIC).allowed
    d = decide(Request(m.id, ("inference", "military", "commercial")), lineage, TAX, LIC)
    assert [r.to_json() for r in d.reasons] == [{
        "asset": c.id, "rule": "deny", "use": "military", "source": "uses.deny", "path": [m.id, c.id],
        "entries": ["military"], "detail": "compute/alice@1 denies military (uses.deny)"}]
    # any other kind naming no licence still gets the unspecified licence
    d = decide(Request("dataset/d@1", ("commercial",)), [Upstream(asset("dataset/d@1"), ("dataset/d@1",))], TAX, LIC)
    assert [(r.rule, r.source) for r in d.reasons] == [("deny", "license:unspecified")]
    # a licence named on compute counts like any other
    nc = asset("compute/lab@1", licenses=("CC-BY-NC-4.0",))
    d = decide(Request(nc.id, ("commercial",)), [Upstream(nc, (nc.id,))], TAX, LIC)
    assert [(r.rule, r.source) for r in d.reasons] == [("deny", "license:CC-BY-NC-4.0")]


def test_an_unknown_licence_says_it_is_unknown_not_that_it_forbids():
    """`license: acme-model-license` read as if that licence forbade commercial use (issue 14): it is only unmapped."""
    d0 = asset("dataset/d@1", licenses=("CC-BY-NC-4.0",))
    m = asset("model/m@1", licenses=("acme-model-license",), derived_from=())
    d = decide(Request(m.id, ("inference", "commercial")), [Upstream(m, (m.id,)), Upstream(d0, (m.id, d0.id))], TAX, LIC)
    unknown, known = d.reasons
    assert (unknown.source, unknown.rule, unknown.use) == ("license:acme-model-license", "deny", "commercial")
    assert unknown.detail == ("model/m@1's licence 'acme-model-license' is not in the licence table: commercial use is not permitted until it is mapped"
                             " (fix: add it with --licenses FILE)")
    assert known.detail == "dataset/d@1 denies commercial (license:CC-BY-NC-4.0)"  # a licence that does forbid it
