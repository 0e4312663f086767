"""charter transparency: FMTI indicators answered from the registry, with evidence (issue 17 §4)."""

from __future__ import annotations

from charter.cli.main import main
from charter.core.assets import Asset, Edge, Property
from charter.registry import Registry
from charter.report.transparency import transparency
from charter.store.memory import MemoryStore


def _reg() -> Registry:
    reg = Registry(MemoryStore())
    reg.add([Asset("dataset/d@1", "dataset", "d", "1", licenses=("CC-BY-4.0",), deny=("military",)),
             Asset("dataset/raw@1", "dataset", "raw", "1"),
             Asset("model/m@1", "model", "m", "1", licenses=("apache-2.0",), derived_from=(Edge("model/m@1", "dataset/d@1", "trained-on"),),
                   notes={"weights": {"sha256": "ab" * 32}}),
             Asset("model/n@1", "model", "n", "1", licenses=("apache-2.0",), derived_from=(Edge("model/n@1", "dataset/raw@1", "trained-on"),)),
             Asset("application/app@1", "application", "app", "1", derived_from=(Edge("application/app@1", "model/m@1", "deployed-from"),))])
    return reg


def answers(t: dict) -> dict[str, str]:
    return {i["indicator"]: i["answer"] for i in t["indicators"]}


def test_indicators_are_answered_with_evidence_and_scored():
    reg = _reg()
    reg.attach([Property("model/m@1", "bbq", "bbq/1.0", "amb_bias_score", 0.02, n=100)])
    reg.store.add_api_key("application/app@1", "k1", "h" * 64)
    reg.withdraw("dataset/d@1", "consent revoked")
    t = transparency(reg, "model/m@1")
    a = answers(t)
    assert a["data sources"] == "yes" and a["data licences"] == "yes" and a["prohibited uses"] == "yes"
    assert a["bias and risk evaluations"] == "yes" and a["usage monitoring (gateway)"] == "yes"
    assert a["intended uses"] == "no" and a["compute contributors"] == "no" and a["charter signed by its publisher"] == "no"
    ev = {i["indicator"]: i["evidence"] for i in t["indicators"]}
    assert {"asset": "dataset/d@1", "field": "uses.deny", "value": "military"} in ev["prohibited uses"]
    assert ev["withdrawals and restrictions handled"][0]["asset"] == "dataset/d@1"
    s = t["score"]
    assert s["yes"] == sum(v == "yes" for v in a.values()) and s["answerable"] == len(a) and s["unanswerable"] > 10
    assert "model size (parameters)" in t["unanswerable"]["model"]


def test_an_unlicensed_dataset_upstream_answers_no_and_says_which():
    t = transparency(_reg(), "model/n@1")
    lic = next(i for i in t["indicators"] if i["indicator"] == "data licences")
    assert lic["answer"] == "no" and "dataset/raw@1" in lic["note"]


def test_cli_and_card(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("assets:\n- {id: dataset/d@1, license: MIT}\n- id: model/m@1\n  license: MIT\n"
                                     "  uses: {deny: [military]}\n  derived_from: [{asset: dataset/d@1, relation: trained-on}]\n")
    db = str(tmp_path / "r.db")
    assert main(["add", str(tmp_path / "c.yaml"), "--registry", db]) == 0
    capsys.readouterr()
    assert main(["transparency", "model/m@1", "--registry", db]) == 0
    out = capsys.readouterr().out
    assert "answerable FMTI indicators met" in out and "yes model      prohibited uses: model/m@1 uses.deny" in out
    assert main(["card", "model/m@1", "--registry", db]) == 0
    assert "## Transparency" in capsys.readouterr().out
