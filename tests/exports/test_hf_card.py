"""The Hugging Face card: built and parsed back with huggingface_hub's ModelCard, and read by
`charter import hf-card`."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from charter.errors import UsageError
from charter.exports import export
from charter.imports import hf_card


def test_card_front_matter_parses_back(demo, tmp_path):
    text = export(demo, "model/volunteer-lm@1", "hf-card")
    card = ModelCard(text)
    d = card.data
    assert d.license == "apache-2.0" and d.model_name == "volunteer-lm"
    assert d.datasets == ["parallel-corpus"] and d.base_model is None
    (res,) = d.eval_results
    assert (res.dataset_type, res.metric_type, res.metric_value, res.dataset_revision) == ("bbq", "amb_bias_score", 0.02, "bbq/1.0")
    assert "## Uses" in card.text


def test_base_model_relation_and_other_licence(demo, tmp_path):
    d = ModelCard(export(demo, "model/support-assistant@1", "hf-card")).data
    assert d.license == "bigscience-openrail-m" and d.base_model == ["foundation-lm"] and d.base_model_relation == "finetune"
    d = ModelCard(export(demo, "model/translator@1", "hf-card")).data
    assert d.base_model_relation == "adapter" and d.datasets == ["parallel-corpus"]
    d = ModelCard(export(demo, "model/llama@eg", "hf-card")).data
    assert d.license == "other" and "llama1" in d.license_name


def test_charter_reads_its_own_card(demo, tmp_path):
    p = tmp_path / "README.md"
    p.write_text(export(demo, "model/support-assistant@1", "hf-card"))
    got = hf_card.load(p, demo.licenses, resolve=lambda k, n: {"foundation-lm": "model/foundation-lm@1"}.get(n))
    (m,) = [a for a in got.assets if a.kind == "model"]
    assert m.licenses == ("bigscience-openrail-m",)
    assert [(e.parent, e.relation) for e in m.derived_from] == [("model/foundation-lm@1", "fine-tuned-from")]


def test_only_models(demo):
    with pytest.raises(UsageError, match="a Hugging Face model card describes a model"):
        export(demo, "dataset/forum-posts@1", "hf-card")
