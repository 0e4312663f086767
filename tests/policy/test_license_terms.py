"""The model licences' terms as the licence table encodes them (issue 14): for each, one request the terms allow and one
they deny, decided by decide() over a one-asset lineage, with the rule, use and clause that decide it."""

from __future__ import annotations

import re

import pytest

from charter.core import uses as uses_mod
from charter.core.assets import Asset
from charter.core.files import load_document, resource
from charter.policy import licenses as licenses_mod
from charter.policy.decide import Request, Upstream, decide

TAX = uses_mod.load()
LIC = licenses_mod.load(TAX)
DOC = load_document(resource("licenses.yaml"))["licenses"]


def one(licence: str, uses: tuple[str, ...], attest: tuple[str, ...] = ()):
    m = Asset(id="model/m@1", kind="model", name="m", version="1", licenses=(licence,))
    return decide(Request(m.id, uses, attest), [Upstream(m, (m.id,))], TAX, LIC)


def cites(lid: str) -> dict[str, str]:
    return dict(LIC.lookup(lid).cites)


ALLOWED = [  # (licence, uses, attested conditions)
    ("llama2", ("inference", "commercial"), ("llama2-700m-mau",)),
    ("llama3", ("fine-tuning", "research"), ()),
    ("llama3.1", ("distillation", "competing-model-development"), ()),  # 3.1+: outputs may train other models
    ("llama3.2", ("medical-advice",), ("llama32-licensed-medical",)),
    ("llama3.3", ("inference", "text-generation", "research"), ()),
    ("llama4", ("fine-tuning", "commercial"), ("llama4-700m-mau",)),
    ("gemma", ("distillation", "commercial", "competing-model-development"), ()),  # no threshold, no competition clause
    ("grok2-community", ("fine-tuning", "research"), ()),
    ("deepfloyd-if-license", ("image-generation", "research"), ()),
    ("apple-ascl", ("fine-tuning", "commercial"), ()),
    ("apple-amlr", ("fine-tuning", "academic-research"), ()),
    ("fair-noncommercial-research-license", ("evaluation", "research"), ()),
    ("bigscience-openrail-m", ("text-generation", "commercial"), ()),
    ("bigscience-bloom-rail-1.0", ("machine-translation", "commercial"), ()),
    ("bigcode-openrail-m", ("code-generation", "commercial"), ()),
    ("creativeml-openrail-m", ("image-generation", "commercial"), ()),
    ("openrail++", ("image-generation", "commercial"), ()),
    ("h-research", ("inference", "research"), ()),
    ("intel-research", ("evaluation", "research"), ()),
    ("openmdw-1.0", ("fine-tuning", "commercial"), ()),
    ("openmdw-1.1", ("redistribution", "commercial"), ()),
    ("stabilityai-community", ("image-generation", "commercial"), ("stability-under-1m-revenue",)),
    ("Jamba-Open-Model-License", ("inference", "commercial"), ("jamba-revenue-threshold",)),
]


@pytest.mark.parametrize("lic, uses, attest", ALLOWED, ids=[c[0] for c in ALLOWED])
def test_allowed(lic, uses, attest):
    assert LIC.lookup(lic).known
    d = one(lic, uses, attest)
    assert d.allowed, [r.detail for r in d.reasons]
    assert sorted(c.condition for c in d.conditions) == sorted(set(attest))  # each attested condition applied, recorded


