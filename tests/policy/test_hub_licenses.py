"""Every licence identifier the Hugging Face Hub offers a model card (resources/hf_licenses.txt) is in the licence
table, and that list is the hub-docs table (../shared/data/hf-licenses/repositories-licenses.md) where it is present."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from charter.core import uses as uses_mod
from charter.core.files import resource
from charter.policy import licenses as licenses_mod

TAX = uses_mod.load()
LIC = licenses_mod.load(TAX)
SHARED_MD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hf-licenses" / "repositories-licenses.md"


def hub_ids() -> list[str]:
    lines = Path(resource("hf_licenses.txt")).read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.startswith("#")]


def test_the_list_has_the_83_identifiers_once_each():
    ids = hub_ids()
    assert len(ids) == 83 and len(set(ids)) == 83
    assert {"apache-2.0", "llama3.2", "llama4", "gemma", "openrail++", "unknown", "other"} <= set(ids)


def test_the_list_names_its_source():
    head = Path(resource("hf_licenses.txt")).read_text(encoding="utf-8").splitlines()[:4]
    assert any("repositories-licenses.md" in h for h in head) and any("Apache-2.0" in h for h in head)


@pytest.mark.skipif(not SHARED_MD.exists(), reason="../shared (the hub-docs copy) is not present in this checkout")
def test_the_list_is_the_hub_docs_table():
    """Column 2 of the table between the region markers, in order."""
    md = SHARED_MD.read_text(encoding="utf-8")
    ids = re.findall(r"^\|[^|\n]*\|\s*`([^`]+)`\s*\|", md, flags=re.M)
    assert ids == hub_ids()


@pytest.mark.parametrize("hub_id", hub_ids())
def test_every_hub_identifier_is_known(hub_id):
    lic = LIC.lookup(hub_id)
    assert lic.known, f"{hub_id} is not in the licence table"


@pytest.mark.parametrize("hub_id", ["unknown", "other"])
def test_unknown_and_other_mean_no_usable_licence(hub_id):
    assert LIC.lookup(hub_id).id == "unspecified"


@pytest.mark.parametrize("hub_id, lid", [
    ("llama3.2", "llama3.2"), ("llama3.3", "llama3.3"), ("llama4", "llama4"), ("grok2-community", "grok2-community"),
    ("apple-ascl", "apple-sample-code-license"), ("apple-amlr", "apple-amlr"), ("deepfloyd-if-license", "deepfloyd-if-license"),
    ("fair-noncommercial-research-license", "fair-noncommercial-research-license"), ("h-research", "h-research"),
    ("intel-research", "intel-research"), ("bigcode-openrail-m", "bigcode-openrail-m"), ("openmdw-1.0", "openmdw-1.0"),
    ("openmdw-1.1", "openmdw-1.1"), ("openrail++", "openrail"), ("openrail", "openrail"),
    ("cc", "CC"), ("gpl", "GPL"), ("lgpl", "LGPL"), ("gfdl", "GFDL"), ("bsd", "BSD"), ("odc-by", "ODC-By-1.0"), ("odbl", "ODbL-1.0"),
    ("bsd-3-clause-clear", "BSD-3-Clause-Clear"), ("cc-by-nc-sa-2.0", "CC-BY-NC-SA-2.0"), ("lgpl-lr", "LGPL-LR"),
    ("eupl-1.1", "EUPL-1.1"), ("eupl-1.2", "EUPL-1.2"), ("ofl-1.1", "OFL-1.1"), ("ncsa", "NCSA"), ("postgresql", "PostgreSQL"),
])
def test_hub_identifiers_land_on_the_right_entry(hub_id, lid):
    assert LIC.lookup(hub_id).id == lid


def test_family_identifiers_keep_what_every_member_shares():
    """`cc` may be an NC licence: commercial use is denied until the card names the licence; `gpl` and `lgpl` are copyleft
    in every version; `bsd` keeps notices in every variant."""
    assert "commercial" in LIC.lookup("cc").deny and "attribution" in LIC.lookup("cc").duties
    for fam in ("gpl", "lgpl", "gfdl"):
        assert {"attribution", "share-alike"} <= set(LIC.lookup(fam).duties) and LIC.lookup(fam).deny == (), fam
    assert LIC.lookup("bsd").duties == ("attribution",) and LIC.lookup("bsd").deny == ()
    assert LIC.lookup("BSD 3-Clause License").id == "BSD-3-Clause"  # a named variant stays its own entry
