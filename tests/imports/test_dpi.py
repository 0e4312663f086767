"""`charter.imports.dpi` on the real Data Provenance snapshot (pinned counts, hand-checked
decisions) and on a small fixture (mapping rules, errors)."""

from __future__ import annotations

import json
import shutil

import pytest

from charter.errors import InvalidInput
from charter.imports import dpi
from charter.registry import Registry
from charter.store import open_store
from tests.imports.conftest import DPI, DPI_MINI, ROOT, needs_dpi

USES = ("commercial", "fine-tuning")

# Measured on the snapshot in ../shared (Data-Provenance-Collection @ ce6662d, 2025-03-25);
# docs/importers.md prints the same numbers (test_doc_prints_the_pinned_counts).
TEXT = {"files": 108, "datasets": 2310, "models": 57, "dangling": 1041}
COUNTS = {
    "dpi_own": 1118,  # DPI's default: its own annotation only
    "dpi_any": 1744,  # DPI's rule over all four licence sources: the most permissive source wins
    "charter": 658,  # Charter: every licence and the whole lineage count, the most restrictive wins
    "both": 643,
    "charter_only": 15,  # all of them carry OpenAI terms, which DPI classes NC and Charter reads narrowly
    "dpi_only_own_licence_denies": 577,
    "dpi_only_inferred_licence_denies": 435,
    "dpi_only_lineage_denies": 89,
}


# --- the real snapshot ----------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    if not (DPI / "data_summaries").is_dir():
        pytest.skip(f"the DPI snapshot is not at {DPI}")
    from charter.core import uses
    from charter.policy import licenses

    tax = uses.load()
    reg = Registry(open_store("memory:"), tax, licenses.load(tax))
    result = dpi.load(DPI, reg.licenses)
    reg.add(result.assets, result.sources)
    allowed = {a.id for a, _ in reg.ls(kind="dataset", allowed=list(USES))}
    return reg, result, allowed


@needs_dpi
def test_real_snapshot_counts(real):
    reg, result, _ = real
    r = result.to_json()
    assert r["files"] == TEXT["files"]
    assert r["assets"] == {"model": TEXT["models"], "dataset": TEXT["datasets"]}
    assert reg.store.count() == TEXT["datasets"] + TEXT["models"]
    assert len(r["dangling"]) == TEXT["dangling"]
    assert r["unmapped_licenses"] == []  # every licence string DPI uses resolves in the licence table
    skipped = {s["item"]: s["reason"] for s in r["skipped"]}
    assert set(skipped) == {"pii-masking-200k", "data_summaries/_template.json", "templates"}
    assert "identical record" in skipped["pii-masking-200k"]
    assert "75 datasets" in skipped["templates"]
    assert {x["item"]: x["asset"] for x in r["renamed"]} == {"commitpackft-c#": "commitpackft-c-de4c38", "commitpackft-c++": "commitpackft-c-8c1012"}
    assert reg.get("dataset/commitpackft-c@dpi").notes["uid"] == "commitpackft-c"


@needs_dpi
def test_commercial_counts_dpi_rule_versus_charter_rule(real):
    reg, result, allowed = real
    stats = result.report.stats
    assert stats["dpi_commercial"]["DataProvenance"] == COUNTS["dpi_own"]
    assert stats["dpi_commercial"]["any"] == COUNTS["dpi_any"]
    assert len(allowed) == COUNTS["charter"]
    datasets = [a for a in reg.store.find(kind="dataset")]
    dpi_any = {a.id for a in datasets if "commercial" in a.notes["dpi_license_use"].values()}
    assert len(dpi_any) == COUNTS["dpi_any"]
    assert len(dpi_any & allowed) == COUNTS["both"]
    charter_only = allowed - dpi_any
    assert len(charter_only) == COUNTS["charter_only"]
    for i in charter_only:  # DPI calls OpenAI terms NC; Charter's table: they forbid only competing models
        assert "OpenAI" in reg.get(i).licenses
        assert not reg.check(i, ["commercial", "fine-tuning", "competing-model-development"]).allowed

    def why(aid):
        reasons = reg.check(aid, USES).reasons
        own = {x["as"] for x in reg.get(aid).notes["licenses"] if x["source"] == "DataProvenance"}
        if any(r.asset == aid and r.source.removeprefix("license:") in own for r in reasons):
            return "own"
        if any(r.asset == aid for r in reasons):
            return "inferred"
        return "lineage"

    causes = [why(i) for i in dpi_any - allowed]
    assert causes.count("own") == COUNTS["dpi_only_own_licence_denies"]
    assert causes.count("inferred") == COUNTS["dpi_only_inferred_licence_denies"]
    assert causes.count("lineage") == COUNTS["dpi_only_lineage_denies"]


