"""SPDX 3.0.1: written with spdx-python-model, checked by pyshacl against shapes from the bindings."""

from __future__ import annotations

import json

from charter.core import vocab
from charter.exports import export
from charter.exports.spdx3 import read, validate

SPDX = "https://spdx.org/rdf/3.0.1/terms/"


def _doc(demo, ref):
    return json.loads(export(demo, ref, "spdx3", lineage=True))


def test_lineage_document_conforms(demo):
    text = export(demo, "application/community-translate@1", "spdx3", lineage=True)
    assert validate(text) is None
    doc = json.loads(text)
    assert doc["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    types = {o["spdxId"]: o["type"] for o in doc["@graph"] if "spdxId" in o}
    assert types[vocab.asset_iri("model/community-translator@1")] == "ai_AIPackage"
    assert types[vocab.asset_iri("dataset/community-mt@1")] == "dataset_DatasetPackage"
    assert types[vocab.asset_iri("application/community-translate@1")] == "software_Package"
    rels = {(r["from"], r["relationshipType"], tuple(r["to"])) for r in doc["@graph"] if r.get("type") == "Relationship"}
    tr = vocab.asset_iri("model/community-translator@1")
    assert (tr, "trainedOn", (vocab.asset_iri("dataset/community-mt@1"),)) in rels
    assert (tr, "descendantOf", (vocab.asset_iri("model/open-lm@1"),)) in rels
    assert any(r[0] == tr and r[1] == "hasDeclaredLicense" for r in rels)
    (sd,) = [x for x in doc["@graph"] if x.get("type") == "SpdxDocument"]
    assert sd["rootElement"] == [vocab.asset_iri("application/community-translate@1")]


def test_tested_on_uses_licence_refs_and_extension(demo):
    doc = _doc(demo, "model/volunteer-lm@1")
    assert validate(json.dumps(doc)) is None
    objs = read(json.dumps(doc))
    from spdx_python_model import v3_0_1 as s

    rels = [o for o in objs.foreach() if isinstance(o, s.Relationship)]
    kinds = {(str(r.relationshipType).rsplit("/", 1)[-1], r.to[0]._id if not isinstance(r.to[0], str) else r.to[0]) for r in rels}
    assert ("testedOn", vocab.asset_iri("dataset/face-photos@1")) in kinds
    assert ("descendantOf", vocab.asset_iri("compute/alice-workstation@1")) in kinds
    model = next(o for o in objs.foreach() if isinstance(o, s.ai_AIPackage))
    assert [(m.key, m.value) for m in model.ai_metric] == [("bbq.amb_bias_score", "0.02")]
    exprs = {o.simplelicensing_licenseExpression for o in objs.foreach() if isinstance(o, s.simplelicensing_LicenseExpression)}
    assert {"Apache-2.0", "CC-BY-4.0"} <= exprs


def test_non_spdx_licence_becomes_a_licence_ref(demo):
    doc = _doc(demo, "dataset/community-emails@1")
    exprs = [o["simplelicensing_licenseExpression"] for o in doc["@graph"] if o.get("type") == "simplelicensing_LicenseExpression"]
    assert exprs == ["LicenseRef-proprietary"]
    pkg = next(o for o in doc["@graph"] if o.get("type") == "dataset_DatasetPackage")
    entries = [(e["extension_cdxPropName"], e["extension_cdxPropValue"]) for x in pkg["extension"] for e in x["extension_cdxProperty"]]
    assert (vocab.P_LICENSE, "proprietary") in entries and (vocab.P_DENY, "machine-translation") in entries


def test_shapes_catch_violations(demo):
    doc = _doc(demo, "model/photo-tagger@1")
    broken = json.loads(json.dumps(doc))
    next(o for o in broken["@graph"] if o.get("type") == "dataset_DatasetPackage").pop("dataset_datasetType")
    assert "MinCount" in validate(json.dumps(broken))
    broken = json.loads(json.dumps(doc))
    next(o for o in broken["@graph"] if o.get("type") == "Relationship")["to"] = []
    assert "MinCount" in validate(json.dumps(broken))
    broken = json.loads(json.dumps(doc))
    next(o for o in broken["@graph"] if o.get("type") == "Relationship")["relationshipType"] = "likes"
    assert validate(json.dumps(broken)).startswith("spdx-python-model:")


def test_every_kind_of_asset_conforms(demo):
    ids = ["dataset/community-mt@1", "dataset/face-photos@1", "model/yuchiwang02/llama-3.2-1b-delaysentinel@hf", "model/llama@eg",
           "application/llama-helper@1", "compute/alice-workstation@1", "application/cv-ranker@1"]
    for a in map(demo.get, ids):
        text = export(demo, a.id, "spdx3")  # parents outside the document: named in its imports (ExternalMap)
        assert validate(text) is None, a.id
        if a.derived_from:
            (sd,) = [x for x in json.loads(text)["@graph"] if x.get("type") == "SpdxDocument"]
            assert {m["externalSpdxId"] for m in sd["import"]} == {vocab.asset_iri(e.parent) for e in a.derived_from}


def test_the_vendored_model_is_the_published_one():
    import hashlib

    from charter.core.files import resource
    from charter.exports.spdx3 import official

    src = json.loads((resource("spdx3") / "SOURCE.json").read_text())
    data = (resource("spdx3") / "spdx-model.ttl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == src["sha256"] and src["path"] == "3.0.1/rdf/spdx-model.ttl"
    assert "Community Specification License 1.0" in (resource("spdx3") / "LICENSE").read_text()
    from rdflib.namespace import RDF, SH

    assert len(set(official().subjects(RDF.type, SH.NodeShape))) == 52  # counted in the file: 52 classes with shapes


def test_only_imported_elements_escape_the_class_check(demo):
    """A reference to an element the document imports passes; the same reference to an IRI that is
    neither in the document nor imported is a class violation."""
    text = export(demo, "dataset/community-mt@1", "spdx3")
    assert validate(text) is None
    doc = json.loads(text)
    rel = next(o for o in doc["@graph"] if o.get("type") == "Relationship" and o["relationshipType"] == "descendantOf")
    rel["to"] = ["https://example.org/nowhere"]
    report = validate(json.dumps(doc))
    assert report is not None and "ClassConstraintComponent" in report and "https://example.org/nowhere" in report
