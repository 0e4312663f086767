"""`charter.imports.ecosystem_graphs` on fixtures written in the ecosystem-graphs asset format."""

from __future__ import annotations

import shutil

import pytest

from charter.errors import InvalidInput
from charter.imports import ecosystem_graphs as eg
from tests.imports.conftest import EG


@pytest.fixture
def imported(memreg):
    r = eg.load(EG, memreg.licenses, memreg.taxonomy)
    memreg.add(r.assets, r.sources)
    return memreg, r


def test_assets_and_relations(imported):
    _reg, r = imported
    assert r.to_json()["assets"] == {"application": 3, "dataset": 5, "model": 4}
    links = {(a.id, e.parent, e.relation) for a in r.assets for e in a.derived_from}
    assert links == {
        ("dataset/lumenpix-400m@eg", "dataset/laion-5b@eg", "curated-from"),
        ("model/lumen-vision-encoder@eg", "dataset/lumenpix-400m@eg", "trained-on"),
        ("model/photon-tagger@eg", "model/lumen-vision-encoder@eg", "fine-tuned-from"),
        ("model/photon-tagger@eg", "dataset/photon-tag-set@eg", "trained-on"),
        ("application/photon-gallery@eg", "model/photon-tagger@eg", "deployed-from"),
        ("application/photon-door-camera@eg", "model/photon-tagger@eg", "deployed-from"),
        ("model/llama-2@eg", "dataset/llama-2-pretraining-corpus@eg", "trained-on"),
        ("application/helpdesk-copilot@eg", "model/llama-2@eg", "deployed-from"),  # "Llama 2" matched "LLaMA 2" loosely
        ("application/helpdesk-copilot@eg", "dataset/acme-tickets@eg", "deployed-from"),
    }
    assert r.report.stats["dependencies_matched_loosely"] == [
        {"asset": "application/helpdesk-copilot@eg", "dependency": "Llama 2", "resolved": "model/llama-2@eg", "how": "same name ignoring case and punctuation"}]


def test_dangling_dependencies_reported_rest_imported(imported):
    _, r = imported
    assert {(d["asset"], d["dependency"]) for d in r.report.dangling} == {
        ("application/helpdesk-copilot@eg", "GPT-4"),
        ("dataset/laion-5b@eg", "Common Crawl"),
        ("model/lumen-vision-encoder@eg", "CommonPool Captions"),
        ("model/opt@eg", "Pile-CC"),
        ("model/opt@eg", "PushShift Reddit"),
        ("application/photon-door-camera@eg", "Photon Cloud"),
    }
    d = next(d for d in r.report.dangling if d["dependency"] == "GPT-4")
    assert d["where"] == f"{EG / 'helpdesk.yaml'}:2"


def test_face_recognition_ban_reaches_every_downstream_asset(imported):
    reg, _ = imported
    enc = reg.get("model/lumen-vision-encoder@eg")
    assert enc.deny == ("face-recognition", "surveillance")
    assert enc.notes["eg"]["prohibited_uses"].startswith("The model must not be used for facial recognition")
    assert enc.notes["prohibited_uses_mapped"][0] == {"use": "face-recognition", "phrase": "facial recognition"}
    down = {h.asset for h in reg.trace(enc.id, down=True)}
    assert down == {"model/photon-tagger@eg", "application/photon-gallery@eg", "application/photon-door-camera@eg"}
    for aid in down:
        d = reg.check(aid, ["face-recognition"])
        assert not d.allowed
        assert [(x.asset, x.rule, x.source) for x in d.reasons] == [(enc.id, "deny", "uses.deny")]
        assert d.reasons[0].path[-1] == enc.id
    assert reg.check("application/photon-gallery@eg", ["classification"]).allowed  # tagging photos is fine
    assert not reg.check("application/photon-door-camera@eg", ["biometric-identification"]).allowed  # overlaps face-recognition


def test_licence_strings(imported):
    reg, r = imported
    lic = {a.id: a.licenses for a in r.assets}
    assert lic["model/lumen-vision-encoder@eg"] == ("Apache-2.0",)  # {value: Apache 2.0, explanation: ...}
    assert lic["model/photon-tagger@eg"] == ("MIT",)
    assert lic["model/llama-2@eg"] == ("llama2",)  # "LLaMA 2"
    assert lic["dataset/acme-tickets@eg"] == ("Apache-2.0", "CC-BY-SA-4.0")  # "Apache 2.0; CC BY-SA 4.0"
    for aid in ("dataset/llama-2-pretraining-corpus@eg",  # unknown
                "application/photon-gallery@eg",  # none
                "application/helpdesk-copilot@eg",  # custom
                "dataset/photon-tag-set@eg"):  # proprietary: someone else's terms we do not know
        assert lic[aid] == (), aid
    assert lic["model/opt@eg"] == ("OPT-175B LICENSE",)
    assert r.to_json()["unmapped_licenses"] == [{"license": "OPT-175B LICENSE", "count": 1, "assets": ["model/opt@eg"]}]
    assert [x.source for x in reg.check("model/opt@eg", ["fine-tuning", "commercial"]).reasons] == ["uses.deny", "license:OPT-175B LICENSE"]
    assert reg.get("dataset/photon-tag-set@eg").notes["license_mapped"]["text"] == "proprietary"