def _reasons(reg, aid, uses=USES):
    return {(r.asset, r.rule, r.use, r.source) for r in reg.check(aid, uses).reasons}


@needs_dpi
def test_alpaca_most_restrictive_licence_wins(real):
    reg, _, allowed = real
    a = reg.get("dataset/alpaca@dpi")
    assert a.licenses == ("OpenAI", "CC-BY-NC-4.0", "Apache-2.0")  # own two + the GitHub repo's
    assert a.notes["dpi_license_use"] == {"DataProvenance": "non-commercial", "HuggingFace": "non-commercial", "GitHub": "commercial", "PapersWithCode": ""}
    assert "dataset/alpaca@dpi" not in allowed  # DPI's any-source rule would call it commercial (GitHub)
    assert _reasons(reg, a.id) == {("dataset/alpaca@dpi", "deny", "commercial", "license:CC-BY-NC-4.0")}
    assert [(e.parent, e.relation) for e in a.derived_from] == [("model/openai-gpt-3@dpi", "trained-on-outputs-of")]
    assert "License formerly Apache 2.0" in a.notes["license_notes"]  # original free text kept


@needs_dpi
def test_hand_checked_decisions(real):
    reg, _, allowed = real
    assert "dataset/dolly-openqa@dpi" in allowed  # CC BY-SA 3.0 from every source
    # derived (curated-from) from alpaca, matched case-insensitively by identifier: inherits its NC licence
    bx = reg.get("dataset/bactrian-x-en@dpi")
    assert ("dataset/alpaca@dpi", "curated-from") in [(e.parent, e.relation) for e in bx.derived_from]
    paths = {r.path for r in reg.check(bx.id, USES).reasons}
    assert ("dataset/bactrian-x-en@dpi", "dataset/alpaca@dpi") in paths
    # Apache 2.0 everywhere, but generated by a model DPI only calls "Other": unknown terms upstream
    assert _reasons(reg, "dataset/fc-flan-math_dataset@dpi") == {("model/other@dpi", "deny", "commercial", "license:unspecified")}
    # twelve permissive licences from DPI, HF and GitHub; Papers with Code says Unspecified
    ini = reg.get("dataset/commitpackft-ini@dpi")
    assert len(ini.licenses) == 13 and ini.notes["dpi_license_use"]["PapersWithCode"] == "unspecified"
    assert _reasons(reg, ini.id) == {(ini.id, "deny", "commercial", "license:unspecified")}
    # a custom licence DPI classes Acad: academic research only, with its attribution flag as a duty
    coqa = _reasons(reg, "dataset/fc-flan-coqa@dpi")
    assert ("dataset/fc-flan-coqa@dpi", "allow-only", "commercial", "license:DPI-class-Acad") in coqa
    assert reg.check("dataset/fc-flan-coqa@dpi", ["academic-research", "evaluation"]).allowed
    assert reg.get("dataset/fc-flan-ag_news_subset@dpi").duties == ("attribution",)
    # OpenAI terms only: commercial fine-tuning allowed, building a competing model is not
    assert "dataset/openai-webgpt-eli5@dpi" in allowed
    assert _reasons(reg, "dataset/openai-webgpt-eli5@dpi", ("fine-tuning", "competing-model-development")) == {
        ("dataset/openai-webgpt-eli5@dpi", "deny", "competing-model-development", "license:OpenAI"),
        ("model/openai-gpt-3@dpi", "deny", "competing-model-development", "license:OpenAI"),
    }


