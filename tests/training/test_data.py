"""training/data.py: the record-tag check adapt and train run before any compute."""

from __future__ import annotations

import json

import pytest

from charter.errors import UnknownUse
from charter.registry import Registry
from charter.training.data import tag_exclusions


def test_adapt_and_train_stop_on_an_unknown_record_tag(tmp_path):
    """Issue 12: tag_exclusions never looked for unknown ids, so a typo'd deny tag trained silently."""
    (tmp_path / "r.jsonl").write_text(json.dumps({"text": "a", "charter_deny": ["comercial"]}) + "\n"
                                      + json.dumps({"text": "b", "charter_deny": ["military"]}) + "\n")
    (tmp_path / "c.yaml").write_text("id: dataset/d@1\nlicense: CC0-1.0\ndata: [r.jsonl]\n")
    reg = Registry.open(str(tmp_path / "reg.db"))
    reg.add_files([tmp_path / "c.yaml"])
    with pytest.raises(UnknownUse) as e:
        tag_exclusions(reg, reg.get("dataset/d@1"), ("fine-tuning", "commercial"))
    assert e.value.where.endswith("r.jsonl:1") and "did you mean 'commercial'" in str(e.value)


def test_known_tags_are_counted_by_reason(tmp_path):
    (tmp_path / "r.jsonl").write_text(json.dumps({"text": "a", "charter_deny": ["commercial"]}) + "\n"
                                      + json.dumps({"text": "b", "charter_allow": None}) + "\n")
    (tmp_path / "c.yaml").write_text("id: dataset/d@1\nlicense: CC0-1.0\ndata: [r.jsonl]\n")
    reg = Registry.open(str(tmp_path / "reg.db"))
    reg.add_files([tmp_path / "c.yaml"])
    assert tag_exclusions(reg, reg.get("dataset/d@1"), ("fine-tuning", "commercial")) == {"record-deny:commercial": 1}
