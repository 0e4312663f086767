"""Licence clauses: citations on reasons, conditions a request attests, duties with their text. Uses a
licence file written here, so the rule is pinned apart from the shipped table's contents."""

from __future__ import annotations

import pytest

from charter.core import uses as uses_mod
from charter.core.assets import Asset
from charter.errors import InvalidInput
from charter.policy import licenses as licenses_mod
from charter.policy.decide import Request, Upstream, decide

TAX = uses_mod.load()

LICENCE = """\
licenses:
  - id: acme-community
    names: [ACME Community Licence]
    document: ACME Community Licence 1.0
    url: https://example.org/acme
    deny:
      - {use: military, cite: "ACME Acceptable Use Policy §2.a"}
      - surveillance
    conditions:
      - {id: acme-under-1m-users, use: commercial, text: "the licensee has under 1 million monthly users", cite: "ACME §2"}
    duties:
      - {id: attribution, text: "display \\"Built with ACME\\"", cite: "ACME §1.b.i"}
      - naming
  - id: acme-research
    allow: [{use: research, cite: "ACME Research §1"}]
"""


@pytest.fixture(scope="module")
def lic(tmp_path_factory):
    f = tmp_path_factory.mktemp("lic") / "acme.yaml"
    f.write_text(LICENCE)
    return licenses_mod.load(TAX, extra=(f,))


def one(lic, licence: str, uses: tuple[str, ...], attest: tuple[str, ...] = (), **kw):
    m = Asset(id="model/m@1", kind="model", name="m", version="1", licenses=(licence,), **kw)
    return decide(Request(m.id, uses, attest), [Upstream(m, (m.id,))], TAX, lic)


def test_the_entry_is_read_with_its_clauses(lic):
    a = lic.lookup("ACME Community Licence")
    assert a.id == "acme-community" and a.document == "ACME Community Licence 1.0" and a.url == "https://example.org/acme"
    assert a.deny == ("military", "surveillance") and a.cite("military") == "ACME Acceptable Use Policy §2.a" and a.cite("surveillance") == ""
    assert a.duties == ("attribution", "naming")
    assert a.duty_terms[0].text == 'display "Built with ACME"' and a.duty_terms[0].cite == "ACME §1.b.i"
    (c,) = a.conditions
    assert (c.id, c.use, c.cite) == ("acme-under-1m-users", "commercial", "ACME §2")
    assert lic.conditions["acme-under-1m-users"] == (c,)


def test_a_denial_cites_its_clause(lic):
    d = one(lic, "acme-community", ("inference", "military"))
    (r,) = d.reasons
    assert (r.rule, r.use, r.source, r.cite) == ("deny", "military", "license:acme-community", "ACME Acceptable Use Policy §2.a")
    assert r.detail == "model/m@1 denies military (license:acme-community; ACME Acceptable Use Policy §2.a)"
    assert r.to_json()["cite"] == "ACME Acceptable Use Policy §2.a"
    (r,) = one(lic, "acme-community", ("surveillance",)).reasons
    assert r.cite == "" and "cite" not in r.to_json()  # uncited entries keep the old shape


def test_a_condition_denies_until_attested_and_is_recorded_when_attested(lic):
    d = one(lic, "acme-community", ("inference", "commercial"))
    (r,) = d.reasons
    assert not d.allowed and (r.rule, r.use, r.entries, r.cite) == ("condition", "commercial", ("acme-under-1m-users",), "ACME §2")
    assert "permits commercial only if the licensee has under 1 million monthly users (ACME §2); attest it with --attest acme-under-1m-users" in r.detail
    d = one(lic, "acme-community", ("inference", "commercial"), attest=("acme-under-1m-users",))
    assert d.allowed and d.reasons == ()
    (c,) = d.conditions
    assert (c.asset, c.license, c.condition, c.use, c.cite, c.path) == ("model/m@1", "acme-community", "acme-under-1m-users", "commercial", "ACME §2", ("model/m@1",))
    assert d.to_json()["conditions"][0]["condition"] == "acme-under-1m-users"
    assert "conditions" not in one(lic, "acme-community", ("inference",)).to_json()  # no condition applied


