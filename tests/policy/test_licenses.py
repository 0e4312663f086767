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
        assert set(lic.duties) <= {"attribution", "share-alike", "pass-on-restrictions", "naming", "notice"}, lic.id
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
    assert table.lookup("acme-x").known is False
    assert table.lookup("acme-x").deny == ("commercial", "government")
    assert table.lookup("MIT").origin == "category"  # outside this table, ScanCode's LicenseDB still classes it


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


# --- licence strings of CRFM Ecosystem Graphs (assets/*.yaml `license`), with their terms ---

@pytest.mark.parametrize("name, lid", [
    ("BigCode Open RAIL-M v1", "bigcode-openrail-m"), ("BigCode Open RAIL-M v1.0", "bigcode-openrail-m"),
    ("BigCode OpenRail-M", "bigcode-openrail-m"), ("BigCode Open Rail-M", "bigcode-openrail-m"),
    ("AI2 ImpACT", "AI2-ImpACT"), ("AI2 ImpACT License - Low Risk", "AI2-ImpACT-LR"),
    ("AI2 ImpACT License - Medium Risk", "AI2-ImpACT-MR"), ("AI2 ImpACT License - High Risk", "AI2-ImpACT-HR"),
    ("BigScience RAIL v1.0", "bigscience-bloom-rail-1.0"), ("Fair AI Public License 1.0-SD", "faipl-1.0-sd"),
    ("Llama 3.1 Community License Agreement", "llama3.1"), ("Llama 3.3 Community License Agreement", "llama3.3"),
    ("Gemma", "gemma"), ("Googles Terms and Conditions", "Google"), ("Cohere Terms of Use", "Cohere"),
    ("Stability Community License", "stabilityai-community"), ("Stability AI Community", "stabilityai-community"),
    ("StabilityAI Non-Commercial Research Community License", "stabilityai-nc-research-community"),
    ("Jamba Open Model License", "Jamba-Open-Model-License"), ("Databricks Open Model License", "databricks-open-model-license"),
    ("Tongyi Qianwen", "tongyi-qianwen"), ("Mistral AI Non-Production License", "Mistral-Non-Production-License"),
    ("Mistral Research License", "Mistral-Research-License"), ("Mistral Commercial License", "Mistral-Commercial-License"),
    ("Coqui Public Model", "Coqui-Public-Model-License"), ("Aleph Open", "Open-Aleph-License"),
    ("Writer open model", "Writer-Open-Model-License"), ("Writer open model license", "Writer-Open-Model-License"),
    ("Cambrian Open License", "Cambrian-Open-License"), ("WTFPL", "WTFPL"), ("Modified MIT License", "MIT-modified"),
    ("Noncommercial Use License", "Non-Commercial"), ("GPLv3", "GPL-3.0"), ("LLaMa License", "llama1"),
    ("OPT-175B License", "OPT-175B"), ("OPT-IML 175B License", "OPT-IML-175B"),
    ("SA-1B Dataset Research License", "SA-1B-Research-License"), ("WebVid Dataset Terms", "WebVid-Dataset-Terms"),
    ("GLM-130B License", "GLM-130B-License"), ("Conceptual Captions License", "Conceptual-Captions-License"),
    ("The Stack Terms of Use", "bigcode-the-stack-terms"), ("Apple Sample Code License", "apple-sample-code-license"),
])
def test_ecosystem_graphs_names(name, lid):
    assert LIC.lookup(name).id == lid and LIC.lookup(name).known


