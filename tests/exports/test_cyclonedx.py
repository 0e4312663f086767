"""CycloneDX 1.6 ML-BOM: valid by the library's JsonStrictValidator, and what it carries."""

from __future__ import annotations

import json

from charter.core import vocab
from charter.exports import export
from charter.exports.cyclonedx import validate


def _props(c: dict) -> list[tuple[str, str]]:
    return [(p["name"], p["value"]) for p in c.get("properties", [])]


def test_lineage_bom_is_valid_and_carries_the_charter(demo):
    text = export(demo, "application/photo-search@1", "cyclonedx", lineage=True)
    assert validate(text) is None
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6" and doc["bomFormat"] == "CycloneDX"
    root = doc["metadata"]["component"]
    assert root["bom-ref"] == "application/photo-search@1" and root["type"] == "application"
    comps = {c["bom-ref"]: c for c in doc["components"]}
    assert set(comps) == {"model/photo-tagger@1", "model/vision-encoder@1", "dataset/face-photos@1", "dataset/public-domain-books@1"}
    enc = comps["model/vision-encoder@1"]
    assert enc["type"] == "machine-learning-model"
    assert enc["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert {(vocab.P_DENY, "biometric-identification"), (vocab.P_DENY, "surveillance")} <= set(_props(enc))
    tagger = comps["model/photo-tagger@1"]
    anc = {dict(_props(a))[vocab.P_ID]: dict(_props(a))[vocab.P_RELATION] for a in tagger["pedigree"]["ancestors"]}
    assert anc == {"model/vision-encoder@1": "fine-tuned-from", "dataset/face-photos@1": "evaluated-on"}
    # what the asked asset inherits, with the sources, is written for readers (informational; on its component only)
    assert (vocab.P_EFFECTIVE_DENY, "surveillance <- model/vision-encoder@1 (uses.deny)") in _props(root)
    assert not any(k == vocab.P_EFFECTIVE_DENY for k, _ in _props(tagger))
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert deps["model/photo-tagger@1"] == {"model/vision-encoder@1", "dataset/face-photos@1"}


def test_licences_requirements_evaluations_and_keys(demo):
    doc = json.loads(export(demo, "application/cv-ranker@1", "cyclonedx", lineage=True))
    assert validate(json.dumps(doc)) is None
    comps = {c["bom-ref"]: c for c in [doc["metadata"]["component"], *doc["components"]]}
    assert comps["application/cv-ranker@1"]["licenses"] == [{"license": {"name": "proprietary"}}]
    req = [json.loads(v) for k, v in _props(comps["application/cv-ranker@1"]) if k == vocab.P_REQUIRES]
    assert req == [{"use": "employment-decisions", "benchmark": "bbq", "metric": "amb_bias_score", "abs_max": 0.05, "min_n": 100}]
    ev = [json.loads(v) for k, v in _props(comps["model/volunteer-lm@1"]) if k == vocab.P_EVALUATION]
    assert ev[0]["benchmark"] == "bbq" and ev[0]["value"] == 0.02 and ev[0]["ci"] == [-0.01, 0.06] and ev[0]["n"] == 200
    alice = comps["compute/alice-workstation@1"]
    assert alice["type"] == "device" and "licenses" not in alice
    assert dict(_props(alice))[vocab.P_PUBLIC_KEY].startswith("ed25519:")


def test_spdx_expression_and_several_licences(demo):
    from charter.exports.cyclonedx import licences

    doc = json.loads(export(demo, "model/llama@eg", "cyclonedx"))
    got = doc["metadata"]["component"]["licenses"]
    assert sorted(got, key=json.dumps) == sorted([{"license": {"name": "llama1"}}, {"license": {"id": "GPL-3.0-only"}}], key=json.dumps)
    (e,) = licences(("MIT OR CC-BY-NC-4.0",))
    assert e.value == "MIT OR CC-BY-NC-4.0"  # a LicenseExpression
    (e,) = licences(("MIT", "CC-BY-NC-4.0"))  # several licences all apply
    assert e.value == "MIT AND CC-BY-NC-4.0"


def test_every_asset_of_the_demo_exports_valid(demo):
    for a in demo.store.find():
        assert validate(export(demo, a.id, "cyclonedx")) is None, a.id


def test_validator_catches_a_broken_bom(demo):
    doc = json.loads(export(demo, "model/vision-encoder@1", "cyclonedx"))
    doc["metadata"]["component"]["type"] = "neural-net"
    assert validate(json.dumps(doc)) is not None
