"""The specification card: generated from the registry alone, consistent with the decision rule."""

from __future__ import annotations

import yaml

from charter.core.assets import Property
from charter.core.files import resource
from charter.data.curate import CurateConfig, curate
from charter.data.synth import write_community_corpus
from charter.registry import Registry
from charter.report.card import card, verdicts

ECO = resource("examples/ecosystem.yaml")


def _front(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _reg(tmp_path) -> Registry:
    r = Registry.open(str(tmp_path / "r.db"))
    r.add_files([ECO])
    return r


def test_front_matter_and_uses_agree_with_the_decision_rule(tmp_path):
    reg = _reg(tmp_path)
    text = card(reg, "application/helpdesk-bot@1")
    front = _front(text)
    assert front["charter_id"] == "application/helpdesk-bot@1" and front["base_model"] == ["model/support-assistant@1"]
    permitted, prohibited = front["charter"]["permitted"], front["charter"]["prohibited"]
    assert "conversational-agent" in permitted and "machine-translation" in prohibited and "face-recognition" in prohibited
    # hand-checked: the app allows only question-answering and conversational-agent among purposes
    purposes = [u for u in permitted if reg.taxonomy.facet[u] == "purpose"]
    assert purposes == ["question-answering", "conversational-agent"]
    # each verdict is the decision rule's, for a request that declares the use plus a permitted use of every other facet
    for v in verdicts(reg, "application/helpdesk-bot@1"):
        other = {"activity": "inference", "purpose": "conversational-agent", "context": "commercial"}
        request = [v.use] + [u for f, u in other.items() if f != v.facet]
        assert reg.check("application/helpdesk-bot@1", request).allowed == v.permitted, v


def test_prohibited_uses_name_their_origin(tmp_path):
    text = card(_reg(tmp_path), "application/helpdesk-bot@1")
    body = text.split("### Prohibited")[1].split("## Duties")[0]
    assert "- purpose: only question-answering, conversational-agent — allow list of `application/helpdesk-bot@1` (own charter)" in body \
        or "- purpose: only conversational-agent, question-answering — allow list of `application/helpdesk-bot@1` (own charter)" in body
    assert ("- biometric-identification — deny list of `model/foundation-lm@1` (inherited via application/helpdesk-bot@1 → "
            "model/support-assistant@1 → model/foundation-lm@1)") in body
    assert "machine-translation, profiling — deny list of `dataset/community-emails@1`" in body
    duties = text.split("## Duties")[1].split("## Lineage")[0]
    assert "**share-alike** owed to: `dataset/forum-posts@1` (licence CC-BY-SA-4.0)" in duties
    assert "`dataset/forum-posts@1` (licence CC-BY-SA-4.0)" in duties.split("**attribution**")[1].split("\n")[0]


def test_properties_requirements_and_withdrawal_show(tmp_path):
    reg = _reg(tmp_path)
    f = tmp_path / "req.yaml"
    f.write_text("id: model/screening-lm@1\nlicense: Apache-2.0\n"
                 "derived_from: [{asset: model/open-lm@1, relation: fine-tuned-from}]\n"
                 "requires: [{use: employment-decisions, benchmark: bbq, metric: amb_bias_score, max: 0.05}]\n")
    reg.add_files([f])
    reg.attach([Property("model/screening-lm@1", "bbq", "bbq/1.0", "amb_bias_score", 0.0712, (0.031, 0.112), 600, run="runs/e1")])
    text = card(reg, "model/screening-lm@1")
    assert "| bbq | amb_bias_score | 0.0712 | [0.031, 0.112] | 600 | bbq/1.0 |" in text
    assert "| employment-decisions | bbq.amb_bias_score ≤ 0.05 | unmet (0.0712) | `model/screening-lm@1` (own charter) |" in text
    front = _front(text)
    assert front["model-index"][0]["results"][0]["metrics"] == [{"type": "amb_bias_score", "value": 0.0712, "ci95": [0.031, 0.112]}]
    reg.withdraw("model/open-lm@1", "licence dispute")
    text = card(reg, "model/screening-lm@1")
    assert "every use — withdrawn: `model/open-lm@1` (inherited via model/screening-lm@1 → model/open-lm@1)" in text
    assert "`model/open-lm@1` (fine-tuned-from; Apache-2.0) **(withdrawn)**" in text


def test_consent_summary_of_curated_data(tmp_path):
    reg = Registry.open(str(tmp_path / "r.db"))
    reg.add_files([write_community_corpus(tmp_path / "corpus", messages=200)])
    r = curate(reg, CurateConfig(("dataset/community-messages@1", "dataset/public-domain-books@2"), ("training", "research"), tmp_path / "cur"))
    text = card(reg, r.asset.id)
    consent = text.split("## Data consent")[1]
    m = r.manifest
    assert f"{m['output']:,} of {m['input']:,} records kept" in consent
    for reason, n in m["excluded"].items():
        assert f"{n:,} excluded: {reason}" in consent
    owner = next(iter(_owners(r)))
    from charter.data.owners import withdraw_records

    withdraw_records(reg, [owner], "left the community")
    assert "kept records belong to owners who have since withdrawn consent" in card(reg, r.asset.id)


def _owners(r) -> set[str]:
    import duckdb

    files = [str(r.manifest_path.parent / o["path"]) for o in r.manifest["outputs"]]
    return {o for (o,) in duckdb.sql(f"SELECT DISTINCT charter_owner FROM read_parquet({files}) WHERE charter_owner IS NOT NULL").fetchall()}


def test_cli_card_prints_and_writes(tmp_path, capsys):
    from tests.cli.clirun import run

    db = str(tmp_path / "r.db")
    _reg(tmp_path).close()
    code, out, _ = run(capsys, "card", "model/translator", "--registry", db)
    assert code == 0 and out.startswith("---\ncharter_id: model/translator@1")
    code, d, _ = run(capsys, "card", "model/translator", "--out", str(tmp_path / "README.md"), "--json", "--registry", db)
    assert code == 0 and d["asset"] == "model/translator@1" and (tmp_path / "README.md").read_text() == d["card"]
    code, _, err = run(capsys, "card", "model/translater", "--registry", db)
    assert code == 1 and "model/translator" in err


def test_consent_counts_withdrawn_owners_records_in_source_datasets(tmp_path, monkeypatch):
    """A source dataset (not curated by charter) holding records of owners who withdrew said only
    "record-level consent was not checked"; and the card scanned every dataset in the registry."""
    import json

    import charter.data.owners as owners_mod

    reg = Registry.open(str(tmp_path / "r.db"))
    reg.add_files([write_community_corpus(tmp_path / "corpus", messages=200)])
    msgs, owner = "dataset/community-messages@1", "member-000"
    theirs = sum(json.loads(line)["charter_owner"] == owner for f in sorted((tmp_path / "corpus" / "community-messages").glob("*.jsonl"))
                 for line in f.read_text().splitlines())
    assert theirs > 0
    owners_mod.withdraw_records(reg, [owner], "left the community")
    scanned, scan = [], owners_mod._scan
    monkeypatch.setattr(owners_mod, "_scan", lambda assets, owners: scan(scanned.extend(a.id for a in assets) or assets, owners))
    consent = card(reg, msgs).split("## Data consent")[1]
    assert (f"- `{msgs}`: **{theirs:,} records belong to owners who have withdrawn consent** (1 owner); "
            "curate, adapt and train exclude them from now on.") in consent
    assert scanned == [msgs]  # only its own lineage, not web-text and the books
    assert "No dataset in its lineage" in card(reg, "dataset/web-text@1")


def test_card_of_volunteer_compute_and_its_model(tmp_path):
    reg = Registry.open(str(tmp_path / "r.db"))
    (tmp_path / "m.yaml").write_text(
        "id: model/m@1\nlicense: MIT\nderived_from: [{asset: compute/alice-workstation@1, relation: trained-with}]\n")
    reg.add_files([resource("examples/compute-alice.yaml"), tmp_path / "m.yaml"])
    text = card(reg, "compute/alice-workstation@1")
    assert "Kind: compute. Licence: none (compute carries no licence; its own terms apply)." in text
    assert "Owner: Alice Example <alice@example.org>. Public key: `ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=`." in text
    assert "## Contributors" not in text
    front = _front(text)
    assert {"military", "surveillance"} <= set(front["charter"]["prohibited"]) and "commercial" in front["charter"]["permitted"]
    text = card(reg, "model/m@1")
    assert "- depth 1: `compute/alice-workstation@1` (trained-with; no licence)" in text
    assert "| `compute/alice-workstation@1` | Alice Example <alice@example.org> | this | – | – |" in text  # no counts recorded
    body = text.split("### Prohibited")[1].split("## ")[0]
    assert "- surveillance, military — deny list of `compute/alice-workstation@1` (inherited via model/m@1 → compute/alice-workstation@1)" in body
