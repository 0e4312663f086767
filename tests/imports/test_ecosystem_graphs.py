"""`charter.imports.ecosystem_graphs` on fixtures written in the ecosystem-graphs asset format."""

from __future__ import annotations

import shutil

import pytest

from charter.errors import InvalidInput
from charter.imports import Report
from charter.imports import ecosystem_graphs as eg
from tests.imports.conftest import EG, EG_REAL


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
    assert lic["model/opt@eg"] == ("OPT-175B",)  # {value: OPT-175B LICENSE}: research only
    assert r.to_json()["unmapped_licenses"] == []
    assert [(x.source, x.rule) for x in reg.check("model/opt@eg", ["fine-tuning", "commercial"]).reasons] == [
        ("uses.deny", "deny"), ("license:OPT-175B", "allow-only")]
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
    # phrases met in Ecosystem Graphs' prohibited_uses
    ('for language generation in harmful or deceitful settings', ["manipulation"]),
    ("Any purposes other than research.", ["commercial"]),
    ("Use by individuals or organizations with over $1M in annual revenue without obtaining an Enterprise License.", ["commercial"]),
    ("It should not be used for tasks that infringe on copyright laws.", ["illegal-activity"]),
    ("any professional health and medical purposes", ["medical-advice"]),
    ("Unfit for real-world deployment in the safety-critical medical domain.", ["medical-advice"]),
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
    assert r.report.skipped == []  # "a" has A's slug: imported under its own id, reported
    assert [(x["item"], x["asset"]) for x in r.report.renamed] == [("a", "model/a-x@eg")]
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


# --- the real Ecosystem Graphs (tests/imports/fixtures/ecosystem-graphs-real, see SOURCE.md) ---


@pytest.fixture
def real(memreg):
    r = eg.load(EG_REAL, memreg.licenses, memreg.taxonomy)
    memreg.add(r.assets, r.sources)
    return memreg, r


def test_real_slug_collision_gets_its_own_id(real):
    """"Command R" and "Command R+" both slug to command-r: each entry is imported, the one
    whose name the slug spells keeps it, the other spells its '+', and the report says so."""
    reg, r = real
    assert len(r.assets) == r.report.stats["coverage"]["entries"] == 14 and r.report.skipped == []
    ids = {a.notes["name"]: a.id for a in r.assets if a.notes["file"] == "cohere.yaml"}
    assert ids == {"Command R": "model/command-r@eg", "Command R+": "model/command-r-plus@eg",
                   "Cohere Chat Endpoint": "application/cohere-chat-endpoint@eg"}
    assert r.report.renamed[0] == {
        "item": "Command R+", "asset": "model/command-r-plus@eg", "where": f"{EG_REAL / 'cohere.yaml'}:17",
        "reason": f"'Command R' ({EG_REAL / 'cohere.yaml'}:2) has the same slug and keeps model/command-r@eg"}
    # the endpoint names both models; each link reaches its own model
    assert [e.parent for e in reg.get("application/cohere-chat-endpoint@eg").derived_from] == [
        "model/command-r@eg", "model/command-r-plus@eg"]


def test_real_same_name_in_two_organisations_files(real):
    """Two "GPT-4o" entries (openai.yaml, openx.yaml) and two different models named
    "Dragonfly" (OpenAI's and Together's): every entry is imported; the first by file name
    keeps the plain id, the other takes its file's name; a dependency prefers its own file."""
    reg, r = real
    assert [(x["item"], x["asset"]) for x in r.report.renamed] == [
        ("Command R+", "model/command-r-plus@eg"), ("GPT-4o", "model/gpt-4o-openx@eg"), ("Dragonfly", "model/dragonfly-together@eg")]
    assert reg.get("model/gpt-4o-openx@eg").notes["file"] == "openx.yaml"
    assert reg.get("model/dragonfly-together@eg").notes["eg"]["organization"] == "Together"
    assert [(e.parent, e.relation) for e in reg.get("model/dragonfly-together@eg").derived_from] == [("model/llama@eg", "fine-tuned-from")]
    assert [e.parent for e in reg.get("application/dragonfly-api@eg").derived_from] == ["model/dragonfly@eg"]
    assert r.report.stats["dependencies_matched_loosely"] == [{
        "asset": "application/dragonfly-api@eg", "dependency": "Dragonfly", "resolved": "model/dragonfly@eg",
        "how": "2 assets have this name: in the same file"}]


