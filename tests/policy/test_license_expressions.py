"""Licence fields as SPDX expressions (license-expression) and the long tail (ScanCode LicenseDB
categories), decided through decide(). Expected values worked out by hand from the shipped table."""

from __future__ import annotations

import pytest

from charter.core import uses as uses_mod
from charter.core.assets import Asset
from charter.policy import licenses as licenses_mod
from charter.policy.decide import Request, Upstream, decide

TAX = uses_mod.load()
LIC = licenses_mod.load(TAX)


def decide_one(licence: str, *uses: str):
    m = Asset(id="model/m@1", kind="model", name="m", version="1", licenses=(licence,))
    return decide(Request(m.id, uses), [Upstream(m, (m.id,))], TAX, LIC)


def test_or_lets_the_chooser_take_the_permissive_alternative():
    lic = LIC.lookup("MIT OR CC-BY-NC-4.0")
    assert lic.origin == "expression" and [x.id for x in lic.alternatives] == ["MIT", "CC-BY-NC-4.0"]
    assert decide_one("MIT OR CC-BY-NC-4.0", "inference", "commercial").allowed
    assert decide_one("mit or cc-by-nc-4.0", "inference", "commercial").allowed  # SPDX operators in any case


def test_or_denies_only_what_every_alternative_denies_with_every_reason():
    d = decide_one("CC-BY-NC-4.0 OR CC-BY-NC-SA-4.0", "inference", "commercial")
    assert not d.allowed
    assert sorted(r.source for r in d.reasons) == ["license:CC-BY-NC-4.0", "license:CC-BY-NC-SA-4.0"]
    assert all(r.detail.startswith("no alternative of 'CC-BY-NC-4.0 OR CC-BY-NC-SA-4.0' permits it: ") for r in d.reasons)
    # research-only OR non-commercial: research passes the first... and the second
    assert decide_one("Academic-Research-Only OR CC-BY-NC-4.0", "inference", "personal").allowed  # the NC one permits it


def test_and_applies_every_part():
    d = decide_one("MIT AND CC-BY-NC-4.0", "inference", "commercial")
    (r,) = d.reasons
    assert (r.rule, r.source) == ("deny", "license:CC-BY-NC-4.0")
    assert LIC.for_asset(("MIT AND CC-BY-NC-4.0",)) == (LIC.lookup("MIT"), LIC.lookup("CC-BY-NC-4.0"))


def test_with_keeps_the_licence_terms_and_names_the_exception():
    lic = LIC.lookup("GPL-3.0 WITH GCC-exception-3.1")
    assert lic.id == "GPL-3.0 WITH GCC-exception-3.1" and lic.duties == ("attribution", "share-alike") and lic.known
    assert decide_one("GPL-3.0 WITH GCC-exception-3.1", "commercial").allowed


@pytest.mark.parametrize("name, category, denied", [
    ("Sleepycat", "Copyleft", ()),
    ("BUSL-1.1", "Source-available", ("commercial",)),
    ("Elastic-2.0", "Source-available", ("commercial",)),
    ("0BSD", "Permissive", ()),
    ("adobe-eula", "Commercial", ("commercial",)),
    ("LicenseRef-scancode-adobe-eula", "Commercial", ("commercial",)),
])
def test_the_long_tail_takes_its_category_terms_and_says_so(name, category, denied):
    lic = LIC.lookup(name)
    assert (lic.origin, lic.category, lic.deny, lic.known) == ("category", category, denied, True)
    d = decide_one(name, "inference", "commercial")
    assert d.allowed is (not denied)
    for r in d.reasons:
        assert r.cite == f"ScanCode LicenseDB category {category!r}: terms from the category, not from the licence text"


def test_a_restricting_exception_adds_its_categorys_denials():
    lic = LIC.lookup("Apache-2.0 WITH Commons-Clause")
    assert lic.id == "Apache-2.0 WITH LicenseRef-scancode-commons-clause" and lic.deny == ("commercial",)
    (r,) = decide_one("Apache-2.0 WITH Commons-Clause", "commercial").reasons
    assert r.cite.startswith("exception LicenseRef-scancode-commons-clause: ScanCode LicenseDB category 'Source-available'")
    assert LIC.lookup("GPL-2.0 WITH Classpath-exception-2.0").deny == ()  # a linking exception restricts nothing


def test_a_licence_found_nowhere_is_unknown_and_says_how_to_fix_it():
    assert LIC.unknown("acme-private-licence-7") == ["acme-private-licence-7"]
    (r,) = decide_one("acme-private-licence-7", "commercial").reasons
    assert r.detail == ("model/m@1's licence 'acme-private-licence-7' is not in the licence table: commercial use is not permitted "
                        "until it is mapped (fix: add it with --licenses FILE)")
    # inside an expression the unknown part is named and the known part still decides
    assert LIC.unknown("acme-private-licence-7 OR MIT") == ["acme-private-licence-7"]
    assert decide_one("acme-private-licence-7 OR MIT", "commercial").allowed


def test_prose_with_and_is_one_name_not_an_expression():
    lic = LIC.lookup("Terms and Conditions of Foo")
    assert (lic.id, lic.origin) == ("Terms and Conditions of Foo", "unknown")
    assert LIC.lookup("Google's Terms and Conditions").id == "Google"  # the table first