def test_prohibited_uses_mapping(imported):
    _, r = imported
    pu = r.report.stats["prohibited_uses"]
    assert {x["asset"]: x["uses"] for x in pu["mapped"]} == {
        "application/helpdesk-copilot@eg": ["medical-advice", "legal-advice"],
        "dataset/acme-tickets@eg": ["profiling"],
        "model/lumen-vision-encoder@eg": ["face-recognition", "surveillance"],
        "model/llama-2@eg": ["military", "harassment", "disinformation", "illegal-activity"],
        "model/opt@eg": ["commercial"],
    }
    assert [x["asset"] for x in pu["unmapped"]] == ["dataset/laion-5b@eg"]


@pytest.mark.parametrize("text, uses", [
    ("No face recognition.", ["face-recognition"]),
    ("Facial-recognition systems", ["face-recognition"]),
    ("biometric identification of people", ["biometric-identification"]),
    ("For non-commercial use only; no military applications", ["military"]),
    ("noncommercial research", []),
    ("Commercial use requires a separate licence", ["commercial"]),
    ("weapons development", ["military"]),
    ("providing medical advice", ["medical-advice"]),
    ("to harass others", ["harassment"]),
    ("surveillance of employees", ["surveillance"]),
    ("", []),
])
def test_phrase_table(taxonomy, text, uses):
    assert [m["use"] for m in eg.load_phrases(taxonomy).match(text)] == uses


def test_reimport_identical(memreg, imported):
    reg, _r = imported
    again = eg.load(EG, reg.licenses, reg.taxonomy)
    assert reg.add(again.assets, again.sources) == []


def test_dependency_resolved_from_registry(memreg, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(EG / "lumen.yaml", a)
    shutil.copy(EG / "photon.yaml", b)
    first = eg.load(a, memreg.licenses, memreg.taxonomy)
    memreg.add(first.assets, first.sources)
    resolve = lambda kind, name: next((x.id for x in memreg.store.find(kind=kind, name=name)), None)
    second = eg.load(b, memreg.licenses, memreg.taxonomy, resolve=resolve)
    memreg.add(second.assets, second.sources)
    assert not memreg.check("application/photon-door-camera@eg", ["face-recognition"]).allowed
    assert second.report.stats["dependencies_matched_loosely"][0]["how"] == "an asset already in the registry"


def test_duplicates_and_cycles(memreg, tmp_path):
    (tmp_path / "x.yaml").write_text(
        "- {type: model, name: A, license: MIT, dependencies: [B]}\n"
        "- {type: model, name: B, license: MIT, dependencies: [A]}\n"
        "- {type: model, name: a, license: MIT}\n"
        "- {type: dataset, name: C, license: MIT}\n"
        "- {type: model, name: C, license: MIT, dependencies: [C]}\n")
    r = eg.load(tmp_path, memreg.licenses, memreg.taxonomy)
    assert [s["item"] for s in r.report.skipped] == ["a"]  # same id as A
    assert [(d["asset"], d["dependency"]) for d in r.report.dangling] == [("model/b@eg", "model/a@eg")]
    assert "lineage cycle" in r.report.dangling[0]["reason"]
    memreg.add(r.assets, r.sources)  # no lineage cycle left
    # the model's dependency "C" cannot be itself, so it is the dataset of that name
    assert [(e.parent, e.relation) for e in memreg.get("model/c@eg").derived_from] == [("dataset/c@eg", "trained-on")]
    (tmp_path / "x.yaml").write_text("- {type: model, name: Solo, dependencies: [solo]}\n")
    r = eg.load(tmp_path, memreg.licenses, memreg.taxonomy)
    assert r.report.dangling[0]["reason"] == "an asset cannot depend on itself"


def test_bad_input_names_file_and_line(table, taxonomy, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "org.yaml").write_text("- type: model\n  name: X\n  license: [unclosed\n")
    with pytest.raises(InvalidInput) as e:
        eg.load(bad, table, taxonomy)
    assert e.value.where.startswith(f"{bad / 'org.yaml'}:") and "malformed YAML" in e.value.message
    (bad / "org.yaml").write_text("- type: model\n  name: X\n- type: paper\n  name: Y\n")
    with pytest.raises(InvalidInput) as e:
        eg.load(bad, table, taxonomy)
    assert (e.value.where, e.value.field, e.value.message) == (f"{bad / 'org.yaml'}:3", "[1].type", "unknown type 'paper'")
    (bad / "org.yaml").write_text("- type: model\n  description: no name\n")
    with pytest.raises(InvalidInput, match="missing field 'name'"):
        eg.load(bad, table, taxonomy)
    with pytest.raises(InvalidInput, match="directory not found"):
        eg.load(tmp_path / "nowhere", table, taxonomy)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match=r"no \*.yaml files"):
        eg.load(empty, table, taxonomy)


def test_non_asset_files_skipped(table, taxonomy, tmp_path):
    shutil.copy(EG / "laion.yaml", tmp_path)
    (tmp_path / "schemas.yaml").write_text("model: {fields: [name, type]}\n")
    r = eg.load(tmp_path, table, taxonomy)
    assert [a.id for a in r.assets] == ["dataset/laion-5b@eg"]
    assert r.report.skipped[0]["reason"] == "not an asset file (the top level is not a list)"


def test_assets_subfolder_is_found(table, taxonomy, tmp_path):
    shutil.copytree(EG, tmp_path / "assets")
    assert len(eg.load(tmp_path, table, taxonomy).assets) == 12