@needs_dpi
def test_generating_models_and_their_licences(real):
    reg, _, _ = real
    lic = {a.id: a.licenses for a in reg.store.find(kind="model")}
    assert lic["model/openai-gpt-4@dpi"] == ("OpenAI",)
    assert lic["model/openai-gpt-3.5-turbo@dpi"] == ("OpenAI",)  # "-Turbo" and "-turbo" are one model
    assert lic["model/anthropic-internal-models@dpi"] == ("Anthropic",)
    assert lic["model/claude-2.1@dpi"] == ("Anthropic",)
    assert lic["model/llama-2-70b-chat-hf@dpi"] == ("llama2",)
    assert lic["model/llama-3.1-405b-instruct@dpi"] == ("llama3.1",)
    assert lic["model/mixtral-8x7b@dpi"] == ("Apache-2.0",)
    assert lic["model/flan-t5@dpi"] == ("Apache-2.0",)
    assert lic["model/google-cloud-translation-api@dpi"] == ("Google-Cloud-Translation-API",)
    assert lic["model/other@dpi"] == () and lic["model/bart@dpi"] == ()
    assert "model/templates@dpi" not in lic
    assert sorted(reg.get("model/openai-gpt-3.5-turbo@dpi").notes["spellings"]) == ["OpenAI GPT-3.5-Turbo", "OpenAI GPT-3.5-turbo"]


@needs_dpi
def test_every_dpi_licence_name_resolves(table):
    classes = json.loads((DPI / "constants" / "license_classes.json").read_text())
    assert [n for n in classes if not table.lookup(n).known] == []
    for name, (use, _, _) in classes.items():  # DPI's NC class always denies commercial use here too
        if use == "NC" and name not in ("OpenAI", "Anthropic"):
            assert "commercial" in table.lookup(name).deny, name
    for hf_id in ("apache-2.0", "cc-by-nc-4.0", "mit", "other", "unknown", "cc-by-sa-4.0", "cc0-1.0", "llama2", "pddl", "custom"):
        assert table.lookup(hf_id).known, hf_id


@needs_dpi
def test_import_is_deterministic(real):
    _, first, _ = real
    from charter.core import uses
    from charter.policy import licenses

    again = dpi.load(DPI, licenses.load(uses.load()))
    assert [a.content_hash for a in again.assets] == [a.content_hash for a in first.assets]


@needs_dpi
@pytest.mark.parametrize("modality, datasets, own, any_source, charter", [("speech", 95, 50, 58, 41), ("video", 105, 35, 51, 25)])
def test_speech_and_video_summaries(memreg, modality, datasets, own, any_source, charter):
    r = dpi.load(DPI, memreg.licenses, modalities=(modality,))
    memreg.add(r.assets, r.sources)
    assert (r.report.files, r.report.stats["datasets"]) == (datasets, datasets)
    assert (r.report.stats["dpi_commercial"]["DataProvenance"], r.report.stats["dpi_commercial"]["any"]) == (own, any_source)
    assert len(memreg.ls(kind="dataset", allowed=list(USES))) == charter


# --- the small fixture ------------------------------------------------------------------

def test_fixture_mapping(memreg):
    r = dpi.load(DPI_MINI, memreg.licenses)
    memreg.add(r.assets, r.sources)
    syn = memreg.get("dataset/mini-synthetic@dpi")
    assert syn.licenses == ("Apache-2.0", "OpenAI", "unspecified")
    assert [(e.parent, e.relation) for e in syn.derived_from] == [
        ("model/openai-gpt-4@dpi", "trained-on-outputs-of"),
        ("model/llama-2-70b-chat-hf@dpi", "trained-on-outputs-of"),
        ("dataset/mini-seed@dpi", "curated-from"),  # "Mini-Seed" names the uid mini-seed
    ]
    assert syn.notes["licenses"][-1] == {"source": "PapersWithCode", "license": "Unspecified", "as": "unspecified", "field": "PwC License Name"}
    research = memreg.get("dataset/mini-research@dpi")
    assert research.licenses == ("DPI-class-Acad", "CC-BY-NC-4.0") and research.duties == ("attribution",)
    assert memreg.get("model/llama-2-70b-chat-hf@dpi").licenses == ("llama2",)
    assert [a.id for a, _ in memreg.ls(kind="dataset", allowed=list(USES))] == ["dataset/mini-seed@dpi"]
    report = r.to_json()
    assert report["dangling"] == [{"asset": "dataset/mini-synthetic@dpi", "dependency": "Some External Corpus",
                                   "where": f"{DPI_MINI / 'data_summaries' / 'Mini Collection.json'}:31",
                                   "reason": "not a dataset of this DPI snapshot (kept in notes)"}]
    assert report["stats"]["dpi_commercial"] == {"DataProvenance": 1, "HuggingFace": 1, "GitHub": 1, "PapersWithCode": 0, "any": 2}
    assert [s["item"] for s in report["skipped"]] == ["templates"]