DENIED = [  # (licence, uses, (rule, use, cite))
    ("llama2", ("competing-model-development",), ("deny", "competing-model-development", "Llama 2 Community License Agreement §1.b.v")),
    ("llama3", ("military",), ("deny", "military", "Meta Llama 3 Acceptable Use Policy §2.a")),
    ("llama3.1", ("weapons-development",), ("deny", "weapons-development", "Llama 3.1 Acceptable Use Policy §2.b")),
    ("llama3.2", ("medical-advice",), ("condition", "medical-advice", "Llama 3.2 Acceptable Use Policy §1.d")),
    ("llama3.3", ("safety-circumvention",), ("deny", "safety-circumvention", "Llama 3.3 Acceptable Use Policy §1.h")),
    ("llama4", ("inference", "commercial"), ("condition", "commercial", "Llama 4 Community License Agreement §2")),
    ("gemma", ("sexual-content",), ("deny", "sexual-content", "Gemma Prohibited Use Policy §4")),
    ("grok2-community", ("competing-model-development",), ("deny", "competing-model-development", None)),
    ("deepfloyd-if-license", ("surveillance", "research"), ("deny", "surveillance", "DeepFloyd IF License Agreement §2.a(iii)")),
    ("apple-amlr", ("inference", "commercial"), ("deny", "commercial", None)),
    ("fair-noncommercial-research-license", ("commercial",), ("deny", "commercial", "FAIR Noncommercial Research License §1.b.i")),
    ("bigscience-openrail-m", ("undisclosed-ai-content",), ("deny", "undisclosed-ai-content", "BigScience OpenRAIL-M Attachment A (e)")),
    ("bigscience-bloom-rail-1.0", ("impersonation",), ("deny", "impersonation", None)),
    ("bigcode-openrail-m", ("medical-advice",), ("deny", "medical-advice", None)),
    ("creativeml-openrail-m", ("law-enforcement",), ("deny", "law-enforcement", "CreativeML OpenRAIL-M and Open RAIL++-M Attachment A, item 11")),
    ("openrail++", ("medical-advice",), ("deny", "medical-advice", "")),
    ("h-research", ("commercial",), ("deny", "commercial", None)),
    ("intel-research", ("personal",), ("allow-only", "personal", None)),
    ("stabilityai-community", ("commercial",), ("condition", "commercial", "Stability AI Community License Agreement §III")),
    ("Jamba-Open-Model-License", ("commercial",), ("condition", "commercial", None)),
]


@pytest.mark.parametrize("lic, uses, expect", DENIED, ids=[c[0] for c in DENIED])
def test_denied(lic, uses, expect):
    d = one(lic, uses)
    assert not d.allowed
    rule, use, cite = expect
    hits = [r for r in d.reasons if (r.rule, r.use) == (rule, use)]
    assert hits, [(r.rule, r.use) for r in d.reasons]
    assert all(r.source == f"license:{LIC.lookup(lic).id}" for r in hits)
    if cite is None:  # a licence read from secondary sources: its cite names the clause, not a verified number
        assert all(r.cite for r in hits)
    else:
        assert cite in [r.cite for r in hits], [r.cite for r in hits]
    if rule == "condition":
        (cid,) = hits[0].entries
        assert f"--attest {cid}" in hits[0].detail and one(lic, uses, (cid,)).allowed


def test_permissive_model_licences_restrict_no_use():
    for name in ("apple-ascl", "openmdw-1.0", "openmdw-1.1"):
        lic = LIC.lookup(name)
        assert lic.deny == () and lic.allow == () and lic.conditions == (), name
        assert "attribution" in lic.duties, name
        assert one(name, ("fine-tuning", "military", "commercial", "competing-model-development")).allowed, name


def test_llama_versions_differ_where_the_texts_do():
    """Llama 2 and 3 forbid improving other LLMs with the materials or outputs (§1.b.v); 3.1 onwards drop that and ask
    for the "Llama" name prefix instead; the 3.2+ AUPs add the safety-circumvention item (1.h)."""
    for v in ("llama2", "llama3"):
        assert cites(v)["competing-model-development"].endswith("§1.b.v"), v
    for v in ("llama3.1", "llama3.2", "llama3.3", "llama4"):
        lic = LIC.lookup(v)
        assert "competing-model-development" not in lic.deny, v
        (naming,) = [t for t in lic.duty_terms if t.id == "naming"]
        assert '"Llama"' in naming.text and naming.cite.endswith("§1.b.i"), v
        assert one(v, ("distillation", "competing-model-development")).allowed, v
    assert "naming" not in LIC.lookup("llama2").duties and "notice" in LIC.lookup("llama2").duties
    assert "safety-circumvention" not in LIC.lookup("llama3.1").deny
    for v in ("llama3.2", "llama3.3", "llama4"):
        assert "European Union" in LIC.lookup(v).description, v  # multimodal models: the EU exclusion, recorded
        assert LIC.lookup(v).document and LIC.lookup(v).url.startswith("https://"), v


def test_a_narrower_clause_is_cited_for_a_narrower_use():
    """weapons-development falls under military: both entries deny it, and the closest one (the AUP's own item) is cited."""
    d = one("llama3.3", ("weapons-development",))
    assert {r.cite for r in d.reasons} == {"Llama 3.3 Acceptable Use Policy §2.b"}
    d = one("gemma", ("illegal-drugs",))
    assert "Gemma Prohibited Use Policy §2.a.ii" in {r.cite for r in d.reasons}


