"""`charter.imports.hf_card` on model cards written like Hugging Face README.md files."""

from __future__ import annotations

import pytest

from charter.errors import InvalidInput
from charter.imports import hf_card
from tests.imports.conftest import HF


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
    ("zephyr-gguf", "zephyr-gguf", "quantized-from", ("zephyr-research-license",)),  # license: other + license_name
])
def test_relations_names_and_licences(table, card, name, relation, licenses):
    r = hf_card.load(HF / card, table)  # a folder works too
    model = r.assets[-1]
    assert model.id == f"model/{name}@hf"
    assert {rel for p, rel in _links(model) if p.startswith("model/")} == {relation}
    assert model.licenses == licenses


def test_unknown_licence_name_reported(table):
    r = hf_card.load(HF / "zephyr-gguf" / "README.md", table)
    assert r.to_json()["unmapped_licenses"] == [{"license": "zephyr-research-license", "count": 1, "assets": ["model/zephyr-gguf@hf"]}]
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