def test_version_option(table):
    r = dpi.load(DPI_MINI, table, version="2025-03")
    assert {a.version for a in r.assets} == {"2025-03"}
    with pytest.raises(InvalidInput, match="invalid version"):
        dpi.load(DPI_MINI, table, version="bad version")


@pytest.fixture
def mini(tmp_path):
    dst = tmp_path / "dpi"
    shutil.copytree(DPI_MINI, dst)
    return dst


def test_malformed_json_names_file_and_line(mini, table):
    f = mini / "data_summaries" / "Mini Collection.json"
    f.write_text(f.read_text().replace('"Dataset Name": "Mini Seed",', '"Dataset Name": "Mini Seed"'))
    with pytest.raises(InvalidInput) as e:
        dpi.load(mini, table)
    assert e.value.where == f"{f}:5" and e.value.message == "malformed JSON: Expecting ',' delimiter" and e.value.hint


def test_bad_licenses_field_names_file_line_and_field(mini, table):
    f = mini / "data_summaries" / "Mini Collection.json"
    f.write_text(f.read_text().replace('"Licenses": [{"License": "CC BY 4.0", "License URL": "https://example.org/mini/LICENSE"}]', '"Licenses": "CC BY 4.0"'))
    with pytest.raises(InvalidInput) as e:
        dpi.load(mini, table)
    assert e.value.where == f"{f}:10" and e.value.field == "Licenses"


def test_missing_constants_and_dirs(mini, table, tmp_path):
    (mini / "constants" / "custom_license_classes.json").unlink()
    with pytest.raises(InvalidInput) as e:
        dpi.load(mini, table)
    assert e.value.where.endswith("custom_license_classes.json") and "not found" in e.value.message
    with pytest.raises(InvalidInput, match="directory not found"):
        dpi.load(tmp_path / "nowhere", table)
    shutil.rmtree(mini / "data_summaries")
    shutil.copytree(DPI_MINI / "constants", mini / "constants", dirs_exist_ok=True)
    with pytest.raises(InvalidInput, match="no data_summaries/ folder"):
        dpi.load(mini, table)


def test_dpi_license_use_reproduces_dpis_resolution():
    classes = {"MIT License": ["All", "1", "0"], "CC BY-NC 4.0": ["NC", "1", "0"], "Unspecified": ["Unspecified", "0", "0"], "Various": ["Acad", "?", "?"]}
    rec = {"Licenses": [{"License": "MIT License"}, {"License": "Unspecified"}],
           "Inferred Metadata": {"HF Yaml License": "CC BY-NC 4.0", "HF Config License": "MIT License", "GitHub License": "MIT License", "PwC License Name": "Various"}}
    assert dpi.dpi_license_use(rec, classes, {}) == {"DataProvenance": "unspecified", "HuggingFace": "non-commercial", "GitHub": "commercial", "PapersWithCode": "academic-only"}
    custom = {"https://x": ["NC", "1", "0"]}
    rec = {"Licenses": [{"License": "Custom", "License URL": "https://x"}, {"License": "Custom", "License URL": "https://unknown"}]}
    assert dpi.dpi_license_use(rec, classes, custom)["DataProvenance"] == "academic-only"  # an unknown URL is '?'


@needs_dpi
def test_doc_prints_the_pinned_counts():
    doc = (ROOT / "docs" / "importers.md").read_text()
    for n in (TEXT["datasets"], TEXT["models"], *COUNTS.values()):
        assert f"{n:,}" in doc or str(n) in doc, n