def test_unlicensed_practice_is_a_condition_not_a_denial():
    """The AUPs forbid the unlicensed practice of medicine, law and finance, not the subjects."""
    for v in ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma"):
        lic = LIC.lookup(v)
        assert not {"medical-advice", "legal-advice", "financial-advice"} & set(lic.deny), v
        by_use = {c.use: c for c in lic.conditions}
        assert {"medical-advice", "legal-advice", "financial-advice"} <= set(by_use), v
        d = one(v, ("legal-advice",), (by_use["legal-advice"].id,))
        assert d.allowed and d.conditions[0].cite == by_use["legal-advice"].cite, v
    # the RAIL licences do forbid medical advice outright
    for v in ("bigscience-openrail-m", "creativeml-openrail-m", "bigcode-openrail-m", "bigscience-bloom-rail-1.0"):
        assert "medical-advice" in LIC.lookup(v).deny, v


def test_commercial_thresholds_are_conditions():
    for v, cid in [("llama2", "llama2-700m-mau"), ("llama3", "llama3-700m-mau"), ("llama3.1", "llama31-700m-mau"),
                   ("llama3.2", "llama32-700m-mau"), ("llama3.3", "llama33-700m-mau"), ("llama4", "llama4-700m-mau"),
                   ("stabilityai-community", "stability-under-1m-revenue"), ("Jamba-Open-Model-License", "jamba-revenue-threshold"),
                   ("grok2-community", "grok2-commercial-terms")]:
        lic = LIC.lookup(v)
        assert "commercial" not in lic.deny, v
        assert [c.id for c in lic.conditions if c.use == "commercial"] == [cid], v
    assert not [c for c in LIC.lookup("gemma").conditions if c.use == "commercial"]  # Gemma has no threshold


def test_condition_ids_are_unique_and_well_formed():
    ids = [c["id"] for e in DOC for c in e.get("conditions") or []]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    assert all(len(v) == 1 for v in LIC.conditions.values())


def test_model_licence_clauses_all_cite():
    """Every deny, allow and condition of the clause-by-clause entries names its clause."""
    for lid in ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma", "grok2-community",
                "deepfloyd-if-license", "apple-amlr", "fair-noncommercial-research-license", "h-research", "intel-research",
                "bigscience-openrail-m", "bigcode-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
                "stabilityai-community", "Jamba-Open-Model-License"):
        lic = LIC.lookup(lid)
        for u in lic.deny + lic.allow:
            assert lic.cite(u), (lid, u)
        assert all(c.cite and c.text for c in lic.conditions), lid


def test_secondary_sources_are_said_so():
    for lid in ("grok2-community", "h-research", "intel-research", "openmdw-1.0", "openmdw-1.1", "bigcode-openrail-m",
                "bigscience-bloom-rail-1.0", "Jamba-Open-Model-License", "stabilityai-community"):
        assert "(encoded from secondary sources" in LIC.lookup(lid).description, lid


def test_oss_licences_cite_their_duty_clauses():
    for lid, duties in [("EPL-2.0", {"attribution", "share-alike"}), ("EUPL-1.2", {"attribution", "share-alike"}),
                        ("MS-PL", {"attribution", "share-alike"}), ("OSL-3.0", {"attribution", "share-alike"}),
                        ("OFL-1.1", {"attribution", "share-alike", "naming"}), ("ECL-2.0", {"attribution"}),
                        ("PostgreSQL", {"attribution"}), ("NCSA", {"attribution"}), ("BSD-3-Clause-Clear", {"attribution"}),
                        ("Etalab-2.0", {"attribution"}), ("LPPL-1.3c", {"attribution", "naming"}), ("LGPL-LR", {"attribution", "share-alike"})]:
        lic = LIC.lookup(lid)
        assert set(lic.duties) == duties and lic.deny == () and lic.allow == (), lid
        assert all(t.cite for t in lic.duty_terms), lid
    assert LIC.lookup("WTFPL").duties == ()
    assert one("cc-by-nc-sa-2.0", ("commercial",)).reasons[0].cite == "CC BY-NC-SA 2.0 §4(c)"