def test_ids_do_not_depend_on_file_order(memreg, tmp_path):
    """The entry that keeps a shared slug is chosen by name, not by which file is read first."""
    cohere = (EG_REAL / "cohere.yaml").read_text().split("- type: ")
    (tmp_path / "a.yaml").write_text("- type: " + cohere[2])  # Command R+ first
    (tmp_path / "b.yaml").write_text("- type: " + cohere[1])
    r = eg.load(tmp_path, memreg.licenses, memreg.taxonomy)
    assert {a.notes["name"]: a.id for a in r.assets} == {"Command R+": "model/command-r-plus@eg", "Command R": "model/command-r@eg"}
    entries = [("model", "X", "org.yaml", "org.yaml:1"), ("model", "X", "org.yaml", "org.yaml:9"), ("model", "X Org", "org.yaml", "org.yaml:5"),
               ("model", "X", "b.yaml", "b.yaml:3"), ("model", "Y+", "a.yaml", "a.yaml:1"), ("model", "Y", "c.yaml", "c.yaml:1"),
               ("dataset", "X", "org.yaml", "org.yaml:7")]
    # "X" in b.yaml comes first by file name and keeps x; org.yaml's two "X" cannot take x-org ("X Org" has it)
    expect = ["model/x-2@eg", "model/x-3@eg", "model/x-org@eg", "model/x@eg", "model/y-plus@eg", "model/y@eg", "dataset/x@eg"]
    for perm in (entries, entries[::-1], entries[3:] + entries[:3]):
        got = dict(zip(perm, eg._assign_ids(perm, "eg", Report("ecosystem-graphs", ""))))
        assert [got[e] for e in entries] == expect


def test_real_licence_strings(real):
    reg, r = real
    lic = {a.id: a.licenses for a in r.assets}
    # the weights' licence is unknown: it still counts (the code's Apache 2.0 alone would allow commercial use)
    assert lic["model/palm-saycan@eg"] == ("unspecified", "Apache-2.0")
    assert [x.source for x in reg.check("model/palm-saycan@eg", ["commercial"]).reasons] == ["license:unspecified"]
    assert lic["model/llama@eg"] == ("llama1", "GPL-3.0")  # "LLaMa License (model weights), GPLv3 (code)"
    assert lic["model/santacoder@eg"] == ("bigcode-openrail-m",)
    assert not reg.check("model/santacoder@eg", ["medical-advice"]).allowed and reg.check("model/santacoder@eg", ["commercial"]).allowed
    assert lic["dataset/dolma@eg"] == ("AI2-ImpACT",)
    assert not reg.check("dataset/dolma@eg", ["military"]).allowed
    assert lic["application/cohere-chat-endpoint@eg"] == ("Cohere",)  # "Limited use license to Cohere platform users [[Terms of Use]](…)"
    assert lic["model/command-r-plus@eg"] == ("CC-BY-NC-4.0",)
    assert lic["model/yi@eg"] == () and lic["application/wordtune@eg"] == ("Wordtune License",)
    assert reg.get("model/llama@eg").notes["license_mapped"] == {
        "text": "LLaMa License (model weights), GPLv3 (code)", "as": ["llama1", "GPL-3.0"], "class": "named",
        "why": "several licences named: each one counts"}


def test_real_coverage(real):
    _, r = real
    assert r.report.stats["coverage"] == {
        "entries": 14, "imported": 14, "renamed": 3,
        "licenses": {
            "strings": 9, "strings_mapped": 7, "entries": 14, "entries_mapped": 12, "entries_without_license": 0,
            "by_class": {"named": {"strings": 6, "entries": 7}, "none": {"strings": 1, "entries": 5},
                         "unnamed": {"strings": 1, "entries": 1}, "unmapped": {"strings": 1, "entries": 1}},
            "not_mapped": [{"license": "Wordtune License", "class": "unmapped", "count": 1},
                           {"license": "custom", "class": "unnamed", "count": 1}],
        },
        # Command R, Command R+ (harassment, deception, commercial), the chat endpoint ("deceit"),
        # GPT-4o (discrimination) match; SantaCoder's "See BigCode Open RAIL-M license and FAQ" does not
        "prohibited_uses": {"texts": 5, "matched": 4},
        "dependencies": {"resolved": 4, "dangling": 13, "dangling_names": 13},
    }


def test_value_without_value_is_missing(memreg, tmp_path):
    """`license: {explanation: unknown}` (anthropic.yaml, openai.yaml) has no licence, not the licence "{'explanation': ...}"."""
    (tmp_path / "anthropic.yaml").write_text("- {type: model, name: Anthropic RLHF models, license: {explanation: unknown}, modality: {}}\n")
    r = eg.load(tmp_path, memreg.licenses, memreg.taxonomy)
    assert r.assets[0].licenses == () and r.report.unmapped_licenses == {}
    assert r.report.stats["coverage"]["licenses"]["entries_without_license"] == 1
