"""The licence table: lookups by id and alias, punctuation-insensitive; unknown names deny commercial."""

from __future__ import annotations

import pytest

from charter.core import uses as uses_mod
from charter.errors import InvalidInput, UnknownUse
from charter.policy import licenses as licenses_mod
from charter.policy.licenses import License

TAX = uses_mod.load()
LIC = licenses_mod.load(TAX)


@pytest.mark.parametrize("name", [
    "CC-BY-NC-4.0", "cc-by-nc-4.0", "CC BY-NC 4.0", "CC_BY_NC_4.0", "ccbync40", " CC BY NC 4.0 ", "cc-by-nc", "CC BY-NC",
])
def test_cc_by_nc_names(name):
    lic = LIC.lookup(name)
    assert lic.id == "CC-BY-NC-4.0" and lic.known
    assert lic.deny == ("commercial",) and lic.allow == ()
    assert lic.source == "license:CC-BY-NC-4.0"
    assert "attribution" in lic.duties


@pytest.mark.parametrize("name, lid", [
    ("Apache License 2.0", "Apache-2.0"),
    ("apache", "Apache-2.0"),
    ("MIT License", "MIT"),
    ("Expat", "MIT"),
    ("cc0", "CC0-1.0"),
    ("CC BY-SA", "CC-BY-SA-4.0"),
    ("Llama 2 Community License", "llama2"),
    ("MSR-LA", "Microsoft-Data-Licensing-Agreement"),
    ("Academic Research Purposes Only", "Academic-Research-Only"),
    ("OpenAI Terms of Use", "OpenAI"),
    ("Unknown", "unspecified"),
    ("", "unspecified"),
    ("?", "unspecified"),
])
def test_aliases(name, lid):
    assert LIC.lookup(name).id == lid


def test_unknown_licence_denies_commercial_under_its_own_name():
    lic = LIC.lookup("Frobnitz Public License 1.0")
    assert lic.known is False
    assert lic.id == "Frobnitz Public License 1.0"
    assert lic.source == "license:Frobnitz Public License 1.0"
    assert lic.deny == ("commercial",) and lic.allow == () and lic.duties == ()
    assert "not in the licence table" in lic.description


def test_missing_licence_is_unspecified():
    lic = LIC.lookup(None)
    assert lic.id == "unspecified" and lic.known and lic.deny == ("commercial",)
    assert lic.source == "license:unspecified"
    assert LIC.for_asset(()) == (lic,)


def test_for_asset_keeps_order_and_counts_each_licence_once():
    lics = LIC.for_asset(("MIT", "CC BY-NC 4.0", "cc-by-nc-4.0", "Frobnitz", "mit license"))
    assert [x.id for x in lics] == ["MIT", "CC-BY-NC-4.0", "Frobnitz"]
    assert [x.known for x in lics] == [True, True, False]


def test_allow_only_licences():
    assert LIC.lookup("Academic-Research-Only").allow == ("academic-research",)
    assert LIC.lookup("Microsoft-Data-Licensing-Agreement").allow == ("research",)


def test_shipped_table_is_consistent():
    ids = [lic.id for lic in LIC]
    assert len(ids) == len(set(ids)) and "unspecified" in ids and len(ids) > 50
    for lic in LIC:
        assert isinstance(lic, License)
        for u in lic.deny + lic.allow:
            assert u in TAX, (lic.id, u)
        assert set(lic.duties) <= {"attribution", "share-alike", "pass-on-restrictions"}, lic.id
        assert LIC.lookup(lic.id) is lic
    # every non-commercial licence denies commercial; permissive ones deny nothing
    for lid in ("CC-BY-NC-2.0", "CC-BY-NC-3.0", "CC-BY-NC-SA-4.0", "CC-BY-NC-ND-4.0", "Non-Commercial"):
        assert LIC.lookup(lid).deny == ("commercial",)
    for lid in ("MIT", "Apache-2.0", "CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0"):
        assert LIC.lookup(lid).deny == () and LIC.lookup(lid).allow == ()


def test_licence_table_loads_against_an_extended_taxonomy(tmp_path):
    ext = tmp_path / "ext.yaml"
    ext.write_text("uses: [{id: voice-cloning, parents: [content-generation]}]\n")
    table = licenses_mod.load(uses_mod.load(ext))
    assert table.lookup("CC-BY-NC-4.0").deny == ("commercial",)


def _table(tmp_path, text):
    p = tmp_path / "licenses.yaml"
    p.write_text(text)
    return p


def test_custom_table(tmp_path):
    p = _table(tmp_path, """
licenses:
  - {id: Mine-1.0, names: [My Licence], deny: [military], allow: [research], duties: [attribution]}
  - {id: unspecified, deny: [commercial, government]}
""")
    table = licenses_mod.load(TAX, p)
    assert table.lookup("my licence").id == "Mine-1.0"
    assert table.lookup("MIT").known is False
    assert table.lookup("MIT").deny == ("commercial", "government")


@pytest.mark.parametrize("text, exc, words", [
    ("licenses:\n  - {id: X, deny: [comercial]}\n  - {id: unspecified, deny: [commercial]}\n", UnknownUse, "comercial"),
    ("licenses:\n  - {id: X, allow: [reserch]}\n  - {id: unspecified}\n", UnknownUse, "reserch"),
    ("licenses:\n  - {id: X, names: [shared]}\n  - {id: Y, names: [Shared]}\n  - {id: unspecified}\n", InvalidInput, "maps to both"),
    ("licenses:\n  - {id: X}\n", InvalidInput, "no 'unspecified' entry"),
])
def test_bad_tables(tmp_path, text, exc, words):
    p = _table(tmp_path, text)
    with pytest.raises(exc) as e:
        licenses_mod.load(TAX, p)
    assert words in e.value.message
    assert e.value.where.startswith(str(p))


def test_bad_table_names_the_line(tmp_path):
    p = _table(tmp_path, "licenses:\n  - {id: X}\n  - {id: Y, deny: [militry]}\n  - {id: unspecified}\n")
    with pytest.raises(UnknownUse) as e:
        licenses_mod.load(TAX, p)
    assert e.value.where == f"{p}:3" and e.value.field == "licenses[1].deny"
    assert e.value.hint == "did you mean 'military'?"