def test_ecosystem_graphs_terms():
    rail = LIC.lookup("BigCode OpenRAIL-M")  # Attachment A: use restrictions, passed on; commercial allowed
    assert {"medical-advice", "law-enforcement", "exploitation-of-minors", "defamation"} <= set(rail.deny)
    assert "commercial" not in rail.deny and rail.duties == ("attribution", "pass-on-restrictions")
    for tier in ("AI2-ImpACT", "AI2-ImpACT-LR", "AI2-ImpACT-MR", "AI2-ImpACT-HR"):  # same use restrictions, derivatives shared
        lic = LIC.lookup(tier)
        assert {"military", "surveillance", "law-enforcement", "automated-decision-making"} <= set(lic.deny), tier
        assert set(lic.duties) == {"attribution", "share-alike", "pass-on-restrictions"}, tier
    assert "redistribution" in LIC.lookup("AI2-ImpACT-HR").deny and "redistribution" not in LIC.lookup("AI2-ImpACT-MR").deny
    for vendor in ("OpenAI", "Anthropic", "Google", "Cohere", "tongyi-qianwen", "databricks-open-model-license"):
        assert "competing-model-development" in LIC.lookup(vendor).deny, vendor
    # a revenue threshold the registry cannot check is a condition the user attests
    (c,) = LIC.lookup("stabilityai-community").conditions
    assert (c.id, c.use) == ("stability-under-1m-revenue", "commercial") and "commercial" not in LIC.lookup("stabilityai-community").deny
    (c,) = LIC.lookup("Jamba-Open-Model-License").conditions
    assert (c.id, c.use) == ("jamba-revenue-threshold", "commercial") and "commercial" not in LIC.lookup("Jamba-Open-Model-License").deny
    for lid in ("Writer-Open-Model-License", "Coqui-Public-Model-License",
                "Mistral-Non-Production-License", "Mistral-Commercial-License", "Open-Aleph-License"):
        assert "commercial" in LIC.lookup(lid).deny, lid
    for lid in ("llama1", "OPT-175B", "OPT-IML-175B", "SA-1B-Research-License", "WebVid-Dataset-Terms", "Mistral-Research-License", "GLM-130B-License"):
        assert LIC.lookup(lid).allow == ("research",), lid
    for lid in ("WTFPL", "Conceptual-Captions-License", "Cambrian-Open-License", "apple-sample-code-license", "MIT-modified"):
        assert LIC.lookup(lid).deny == () and LIC.lookup(lid).allow == (), lid
    assert LIC.lookup("Cambrian-Open-License").duties == ("attribution", "share-alike")


def test_a_users_licence_file_adds_and_overrides(tmp_path):
    """`--licenses FILE`: an unknown licence becomes known with the terms the file gives; a shipped name may be
    remapped; a bad entry is one line naming file:line and the field."""
    from charter.errors import InvalidInput

    f = tmp_path / "mine.yaml"
    f.write_text("licenses:\n  - id: llama3.2\n    names: [Llama 3.2 Community License]\n    deny: [military]\n"
                 "  - id: my-mit\n    names: [MIT]\n    deny: [surveillance]\n")
    t = licenses_mod.load(TAX, extra=(f,))
    lic = t.lookup("Llama 3.2 Community License")
    assert lic.known and lic.id == "llama3.2" and lic.deny == ("military",)
    assert t.lookup("MIT").id == "my-mit"  # remapped by the user's file
    assert licenses_mod.load(TAX).lookup("MIT").id != "my-mit"  # the shipped table is untouched
    for body, where, field in [
        ("licenses:\n  - id: x\n    deny: [comercial]\n", ":3", "licenses[0].deny"),
        ("licenses:\n  - {deny: [commercial]}\n", ":2", "licenses[0].id"),
        ("licenses:\n  - id: x\n    colour: red\n", ":3", "licenses[0].colour"),
        ("licenses:\n  - id: x\n    deny: commercial\n", ":3", "licenses[0].deny"),
        ("licenses: 5\n", "", None),
        ("licenses:\n  - id: a\n    names: [zz]\n  - id: b\n    names: [zz]\n", ":4", None),
    ]:
        f.write_text(body)
        with pytest.raises(InvalidInput) as e:
            licenses_mod.load(TAX, extra=(f,))
        assert e.value.where.startswith(str(f)) and e.value.where.endswith(where) and (field is None or e.value.field == field), (body, e.value)
