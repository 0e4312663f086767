"""`charter.imports.hf_card` on model cards written like Hugging Face README.md files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.errors import InvalidInput
from charter.imports import hf_card
from tests.cli.clirun import run
from tests.imports.conftest import FIXTURES, HF, ROOT


def _resolver(reg):
    def resolve(kind, name):
        found = list(reg.store.find(kind=kind, name=name))
        return found[-1].id if found else None
    return resolve


def _links(a):
    return [(e.parent, e.relation) for e in a.derived_from]


def test_adapter_card_with_placeholders(memreg):
    r = hf_card.load(HF / "tinyllama-support-lora" / "README.md", memreg.licenses, resolve=_resolver(memreg))
    model = r.assets[-1]
    assert model.id == "model/tinyllama-support-lora@hf"  # the folder name
    assert model.licenses == ("Apache-2.0",)
    assert _links(model) == [
        ("model/tinyllama/tinyllama-1.1b-chat-v1.0@hf", "adapter-of"),  # library_name: peft
        ("dataset/huggingfaceh4/ultrachat_200k@hf", "trained-on"),
        ("dataset/acme/support-tickets@hf", "trained-on"),
    ]
    assert model.notes["base_model_relation_inferred_from"] == "library_name: peft"
    assert model.description.startswith("A LoRA adapter on TinyLlama-1.1B-Chat")
    assert [p["asset"] for p in r.report.placeholders] == [a.id for a in r.assets[:-1]]
    for p in r.assets[:-1]:
        assert p.licenses == () and p.notes["placeholder"] is True
    memreg.add(r.assets, r.sources)
    d = memreg.check(model.id, ["fine-tuning", "commercial"])
    assert {x.asset for x in d.reasons} == {a.id for a in r.assets[:-1]}  # unknown upstream terms: no commercial use
    assert memreg.check(model.id, ["fine-tuning", "research"]).allowed


@pytest.mark.parametrize("card, name, relation, licenses", [
    ("llama2-7b-alpaca", "llama2-alpaca-7b", "fine-tuned-from", ("llama2",)),  # model-index name
    ("mistral-merge", "hermes-instruct-merge-7b", "merged-from", ("Apache-2.0",)),  # model_name
    ("zephyr-gguf", "zephyr-7b-beta-gguf", "quantized-from", ("zephyr-research-license",)),  # title; license: other + license_name
])
def test_relations_names_and_licences(table, card, name, relation, licenses):
    r = hf_card.load(HF / card, table)  # a folder works too
    model = r.assets[-1]
    assert model.id == f"model/{name}@hf"
    assert {rel for p, rel in _links(model) if p.startswith("model/")} == {relation}
    assert model.licenses == licenses


def test_unknown_licence_name_reported(table):
    r = hf_card.load(HF / "zephyr-gguf" / "README.md", table)
    assert r.to_json()["unmapped_licenses"] == [{"license": "zephyr-research-license", "count": 1, "assets": ["model/zephyr-7b-beta-gguf@hf"]}]
    assert r.assets[-1].notes["front_matter"]["license_link"] == "LICENSE"


def test_name_and_version_options(table):
    r = hf_card.load(HF / "mistral-merge" / "README.md", table, name="Acme Merge", version="2")
    assert r.assets[-1].id == "model/acme-merge@2"
    assert {a.version for a in r.assets[:-1]} == {"hf"}  # placeholders keep a fixed version


def test_registered_upstream_is_linked_not_duplicated(memreg):
    first = hf_card.load(HF / "zephyr-gguf", memreg.licenses, resolve=_resolver(memreg))
    memreg.add(first.assets, first.sources)
    # another card naming the same base model reuses the placeholder the first one registered
    other = hf_card.load(HF / "zephyr-gguf", memreg.licenses, name="zephyr-q4", resolve=_resolver(memreg))
    assert other.report.placeholders == [] and _links(other.assets[-1]) == [("model/huggingfaceh4/zephyr-7b-beta@hf", "quantized-from")]
    # once the base model's real charter is registered, new cards link to that (latest) version
    from charter.core.assets import Asset

    memreg.add([Asset(id="model/huggingfaceh4/zephyr-7b-beta@1", kind="model", name="huggingfaceh4/zephyr-7b-beta", version="1", licenses=("MIT",))])
    r = hf_card.load(HF / "zephyr-gguf", memreg.licenses, name="zephyr-q8", resolve=_resolver(memreg))
    assert r.report.placeholders == []
    assert _links(r.assets[-1]) == [("model/huggingfaceh4/zephyr-7b-beta@1", "quantized-from")]  # the latest version


def test_reimport_is_a_no_op(memreg):
    for _ in range(2):
        r = hf_card.load(HF / "llama2-7b-alpaca", memreg.licenses, resolve=_resolver(memreg))
        added = memreg.add(r.assets, r.sources)
    assert added == [] and r.report.placeholders == []
    assert memreg.store.count() == 3


def test_self_reference_skipped(table, tmp_path):
    (tmp_path / "README.md").write_text("---\nbase_model: someone/mine\nmodel_name: someone/mine\n---\n")
    r = hf_card.load(tmp_path / "README.md", table)
    assert [a.id for a in r.assets] == ["model/someone/mine@hf"] and r.report.skipped[0]["reason"] == "refers to the card's own model"


@pytest.mark.parametrize("text, where, message", [
    ("# no metadata\n", ":1", "no YAML front matter"),
    ("---\nlicense: mit\n", ":1", "the YAML front matter is not closed"),
    ("---\nlicense: mit\nbase_model: [a, b\n---\n", ":", "malformed YAML"),
    ("---\nlicense: mit\nbase_model: a\nbase_model_relation: distill\n---\n", ":4", "unknown base_model_relation 'distill'"),
    ("---\nbase_model: {a: 1}\n---\n", ":2", "'base_model' must be a string or a list of strings"),
    ("---\n- just\n- a list\n---\n", ":2", "the front matter must be a mapping"),
])
def test_bad_cards_name_file_and_line(table, tmp_path, text, where, message):
    card = tmp_path / "m" / "README.md"
    card.parent.mkdir()
    card.write_text(text)
    with pytest.raises(InvalidInput) as e:
        hf_card.load(card, table)
    assert e.value.where.startswith(f"{card}{where}")
    assert e.value.message.startswith(message) and e.value.hint


def test_missing_file(table, tmp_path):
    with pytest.raises(InvalidInput, match="file not found"):
        hf_card.load(tmp_path / "README.md", table)


# --- issue 14 §3: names, licences, relations, model-index properties, a real card, fuzzing -------------

CARDS = ROOT / "src" / "charter" / "resources" / "examples" / "cards"
REAL = CARDS / "llama-3.2-1b-delaysentinel.md"
EVALS = HF / "evals" / "README.md"


def _card(tmp_path, text, name="README.md", folder="hfc"):
    p = tmp_path / folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_name_never_from_the_folder(table):
    # issue 14: xdec.md in a folder hfc registered as model/hfc@hf
    r = hf_card.load(FIXTURES / "hfc" / "xdec.md", table)
    assert r.assets[-1].id == "model/xdec@hf" and r.assets[-1].notes["name_from"] == "file name"
    assert r.report.stats["name_from"] == "file name"
    assert hf_card.load(FIXTURES / "hfc" / "xdec.md", table, repo="acme/XDec-0.5B").assets[-1].id == "model/acme/xdec-0.5b@hf"


@pytest.mark.parametrize("front, body, kw, expect, origin", [
    ("model_name: From Field\nmodel-index:\n- name: from-index\n", "# From Title\n", {"repo": "o/from-repo"}, "from-field", "model_name"),
    ("model-index:\n- name: from-index\n  results: []\n", "# From Title\n", {"repo": "o/from-repo"}, "from-index", "model-index"),
    ("license: mit\n", "# From Title\n", {"repo": "o/From-Repo"}, "o/from-repo", "--repo"),
    ("license: mit\n", "\n<!-- a comment -->\n# [From *Title*](https://x.org) 🦙\n\n# Second\n", {}, "from-title", "title"),
    ("license: mit\n", "```\n# not a title\n```\n# Real Title\n", {}, "real-title", "title"),
    ("model_name: From Field\n", "", {"name": "Given"}, "given", "--name"),
    ("model_name: ''\n", "# T\n", {}, "t", "title"),
])
def test_name_order(table, tmp_path, front, body, kw, expect, origin):
    r = hf_card.load(_card(tmp_path, f"---\n{front}---\n{body}"), table, **kw)
    assert r.assets[-1].id == f"model/{expect}@hf" and r.assets[-1].notes["name_from"] == origin


def test_readme_naming_nothing_asks_for_name_or_repo(table, tmp_path):
    card = _card(tmp_path, "---\nlicense: mit\nbase_model: a/b\n---\nJust prose, no title.\n", folder="my-model")
    with pytest.raises(InvalidInput) as e:
        hf_card.load(card, table)
    assert e.value.where == f"{card}:1" and e.value.message == "the card names no model"
    assert "--repo ORG/NAME" in e.value.hint and "--name NAME" in e.value.hint and "\n" not in e.value.hint
    assert hf_card.load(card, table, repo="me/My-Model").assets[-1].id == "model/me/my-model@hf"  # the hint works


@pytest.mark.parametrize("front, field_, message", [
    ("model_name: [a, b]\n", "model_name", "'model_name' must be a string"),
    ("model_name: '!!!'\n", "model_name", "cannot make an asset name from '!!!'"),
])
def test_bad_stated_names(table, tmp_path, front, field_, message):
    card = _card(tmp_path, f"---\n{front}---\n# Fine Title\n")
    with pytest.raises(InvalidInput) as e:
        hf_card.load(card, table)
    assert e.value.message == message and e.value.field == field_ and e.value.where == f"{card}:2" and e.value.hint


@pytest.mark.parametrize("repo", ["no-slash", "a/b/c", "a b/c", "/x", ""])
def test_bad_repo_option(table, repo):
    with pytest.raises(InvalidInput) as e:
        hf_card.load(EVALS, table, repo=repo)
    assert e.value.field == "--repo" and "ORG/NAME" in e.value.hint


def test_repo_kept_in_notes_and_own_base_model_skipped(table, tmp_path):
    card = _card(tmp_path, "---\nmodel_name: Short\nbase_model: [Org/Big, org/short-base]\n---\n")
    r = hf_card.load(card, table, repo="https://huggingface.co/org/big")
    m = r.assets[-1]
    assert m.id == "model/short@hf" and m.notes["hf_id"] == "org/big" and m.notes["url"] == "https://huggingface.co/org/big"
    assert _links(m) == [("model/org/short-base@hf", "fine-tuned-from")] and r.report.skipped[0]["item"] == "Org/Big"


@pytest.mark.parametrize("word, relation", [("adapter", "adapter-of"), ("merge", "merged-from"), ("quantized", "quantized-from"),
                                            ("finetune", "fine-tuned-from"), ("Quantized", "quantized-from"), (None, "fine-tuned-from")])
def test_each_base_model_relation(table, tmp_path, word, relation):
    rel = f"base_model_relation: {word}\n" if word else ""
    r = hf_card.load(_card(tmp_path, f"---\nmodel_name: m\nbase_model: a/base\n{rel}datasets: [d/one, d/two, d/one]\n---\n"), table)
    assert _links(r.assets[-1]) == [("model/a/base@hf", relation), ("dataset/d/one@hf", "trained-on"), ("dataset/d/two@hf", "trained-on")]


@pytest.mark.parametrize("front, licenses, unmapped", [
    ("license: other\nlicense_name: llama3\nlicense_link: https://llama.meta.com/llama3/license\n", ("llama3",), []),  # a name the table knows
    ("license: other\nlicense_name: Apache-2.0\n", ("Apache-2.0",), []),
    ("license: other\nlicense_name: acme-model-licence\nlicense_link: LICENSE\n", ("acme-model-licence",), ["acme-model-licence"]),
    ("license: [other, acme-model-licence]\nlicense_name: acme-model-licence\n", ("acme-model-licence",), ["acme-model-licence"]),  # once
    ("license_name: acme-model-licence\n", ("acme-model-licence",), ["acme-model-licence"]),  # no license: line at all
    ("license: other\n", (), []),  # other and nothing else: unspecified
    ("license: [mit, cc-by-nc-4.0]\n", ("MIT", "CC-BY-NC-4.0"), []),
])
def test_licence_other_and_license_name(table, tmp_path, front, licenses, unmapped):
    r = hf_card.load(_card(tmp_path, f"---\nmodel_name: m\n{front}---\n"), table)
    m = r.assets[-1]
    assert m.licenses == licenses
    got = r.to_json()["unmapped_licenses"]
    assert [x["license"] for x in got] == unmapped and all(x["count"] == 1 for x in got)
    if "license_link" in front:
        assert m.notes["license_mapped"]["license_link"] == front.split("license_link: ")[1].strip()


def test_model_index_results_become_properties(table):
    r = hf_card.load(EVALS, table)
    m = r.assets[-1]
    assert m.id == "model/llama-3-8b-eval-tune@hf" and m.licenses == ("llama3",)
    assert m.notes["license_mapped"]["license_link"] == "https://llama.meta.com/llama3/license"
    assert ("dataset/huggingfaceh4/ultrafeedback_binarized@hf", "trained-on") in _links(m)
    got = [(p.asset, p.benchmark, p.metric, p.value, p.version) for p in r.properties]
    assert got == [
        (m.id, "ai2_arc", "acc_norm", 61.95, "ARC-Challenge/test"),  # version from config/split
        (m.id, "cais/mmlu", "acc", 66.1, "c30699e"),  # a numeric string; version from revision
        (m.id, "json", "Eval loss (epoch 2)", 0.41, "test"),  # a repeated type is told apart by its name
        (m.id, "json", "Eval loss (epoch 3)", 0.37, "test"),
    ]
    p = r.properties[0]
    assert p.run == "hf-card:README.md" and p.detail["source"] == "hf-card:README.md" and p.detail["task"] == "text-generation"
    assert p.detail["dataset"] == "AI2 Reasoning Challenge (25-Shot)" and p.detail["metric_name"] == "normalized accuracy"
    assert p.detail["where"] == str(EVALS_LINE_OF_ARC)
    skipped = {x["item"]: x for x in r.report.skipped}
    assert skipped["model-index[0].results[1].metrics[1]"]["reason"] == "cais/mmlu f1: value 'N/A' is not a number: skipped"
    assert skipped["model-index[0].results[2].metrics[2]"]["reason"] == "json win_rate: value a list is not a number: skipped"
    assert skipped["model-index[0].results[2].metrics[3]"]["reason"] == "json elo: no value: skipped"
    assert skipped["model-index[0].results[3]"]["reason"] == "no dataset type or name: 1 metric(s) skipped"
    assert all(x["where"].startswith(f"{EVALS}:") for x in skipped.values())
    assert r.report.stats["results_skipped"] == 4 and len(r.report.stats["properties"]) == 4
    assert r.report.stats["properties"][0] == {"benchmark": "ai2_arc", "metric": "acc_norm", "value": 61.95, "version": "ARC-Challenge/test"}


EVALS_LINE_OF_ARC = 22  # the line of `- type: acc_norm` in fixtures/hf/evals/README.md


def test_repeated_benchmark_metric_is_reported_not_dropped(table, tmp_path):
    text = ("---\nmodel_name: m\nmodel-index:\n- name: m\n  results:\n"
            "  - dataset: {type: gsm8k}\n    metrics: [{type: acc, value: 1}, {type: acc, value: 2}]\n"
            "  - dataset: {type: gsm8k, split: test}\n    metrics: [{type: acc, value: 3}, {type: em, value: true}, {type: em, value: 1e999}]\n---\n")
    r = hf_card.load(_card(tmp_path, text), table)
    assert [(p.metric, p.value) for p in r.properties] == [("acc", 1.0)]
    reasons = [x["reason"] for x in r.report.skipped]
    assert reasons == ["gsm8k em: value True is not a number: skipped", "gsm8k em: value 1e999 is not finite: skipped"] + [
        "gsm8k acc repeats model-index[0].results[0].metrics[0] (the registry keeps one value per benchmark and metric): skipped"] * 2


@pytest.mark.parametrize("index, reason", [
    ("model-index: just text\n", "not a list of models: no results read"),
    ("model-index: [7]\n", "not a mapping: no results read"),
    ("model-index:\n- name: m\n  results: {a: 1}\n", "not a list: no results read"),
    ("model-index:\n- name: m\n  results: [3]\n", "not a mapping: skipped"),
    ("model-index:\n- name: m\n  results: [{dataset: {type: x}}]\n", "no metrics list: skipped"),
    ("model-index:\n- name: m\n  results: [{dataset: {type: x}, metrics: [5]}]\n", "not a mapping: skipped"),
    ("model-index:\n- name: m\n  results: [{dataset: {type: x}, metrics: [{value: 5}]}]\n", "no metric type or name: skipped"),
])
def test_malformed_model_index_is_reported(table, tmp_path, index, reason):
    r = hf_card.load(_card(tmp_path, f"---\nmodel_name: m\n{index}---\n"), table)
    assert r.properties == [] and [x["reason"] for x in r.report.skipped] == [reason]


def test_properties_recorded_by_the_cli_once(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    code, out, _ = run(capsys, "import", "hf-card", str(EVALS), "--registry", db, "--json")
    assert code == 0 and out["added"][-1] == "model/llama-3-8b-eval-tune@hf"
    s = out["report"]["stats"]
    assert s["properties_attached"] == 4 and s["properties_unchanged"] == 0 and s["results_skipped"] == 4
    code, out, _ = run(capsys, "import", "hf-card", str(EVALS), "--registry", db, "--json")  # re-import: a no-op
    assert code == 0 and out["added"] == [] and out["report"]["stats"]["properties_attached"] == 0
    assert out["report"]["stats"]["properties_unchanged"] == 4
    from charter.store import open_store

    props = open_store(db).properties("model/llama-3-8b-eval-tune@hf")
    assert sorted((p.benchmark, p.metric, p.value) for p in props) == [
        ("ai2_arc", "acc_norm", 61.95), ("cais/mmlu", "acc", 66.1), ("json", "Eval loss (epoch 2)", 0.41), ("json", "Eval loss (epoch 3)", 0.37)]
    code, text, _ = run(capsys, "import", "hf-card", str(EVALS), "--name", "other-name", "--registry", db)
    assert code == 0 and "model-index: 4 properties (attached 4, unchanged 0); 4 results skipped (see skipped)" in text
    assert "ai2_arc.acc_norm = 61.95 (ARC-Challenge/test)" in text and "name from --name" in text


def test_properties_count_in_the_registry(memreg):
    r = hf_card.load(EVALS, memreg.licenses, resolve=_resolver(memreg))
    memreg.add(r.assets, r.sources)
    memreg.attach(r.properties)
    got = memreg.properties(r.assets[-1].id)
    assert got[("cais/mmlu", "acc")].value == 66.1 and got[("ai2_arc", "acc_norm")].version == "ARC-Challenge/test"


def test_real_llama_3_2_card(memreg):
    """A real card of a Llama 3.2 fine-tune (resources/examples/cards/SOURCE.md)."""
    text = REAL.read_text(encoding="utf-8")
    assert "license: llama3.2\n" in text and "base_model: meta-llama/Llama-3.2-1B-Instruct\n" in text
    r = hf_card.load(REAL, memreg.licenses, resolve=_resolver(memreg))
    m = r.assets[-1]
    assert m.id == "model/llama-3.2-1b-delaysentinel@hf" and m.notes["name_from"] == "title"
    assert m.licenses == ("llama3.2",)  # the recorded string, whether or not the table maps it yet
    assert _links(m) == [("model/meta-llama/llama-3.2-1b-instruct@hf", "fine-tuned-from"),
                         ("dataset/yuchiwang02/smart-logistics-delay-split-v0@hf", "trained-on")]
    assert [a.notes["hf_id"] for a in r.assets[:-1]] == ["meta-llama/Llama-3.2-1B-Instruct", "Yuchiwang02/smart-logistics-delay-split-v0"]
    assert m.description.startswith("**Building and evaluating AI on logistics data. Built with Llama.**")
    assert r.properties == [] and r.report.skipped == []  # its results are a Markdown table, not model-index
    memreg.add(r.assets, r.sources)
    assert memreg.store.count() == 3
    named = hf_card.load(REAL, memreg.licenses, resolve=_resolver(memreg), repo="Yuchiwang02/Llama-3.2-1B-DelaySentinel")
    assert named.assets[-1].id == "model/yuchiwang02/llama-3.2-1b-delaysentinel@hf" and named.report.placeholders == []


def test_real_card_through_the_cli(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    code, out, _ = run(capsys, "import", "hf-card", str(REAL), "--repo", "Yuchiwang02/Llama-3.2-1B-DelaySentinel", "--registry", db, "--json")
    assert code == 0
    assert out["added"] == ["model/meta-llama/llama-3.2-1b-instruct@hf", "dataset/yuchiwang02/smart-logistics-delay-split-v0@hf",
                            "model/yuchiwang02/llama-3.2-1b-delaysentinel@hf"]
    code, shown, _ = run(capsys, "show", "model/yuchiwang02/llama-3.2-1b-delaysentinel@hf", "--registry", db, "--json")
    assert code == 0 and "llama3.2" in json.dumps(shown)


@pytest.mark.parametrize("argv, where, message", [
    (["--repo", "nope"], "", "invalid repo id 'nope'"),
    ([], "{card}:1", "the card names no model"),
])
def test_cli_bad_input_is_one_line_exit_1(tmp_path, capsys, argv, where, message):
    card = _card(tmp_path, "---\nlicense: mit\n---\nno title\n")
    code, out, err = run(capsys, "import", "hf-card", str(card), *argv, "--registry", str(tmp_path / "r.db"), "--json")
    assert code == 1 and out["error"] == "invalid-input" and out["message"] == message
    assert out.get("where", "") == where.replace("{card}", str(card)) and out["hint"]
    assert len(err.strip().splitlines()) == 1 and err.startswith("charter: error: ")


# untrusted card text: whatever the front matter holds, the importer returns or raises InvalidInput
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                     st.sampled_from(["other", "llama3.2", "mit", "adapter", "merge", "a/b", "README", "# x", "N/A", "1e999"]))
_values = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(
    st.sampled_from(["name", "results", "task", "dataset", "type", "metrics", "value", "config", "split", "revision", "args"]), c, max_size=4)),
    max_leaves=20)
_KEYS = ["license", "license_name", "license_link", "base_model", "base_model_relation", "datasets", "model_name",
         "model-index", "library_name", "tags"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(front=st.dictionaries(st.sampled_from(_KEYS), _values, max_size=6), body=st.text(max_size=80),
       name=st.sampled_from(["README.md", "x.md"]))
def test_fuzz_structured_front_matter(table, tmp_path, front, body, name):
    import yaml

    card = tmp_path / "f" / name
    card.parent.mkdir(exist_ok=True)
    card.write_text("---\n" + yaml.safe_dump(front, allow_unicode=True) + "---\n" + body, encoding="utf-8")
    _import_or_invalid(card, table)


@FUZZ
@given(text=st.text(max_size=300))
def test_fuzz_raw_text(table, tmp_path, text):
    card = tmp_path / "g" / "README.md"
    card.parent.mkdir(exist_ok=True)
    card.write_text("---\n" + text, encoding="utf-8")
    _import_or_invalid(card, table)


def _import_or_invalid(card: Path, table) -> None:
    try:
        r = hf_card.load(card, table)
    except InvalidInput as e:
        assert e.message and "\n" not in e.message and e.hint and str(card) in (e.where or str(card))
        return
    json.dumps(r.to_json(), allow_nan=False)
    for a in r.assets:
        json.dumps(a.to_json(), allow_nan=False)
    for p in r.properties:
        json.dumps(p.to_json(), allow_nan=False)


def test_base_models_card_imported_later_replaces_its_placeholder(tmp_path, capsys):
    """A fine-tune's card first (its base becomes a placeholder), then the base model's own card
    with --repo: the placeholder's id is taken, so the real charter is a new version, and cards
    imported after it link to that."""
    db = str(tmp_path / "r.db")
    ft = _card(tmp_path, "---\nbase_model: Org/Base\nlicense: mit\n---\n# FT\n", folder="ft")
    base = _card(tmp_path, "---\nlicense: apache-2.0\n---\nThe base model.\n", folder="base")
    assert run(capsys, "import", "hf-card", str(ft), "--registry", db)[0] == 0
    code, out, _ = run(capsys, "import", "hf-card", str(base), "--repo", "Org/Base", "--registry", db, "--json")
    assert code == 1 and out["error"] == "conflict" and "bump the version" in out["hint"]
    code, out, _ = run(capsys, "import", "hf-card", str(base), "--repo", "Org/Base", "--version", "1", "--registry", db, "--json")
    assert code == 0 and out["added"] == ["model/org/base@1"]
    code, out, _ = run(capsys, "import", "hf-card", str(ft), "--name", "ft2", "--registry", db, "--json")
    assert out["report"]["stats"]["upstream"] == ["model/org/base@1"]


def test_model_index_name_must_be_a_string(table, tmp_path):
    card = _card(tmp_path, "---\nmodel-index:\n- name: {a: 1}\n  results: []\n---\n# T\n")
    with pytest.raises(InvalidInput) as e:
        hf_card.load(card, table)
    assert e.value.field == "model-index[0].name" and e.value.where == f"{card}:3" and e.value.hint


def test_an_expressions_unknown_part_is_reported(tmp_path, table):
    from charter.imports import hf_card

    (tmp_path / "README.md").write_text("---\nlicense: other\nlicense_name: MIT OR acme-weights-licence\n---\n# Expr Model\n")
    imp = hf_card.load(tmp_path / "README.md", table)
    (m,) = [a for a in imp.assets if a.kind == "model"]
    assert m.licenses == ("MIT OR acme-weights-licence",)
    assert imp.report.unmapped_licenses == {"acme-weights-licence": [m.id]}
