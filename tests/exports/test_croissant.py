"""Croissant 1.1 + RAI for datasets: loaded back with mlcroissant, records and all."""

from __future__ import annotations

import json

import pytest

from charter.core import vocab
from charter.errors import UsageError
from charter.exports import export
from charter.exports.croissant import CROISSANT_1_1, load


def test_curated_dataset_loads_with_its_records(demo, tmp_path):
    text = export(demo, "dataset/community-mt@1", "croissant")
    p = tmp_path / "croissant.json"
    p.write_text(text)
    ds = load(p)
    md = ds.metadata
    assert md.name == "community-mt" and md.version == "1.0.0"
    a = demo.get("dataset/community-mt@1")
    n = sum(1 for rs in md.record_sets for _ in ds.records(rs.uuid))
    assert n == a.notes["curation"]["output"] > 0  # every kept record loads
    assert len(md.distribution) == len(a.data["digests"]) and md.distribution[0].sha256 == a.data["digests"][0]["sha256"]
    # RAI: the curation manifest's exclusions, the uses
    excluded = a.notes["curation"]["excluded"]
    assert sorted(md.data_preprocessing_protocol) == sorted(f"excluded {n} records: {r}" for r, n in excluded.items())
    assert "allowed: machine-translation" in md.data_use_cases
    doc = json.loads(text)
    assert doc["conformsTo"] == CROISSANT_1_1
    assert {(d["@id"], d["charter:relation"]) for d in doc["prov:wasDerivedFrom"]} == \
        {(vocab.asset_iri("dataset/community-messages@1"), "curated-from"), (vocab.asset_iri("dataset/public-domain-books@2"), "curated-from")}
    pol = doc["usageInfo"]
    assert pol["@type"] == "odrl:Set" and {x["odrl:action"]["@id"].rsplit("/", 1)[-1] for x in pol["odrl:permission"]} == {"machine-translation", "commercial"}


def test_denied_uses_with_their_sources_in_rai(demo, tmp_path):
    p = tmp_path / "c.json"
    p.write_text(export(demo, "dataset/community-emails@1", "croissant"))
    md = load(p).metadata
    assert "denied: machine-translation <- dataset/community-emails@1 (uses.deny)" in md.data_limitations


def test_only_datasets(demo):
    with pytest.raises(UsageError, match="Croissant describes datasets"):
        export(demo, "model/open-lm@1", "croissant")