def test_the_asked_assets_charter_attests_for_its_lineage(lic):
    base = Asset(id="model/base@1", kind="model", name="base", version="1", licenses=("acme-community",))
    app = Asset(id="application/app@1", kind="application", name="app", version="1", licenses=("MIT",), attest=("acme-under-1m-users",))
    lineage = [Upstream(app, (app.id,)), Upstream(base, (app.id, base.id))]
    d = decide(Request(app.id, ("commercial",)), lineage, TAX, lic)
    assert d.allowed and d.conditions[0].path == (app.id, base.id)
    # an attestation upstream does not speak for whoever asks downstream
    lineage = [Upstream(base.__class__(id="model/ft@1", kind="model", name="ft", version="1", licenses=("MIT",)), ("model/ft@1",)),
               Upstream(Asset(id="model/b2@1", kind="model", name="b2", version="1", licenses=("acme-community",), attest=("acme-under-1m-users",)),
                        ("model/ft@1", "model/b2@1"))]
    assert not decide(Request("model/ft@1", ("commercial",)), lineage, TAX, lic).allowed


def test_allow_only_cites_the_allow_entry(lic):
    d = one(lic, "acme-research", ("commercial",))
    (r,) = d.reasons
    assert (r.rule, r.cite) == ("allow-only", "ACME Research §1") and "(ACME Research §1)" in r.detail


@pytest.mark.parametrize("entry, field, message", [
    ("{id: x, deny: [{use: military, page: 3}]}", "licenses[0].deny", "deny must be a list of strings or {use: ..., cite: ...} mappings"),
    ("{id: x, conditions: [{id: x, use: commercial}]}", "licenses[0].conditions[0]", "a condition is {id, use, text, cite}"),
    ("{id: x, conditions: [{id: 'Bad Id', use: commercial, text: t}]}", "licenses[0].conditions[0].id", "is not lowercase letters"),
    ("{id: x, conditions: [{id: ok, use: comercial, text: t}]}", "licenses[0].conditions", "did you mean 'commercial'"),
    ("{id: x, duties: [{id: atribution}]}", "licenses[0].duties", "unknown duty 'atribution'"),
    ("{id: x, document: [a]}", "licenses[0].document", "document must be a string"),
])
def test_bad_clauses_name_file_line_and_field(tmp_path, entry, field, message):
    f = tmp_path / "l.yaml"
    f.write_text("licenses:\n  - " + entry + "\n")
    with pytest.raises(Exception) as e:
        licenses_mod.load(TAX, extra=(f,))
    text = e.value.oneline() if hasattr(e.value, "oneline") else str(e.value)
    assert message in text and f"{f}:" in text, text
    if isinstance(e.value, InvalidInput):
        assert field in text


def test_a_use_denied_whole_is_reported_once_per_licence(lic, tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("licenses:\n  - id: w\n    deny: [{use: weapons-development, cite: 'W §2'}, {use: military, cite: 'W §1'}, espionage]\n")
    table = licenses_mod.load(TAX, extra=(f,))
    (r,) = one(table, "w", ("military",)).reasons  # military covers the request: its narrower entries would repeat it
    assert (r.entries, r.cite) == (("military",), "W §1")
    (r,) = one(table, "w", ("weapons-development",)).reasons  # military covers it too: the closest entry is cited
    assert (r.entries, r.cite) == (("weapons-development",), "W §2")
    f.write_text("licenses:\n  - id: w\n    deny: [{use: weapons-development, cite: 'W §2'}, espionage]\n")
    table = licenses_mod.load(TAX, extra=(f,))
    got = one(table, "w", ("military",)).reasons  # no entry covers all of military: each overlapping one is named
    assert sorted(r.entries[0] for r in got) == ["espionage", "weapons-development"]
