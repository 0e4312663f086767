"""CLI behaviour: exit codes, --json schemas (docs/cli-json.md), one-line errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charter.cli.main import main
from clirun import run
from charter.core.files import resource

ECO = str(resource("examples") / "ecosystem.yaml")


@pytest.fixture
def reg(tmp_path):
    db = str(tmp_path / "r.db")
    assert main(["add", ECO, "--registry", db]) == 0
    return db




def test_can_allowed_exit_0_and_schema(reg, capsys):
    code, d, _ = run(capsys, "can", "model/support-assistant@1", "fine-tuning", "conversational-agent", "commercial", "--json", "--registry", reg)
    assert code == 0
    assert d == {"asset": "model/support-assistant@1", "uses": ["fine-tuning", "conversational-agent", "commercial"], "allowed": True, "reasons": [],
                 "withdrawn_records": {"records": 0, "owners": 0, "datasets": [], "unreadable": [], "excluded_by": ["curate", "adapt", "train"]}}


def test_can_denied_exit_3_lists_chain(reg, capsys):
    code, d, _ = run(capsys, "can", "model/photo-tagger@1", "fine-tuning", "face-recognition", "--json", "--registry", reg)
    assert code == 3
    assert d["allowed"] is False
    assert d["reasons"] == [{
        "asset": "model/vision-encoder@1", "rule": "deny", "use": "face-recognition", "source": "uses.deny",
        "path": ["model/photo-tagger@1", "model/vision-encoder@1"], "entries": ["biometric-identification"],
        "detail": "model/vision-encoder@1 denies biometric-identification (uses.deny)",
    }]


def test_can_text_prints_every_reason_with_path(reg, capsys):
    code, out, _ = run(capsys, "can", "model/support-assistant@1", "machine-translation", "surveillance", "--registry", reg)
    assert code == 3
    assert "DENIED" in out and "2 reasons" in out
    assert "path: model/support-assistant@1 -> model/foundation-lm@1 -> dataset/community-emails@1" in out
    assert "path: model/support-assistant@1 -> model/foundation-lm@1 -> dataset/forum-posts@1" in out


def test_can_records_decision_event(reg, capsys):
    from charter.store import open_store

    run(capsys, "can", "model/photo-tagger@1", "face-recognition", "--registry", reg)
    events = open_store(reg).events(type="decision")
    assert len(events) == 1 and events[0].data["allowed"] is False
    assert events[0].data["reasons"][0]["rule"] == "deny"


def test_can_unknown_use_did_you_mean_exit_1(reg, capsys):
    code, _, err = run(capsys, "can", "model/photo-tagger@1", "face-recogniton", "--registry", reg)
    assert code == 1
    assert err.strip().count("\n") == 0
    assert "unknown use 'face-recogniton'" in err and "did you mean 'face-recognition'" in err


def test_can_unknown_asset_exit_1(reg, capsys):
    code, d, err = run(capsys, "can", "model/photo-taggr@1", "inference", "--json", "--registry", reg)
    assert code == 1
    assert d["error"] == "not-found" and "photo-tagger" in d["hint"]


def test_uses_json_schema(capsys):
    code, d, _ = run(capsys, "uses", "--json")
    assert code == 0
    by_id = {u["id"]: u for u in d}
    assert set(by_id["face-recognition"]) == {"id", "facet", "parents"}
    assert by_id["face-recognition"] == {"id": "face-recognition", "facet": "purpose", "parents": ["biometric-identification"]}
    assert by_id["academic-research"] == {"id": "academic-research", "facet": "context", "parents": ["research"]}
    assert {u["facet"] for u in d} == {"activity", "purpose", "context"}


def test_uses_text_tree_and_extension(tmp_path, capsys):
    ext = tmp_path / "mine.yaml"
    ext.write_text("uses:\n  - {id: email-triage, parents: [classification]}\n")
    code, out, _ = run(capsys, "uses", "--taxonomy", str(ext))
    assert code == 0 and "email-triage" in out and "face-recognition" in out


def test_uses_tree_prints_markup_in_descriptions_literally(tmp_path, capsys):
    ext = tmp_path / "mine.yaml"
    ext.write_text('uses:\n  - {id: audio, description: "[/] sound [bold]"}\n')
    code, out, _ = run(capsys, "uses", "--taxonomy", str(ext))
    assert code == 0 and "[/] sound [bold]" in out


def test_bad_taxonomy_refused(tmp_path, capsys):
    ext = tmp_path / "bad.yaml"
    ext.write_text("uses:\n  - {id: odd, parents: [commercial, fine-tuning]}\n")
    code, _, err = run(capsys, "uses", "--taxonomy", str(ext))
    assert code == 1 and "several facets" in err and "bad.yaml" in err


def test_add_json_and_idempotent(reg, capsys):
    code, d, _ = run(capsys, "add", ECO, "--json", "--registry", reg)
    assert code == 0 and d["added"] == [] and len(d["unchanged"]) == 15


def test_add_names_licences_the_table_does_not_know(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "m.yaml").write_text("id: model/acme-ft@1\nlicense: acme-model-license\n")
    (tmp_path / "o.yaml").write_text("id: model/other@1\nlicense: acme-model-license\n")
    code, d, _ = run(capsys, "add", str(tmp_path / "m.yaml"), str(tmp_path / "o.yaml"), "--registry", db, "--json")
    assert code == 0 and d["unknown_licenses"] == {"acme-model-license": ["model/acme-ft@1", "model/other@1"]}
    (tmp_path / "n.yaml").write_text("id: model/mit@1\nlicense: MIT\n")
    code, out, _ = run(capsys, "add", str(tmp_path / "n.yaml"), "--registry", db)
    assert code == 0 and "not in the licence table" not in out
    code, out, _ = run(capsys, "can", "model/acme-ft@1", "inference", "commercial", "--registry", db)
    assert code == 3 and "'acme-model-license' is not in the licence table: commercial use is not permitted until it is mapped (fix: add it with --licenses FILE)" in out


def test_add_notes_an_asset_derived_from_a_withdrawn_one(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "d.yaml").write_text("id: dataset/d@1\nlicense: MIT\n")
    (tmp_path / "m.yaml").write_text("id: model/m@1\nlicense: MIT\nderived_from: [{asset: dataset/d@1, relation: trained-on}]\n")
    (tmp_path / "a.yaml").write_text("id: model/a@1\nlicense: MIT\nderived_from: [{asset: model/m@1, relation: fine-tuned-from}]\n")
    assert run(capsys, "add", str(tmp_path / "d.yaml"), str(tmp_path / "m.yaml"), "--registry", db)[0] == 0
    assert run(capsys, "withdraw", "dataset/d@1", "--reason", "consent revoked", "--registry", db)[0] == 0
    code, out, _ = run(capsys, "add", str(tmp_path / "a.yaml"), "--registry", db)
    assert code == 0 and "model/a@1 derives from withdrawn dataset/d@1; every use of it will be denied" in " ".join(out.split())


def test_licenses_file_maps_an_unknown_licence(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "m.yaml").write_text("id: model/acme-ft@1\nlicense: acme-model-license\n")
    assert run(capsys, "add", str(tmp_path / "m.yaml"), "--registry", db)[0] == 0
    (tmp_path / "lic.yaml").write_text("licenses:\n  - id: acme-model-license\n    deny: [military]\n")
    assert run(capsys, "can", "model/acme-ft@1", "inference", "commercial", "--registry", db, "--licenses", str(tmp_path / "lic.yaml"))[0] == 0
    code, out, _ = run(capsys, "can", "model/acme-ft@1", "inference", "military", "--registry", db, "--licenses", str(tmp_path / "lic.yaml"))
    assert code == 3 and "denies military (license:acme-model-license)" in out
    (tmp_path / "bad.yaml").write_text("licenses:\n  - id: x\n    deny: [comercial]\n")
    code, _, err = run(capsys, "can", "model/acme-ft@1", "inference", "--registry", db, "--licenses", str(tmp_path / "bad.yaml"))
    assert code == 1 and "bad.yaml:3" in err and "did you mean 'commercial'" in err


def test_add_conflict_names_file_and_fix(reg, tmp_path, capsys):
    f = tmp_path / "changed.yaml"
    f.write_text("id: dataset/forum-posts@1\nlicense: CC0-1.0\n")
    code, _, err = run(capsys, "add", str(f), "--registry", reg)
    assert code == 1 and "already registered with different content" in err and "bump the version" in err


@pytest.mark.parametrize("text, where, needle", [
    ("id: model/x@1\nlicense: MIT\nuses: {deny: [face-recogniton]}\n", ":3", "did you mean 'face-recognition'"),
    ("id: model/x@1\nlicence: MIT\n", ":2", "did you mean 'license'"),
    ("id: model/x@1\nuses: [\n", ":3", "malformed YAML"),
    ("id: model/x@1\nderived_from:\n  - {asset: model/missing@1, relation: trained-on}\n", "", "not registered"),
    ("id: model/x@1\nderived_from:\n  - {asset: model/y@1, relation: trained-by}\n", ":3", "did you mean 'trained-on'"),
    ("id: thing/x@1\n", ":1", "unknown kind"),
])
def test_add_bad_input_one_line_nothing_written(tmp_path, capsys, text, where, needle):
    db = str(tmp_path / "r.db")
    good = tmp_path / "good.yaml"
    good.write_text("id: dataset/ok@1\nlicense: MIT\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    code, _, err = run(capsys, "add", str(good), str(bad), "--registry", db)
    assert code == 1
    assert err.count("\n") == 1, err
    assert needle in err and f"bad.yaml{where}" in err
    code, d, _ = run(capsys, "ls", "--json", "--registry", db)
    assert d == []  # the good file was not half-registered


def test_lineage_cycle_refused(tmp_path, capsys):
    f = tmp_path / "cyc.yaml"
    f.write_text("assets:\n - id: model/a@1\n   derived_from: [{asset: model/b@1, relation: fine-tuned-from}]\n"
                 " - id: model/b@1\n   derived_from: [{asset: model/a@1, relation: fine-tuned-from}]\n")
    code, _, err = run(capsys, "add", str(f), "--registry", str(tmp_path / "r.db"))
    assert code == 1 and "lineage cycle" in err


def test_show_json(reg, capsys):
    code, d, _ = run(capsys, "show", "application/helpdesk-bot@1", "--json", "--registry", reg)
    assert code == 0
    assert d["asset"]["id"] == "application/helpdesk-bot@1" and d["withdrawn"] is None
    assert [u["id"] for u in d["upstream"]][:2] == ["model/support-assistant@1", "model/foundation-lm@1"]
    denies = {(x["use"], x["asset"]) for x in d["effective"]["deny"]}
    assert ("machine-translation", "dataset/community-emails@1") in denies
    assert {"duty": "share-alike", "source": "license:CC-BY-SA-4.0", "asset": "dataset/forum-posts@1"}.items() <= \
        next(x for x in d["effective"]["duties"] if x["duty"] == "share-alike").items()


def test_show_latest_version_by_name(reg, capsys):
    code, d, _ = run(capsys, "show", "model/translator", "--json", "--registry", reg)
    assert code == 0 and d["asset"]["id"] == "model/translator@1"


def test_ls_allowed(reg, capsys):
    code, d, _ = run(capsys, "ls", "--kind", "model", "--allowed", "fine-tuning,commercial", "--json", "--registry", reg)
    assert code == 0
    assert [x["id"] for x in d] == ["model/foundation-lm@1", "model/open-lm@1", "model/vision-encoder@1",
                                    "model/support-assistant@1", "model/translator@1", "model/photo-tagger@1"]
    assert set(d[0]) == {"id", "kind", "name", "version", "licenses", "withdrawn"}


def test_trace_down_and_up_with_depth(reg, capsys):
    code, d, _ = run(capsys, "trace", "dataset/public-domain-books@1", "--down", "--json", "--registry", reg)
    assert code == 0 and d["direction"] == "down"
    ids = {x["id"]: x["depth"] for x in d["assets"]}
    assert ids["model/foundation-lm@1"] == 1 and ids["application/helpdesk-bot@1"] == 3
    assert "application/photo-search@1" in ids
    code, d, _ = run(capsys, "trace", "dataset/public-domain-books@1", "--down", "--depth", "1", "--json", "--registry", reg)
    assert {x["depth"] for x in d["assets"]} == {1} and len(d["assets"]) == 3
    code, d, _ = run(capsys, "trace", "model/photo-tagger@1", "--up", "--json", "--registry", reg)
    # evaluated-on does not propagate, so face-photos is not upstream
    assert [x["id"] for x in d["assets"]] == ["model/vision-encoder@1", "dataset/public-domain-books@1"]


def test_trace_needs_direction(reg, capsys):
    with pytest.raises(SystemExit) as e:
        main(["trace", "model/open-lm@1", "--registry", reg])
    assert e.value.code == 2


def test_withdraw_lists_downstream_and_denies(reg, capsys):
    code, d, _ = run(capsys, "withdraw", "dataset/forum-posts@1", "--reason", "consent revoked", "--json", "--registry", reg)
    assert code == 0
    assert [x["id"] for x in d["affected"]] == ["model/foundation-lm@1", "model/support-assistant@1", "application/helpdesk-bot@1"]
    code, d, _ = run(capsys, "can", "application/helpdesk-bot@1", "inference", "conversational-agent", "--json", "--registry", reg)
    assert code == 3
    assert [(r["rule"], r["asset"], r["use"], r["source"]) for r in d["reasons"]] == [("withdrawn", "dataset/forum-posts@1", None, "withdrawal")]
    assert d["reasons"][0]["path"] == ["application/helpdesk-bot@1", "model/support-assistant@1", "model/foundation-lm@1", "dataset/forum-posts@1"]
    assert "consent revoked" in d["reasons"][0]["detail"]
    code, _, err = run(capsys, "withdraw", "dataset/forum-posts@1", "--reason", "again", "--registry", reg)
    assert code == 1 and "already withdrawn" in err


def test_missing_registry_is_an_error(tmp_path, capsys):
    code, _, err = run(capsys, "show", "model/x@1", "--registry", str(tmp_path / "none.db"))
    assert code == 1 and "charter init" in err


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["can"])
    assert e.value.code == 2


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Function creep" in out and "DENIED model/photo-tagger@1" in out
    # the partner's own gateway, on the registry it filled from the signed bundle: the creep use refused
    # there, then the publisher's signed withdrawal feed reaches it (each step checks its HTTP status)
    partner = out[out.index("The partner deploys the imported translator"):]
    assert "HTTP 403 permission_denied" in partner and "HTTP 451" in partner and "(signed by demo-publisher" in partner
    assert main(["demo", "--dir", str(tmp_path)]) == 0  # repeatable


def test_console_script_installed(tmp_path):
    exe = Path(sys.executable).parent / "charter"
    r = subprocess.run([str(exe), "can", "model/x@1", "inference", "--registry", str(tmp_path / "no.db")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("charter: error:")


def test_restrict_reaches_downstream_and_shows(reg, capsys):
    code, d, _ = run(capsys, "can", "application/helpdesk-bot@1", "inference", "conversational-agent", "--json", "--registry", reg)
    assert code == 0
    code, d, _ = run(capsys, "restrict", "model/foundation-lm@1", "--deny", "conversational-agent", "--reason", "publisher's new terms",
                     "--json", "--registry", reg)
    assert code == 0 and d["deny"] == ["conversational-agent"] and d["reason"] == "publisher's new terms"
    assert [x["id"] for x in d["affected"]] == ["model/support-assistant@1", "application/helpdesk-bot@1"]
    code, d, _ = run(capsys, "can", "application/helpdesk-bot@1", "inference", "conversational-agent", "--json", "--registry", reg)
    assert code == 3
    assert [(r["rule"], r["asset"], r["source"], r["path"]) for r in d["reasons"]] == [
        ("deny", "model/foundation-lm@1", "restriction", ["application/helpdesk-bot@1", "model/support-assistant@1", "model/foundation-lm@1"])]
    assert "publisher's new terms" in d["reasons"][0]["detail"]
    code, d, _ = run(capsys, "show", "application/helpdesk-bot@1", "--json", "--registry", reg)
    assert {"use": "conversational-agent", "source": "restriction", "asset": "model/foundation-lm@1"}.items() <= \
        next(x for x in d["effective"]["deny"] if x["source"] == "restriction").items()
    code, _, err = run(capsys, "restrict", "model/foundation-lm@1", "--deny", "face-recognitoin", "--reason", "x", "--registry", reg)
    assert code == 1 and "face-recognition" in err  # did you mean


def test_requirement_in_a_charter_file_and_show(tmp_path, capsys):
    from charter.core.assets import Property
    from charter.registry import Registry

    db = str(tmp_path / "r.db")
    f = tmp_path / "m.yaml"
    f.write_text("id: model/m@1\nlicense: Apache-2.0\n"
                 "requires: [{use: employment-decisions, benchmark: bbq, metric: amb_bias_score, max: 0.05}]\n")
    assert run(capsys, "add", str(f), "--registry", db)[0] == 0
    code, d, _ = run(capsys, "can", "model/m@1", "inference", "employment-decisions", "--json", "--registry", db)
    assert code == 3 and [r["rule"] for r in d["reasons"]] == ["property-missing"]
    r = Registry.open(db)
    r.attach([Property("model/m@1", "bbq", "bbq/1.0", "amb_bias_score", 0.02, (0.0, 0.04), 300, run="runs/x")])
    r.close()
    code, d, _ = run(capsys, "can", "model/m@1", "inference", "employment-decisions", "--json", "--registry", db)
    assert code == 0
    code, d, _ = run(capsys, "show", "model/m@1", "--json", "--registry", db)
    assert d["effective"]["requires"][0]["status"] == "met" and d["properties"][0]["ci"] == [0.0, 0.04]
    code, out, _ = run(capsys, "show", "model/m@1", "--registry", db)
    assert "bbq.amb_bias_score <= 0.05 for employment-decisions: met = 0.02" in out
    assert "95% CI [0, 0.04]" in out and "bbq/1.0" in out


@pytest.mark.parametrize("req, needle", [
    ("[{use: employment-decisions, benchmark: bqq, metric: acc, max: 1}]", "did you mean 'bbq'"),
    ("[{use: employment-decisions, benchmark: bbq, metric: amb_bias, max: 1}]", "amb_bias_score"),
    ("[{use: employment-decisions, benchmark: bbq, metric: acc}]", "needs a bound"),
    ("[{use: employment-decisions, benchmark: bbq, metric: acc, max: high}]", "'max' must be a number"),
    ("[{use: employmant-decisions, benchmark: bbq, metric: acc, max: 1}]", "employment-decisions"),
    ("{use: x}", "must be a list"),
])
def test_bad_requirement_names_the_field(tmp_path, capsys, req, needle):
    f = tmp_path / "m.yaml"
    f.write_text(f"id: model/m@1\nrequires: {req}\n")
    code, _, err = run(capsys, "add", str(f), "--registry", str(tmp_path / "r.db"))
    assert code == 1 and needle in err and "m.yaml:2" in err and err.count("\n") == 1, err


# === issue 12: withdrawals cannot be escaped; user text is printed literally ======================

def test_re_registering_withdrawn_data_under_a_new_version_is_refused(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "t.jsonl").write_text('{"text": "a post"}\n')
    (tmp_path / "t1.yaml").write_text("id: dataset/t@1\nlicense: CC0-1.0\ndata: [t.jsonl]\n")
    (tmp_path / "t2.yaml").write_text("id: dataset/t@2\nlicense: CC0-1.0\ndata: [t.jsonl]\n")
    (tmp_path / "t3.yaml").write_text("id: dataset/t@3\nlicense: CC0-1.0\n")
    assert run(capsys, "add", str(tmp_path / "t1.yaml"), "--registry", db)[0] == 0
    assert run(capsys, "withdraw", "dataset/t@1", "--reason", "consent revoked", "--registry", db)[0] == 0
    code, out, err = run(capsys, "add", str(tmp_path / "t2.yaml"), "--registry", db)
    assert code == 3 and "has the content of dataset/t@1" in err and "consent revoked" in err
    # other content under the same name inherits the withdrawal until it is lifted
    assert run(capsys, "add", str(tmp_path / "t3.yaml"), "--registry", db)[0] == 0
    code, out, err = run(capsys, "can", "dataset/t@3", "research", "--registry", db)
    assert code == 3 and "inherited from dataset/t@1" in out
    assert run(capsys, "withdraw", "--lift", "dataset/t@3", "--reason", "new consented data", "--registry", db)[0] == 0
    assert run(capsys, "can", "dataset/t@3", "research", "--registry", db)[0] == 0


def test_rich_markup_in_user_text_is_printed_literally(tmp_path, capsys):
    """A reason of `[/]` crashed the CLI after the withdrawal had committed."""
    db = str(tmp_path / "r.db")
    (tmp_path / "a.yaml").write_text('id: dataset/m@1\nlicense: CC0-1.0\ndescription: "[bold]loud[/] and [/] closed"\n')
    assert run(capsys, "add", str(tmp_path / "a.yaml"), "--registry", db)[0] == 0
    code, out, _ = run(capsys, "show", "dataset/m@1", "--registry", db)
    assert code == 0 and "[bold]loud[/] and [/] closed" in out
    code, out, _ = run(capsys, "restrict", "dataset/m@1", "--deny", "commercial", "--reason", "[red]x[/] [/]", "--registry", db)
    assert code == 0 and "[red]x[/] [/]" in out
    code, out, _ = run(capsys, "withdraw", "dataset/m@1", "--reason", "[/] gone [bold]", "--registry", db)
    assert code == 0 and "[/] gone [bold]" in out
    code, out, _ = run(capsys, "can", "dataset/m@1", "research", "--registry", db)
    assert code == 3 and "[/] gone [bold]" in out
    code, out, _ = run(capsys, "show", "dataset/m@1", "--registry", db)
    assert code == 0 and "[/] gone [bold]" in out and "[red]x[/] [/]" in out


def test_curate_out_pointing_at_a_file_is_one_line_exit_2(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "t.jsonl").write_text('{"text": "a post"}\n')
    (tmp_path / "t.yaml").write_text("id: dataset/t@1\nlicense: CC0-1.0\ndata: [t.jsonl]\n")
    (tmp_path / "out").write_text("a file")
    assert run(capsys, "add", str(tmp_path / "t.yaml"), "--registry", db)[0] == 0
    code, _, err = run(capsys, "curate", "dataset/t@1", "--for", "research", "--out", str(tmp_path / "out"), "--registry", db)
    assert code == 2 and err.count("\n") == 1 and "is not a folder" in err


def test_can_and_show_count_records_whose_owners_withdrew(tmp_path, capsys):
    """Record-level withdrawals were invisible in `can` and `show`: a dataset (and the model trained
    on it) showed ALLOWED with no word of the records its contributors had withdrawn."""
    db = str(tmp_path / "r.db")
    rows = [{"text": "a", "charter_owner": "alice"}, {"text": "b", "charter_owner": "bob"},
            {"text": "c", "charter_owner": "alice"}, {"text": "d", "charter_owner": "[bold]carol[/]"}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "d.yaml").write_text("assets:\n  - {id: dataset/msgs@1, license: CC0-1.0, data: [m.jsonl]}\n"
                                     "  - {id: model/lm@1, license: CC0-1.0, derived_from: [{asset: dataset/msgs@1, relation: trained-on}]}\n")
    assert run(capsys, "add", str(tmp_path / "d.yaml"), "--registry", db)[0] == 0
    code, out, _ = run(capsys, "can", "model/lm@1", "research", "--registry", db)
    assert code == 0 and "withdrew" not in out  # nobody has withdrawn yet
    assert run(capsys, "withdraw-records", "--owner", "alice", "--owner", "[bold]carol[/]", "--reason", "left", "--registry", db)[0] == 0
    held = {"records": 3, "owners": 2, "datasets": [{"asset": "dataset/msgs@1", "records": 3, "owners": 2, "curated": False}],
            "unreadable": [], "excluded_by": ["curate", "adapt", "train"]}
    for ref in ("dataset/msgs@1", "model/lm@1"):
        code, d, _ = run(capsys, "can", ref, "research", "--json", "--registry", db)
        assert code == 0 and d["allowed"] and d["withdrawn_records"] == held
        code, out, _ = run(capsys, "can", ref, "research", "--registry", db)
        assert code == 0 and ("note: records of 2 owners who withdrew consent: 3 in dataset/msgs@1; "
                              "curate, adapt and train exclude them from now on") in " ".join(out.split())
        code, d, _ = run(capsys, "show", ref, "--json", "--registry", db)
        assert code == 0 and d["withdrawn_records"] == held
        code, out, _ = run(capsys, "show", ref, "--registry", db)
        assert code == 0 and "consent: records of 2 owners who withdrew consent: 3 in dataset/msgs@1" in " ".join(out.split())


def test_add_refuses_data_outside_the_charter_folder_unless_data_root_widens_it(tmp_path, capsys):
    """Issue 12 §2: `data: [../x.jsonl]` read any file the user could; now it is refused naming file:line and the fix."""
    db = str(tmp_path / "r.db")
    (tmp_path / "shared.jsonl").write_text('{"text": "a post"}\n')
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "d.yaml").write_text("id: dataset/d@1\nlicense: CC0-1.0\ndata: [../shared.jsonl]\n")
    code, _, err = run(capsys, "add", str(tmp_path / "c" / "d.yaml"), "--registry", db)
    assert code == 1 and "outside the data root" in err and "d.yaml:3" in err and "--data-root" in err
    code, _, err = run(capsys, "add", str(tmp_path / "c" / "d.yaml"), "--data-root", str(tmp_path), "--registry", db)
    assert code == 0, err


def test_restrict_lift_frees_a_new_version_of_a_restricted_name(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "t1.yaml").write_text("id: dataset/t@1\nlicense: CC0-1.0\n")
    (tmp_path / "t2.yaml").write_text("id: dataset/t@2\nlicense: CC0-1.0\ndescription: relicensed\n")
    assert run(capsys, "add", str(tmp_path / "t1.yaml"), "--registry", db)[0] == 0
    assert run(capsys, "restrict", "dataset/t@1", "--deny", "commercial", "--reason", "licence dispute", "--registry", db)[0] == 0
    assert run(capsys, "add", str(tmp_path / "t2.yaml"), "--registry", db)[0] == 0
    code, d, _ = run(capsys, "can", "dataset/t@2", "commercial", "--json", "--registry", db)
    assert code == 3 and d["reasons"][0]["source"] == "restriction" and "inherited from dataset/t@1" in d["reasons"][0]["detail"]
    code, d, _ = run(capsys, "restrict", "--lift", "dataset/t@2", "--reason", "settled", "--json", "--registry", db)
    assert code == 0 and d["lifted"] is True and d["deny"] == ["commercial"] and d["reason"] == "settled"
    assert run(capsys, "can", "dataset/t@2", "commercial", "--registry", db)[0] == 0
    assert run(capsys, "can", "dataset/t@1", "commercial", "--registry", db)[0] == 3  # its own stays
    code, _, err = run(capsys, "restrict", "--lift", "dataset/t@2", "--reason", "again", "--registry", db)
    assert code == 1 and "has no restrictions" in err
    code, _, err = run(capsys, "restrict", "dataset/t@2", "--reason", "neither", "--registry", db)
    assert code == 2 and "--deny" in err
    code, _, err = run(capsys, "restrict", "--lift", "dataset/t@2", "--deny", "research", "--reason", "both", "--registry", db)
    assert code == 2 and "not both" in err


# --- volunteer compute (issue 13) ---------------------------------------------------------------

ALICE = str(resource("examples") / "compute-alice.yaml")
TRAINED = """
assets:
  - {id: dataset/web@1, license: MIT}
  - id: model/m@1
    license: MIT
    derived_from:
      - {asset: dataset/web@1, relation: trained-on}
      - {asset: compute/alice-workstation@1, relation: trained-with}
    notes:
      contributors: [{compute: compute/alice-workstation@1, samples: 1200, steps: 40}]
  - id: model/m-lora@1
    license: MIT
    derived_from: [{asset: model/m@1, relation: adapter-of}]
"""


@pytest.fixture
def volunteer(tmp_path):
    db = str(tmp_path / "r.db")
    (tmp_path / "m.yaml").write_text(TRAINED)
    assert main(["add", ALICE, str(tmp_path / "m.yaml"), "--registry", db]) == 0
    return db


def test_can_a_model_trained_with_a_volunteer_names_the_compute(volunteer, capsys):
    code, out, _ = run(capsys, "can", "model/m@1", "military", "--registry", volunteer)
    assert code == 3
    assert "deny military: compute/alice-workstation@1 denies military (uses.deny)" in out
    assert "path: model/m@1 -> compute/alice-workstation@1" in out
    code, d, _ = run(capsys, "can", "model/m-lora@1", "surveillance", "--json", "--registry", volunteer)
    assert code == 3 and [(r["asset"], r["path"]) for r in d["reasons"]] == [
        ("compute/alice-workstation@1", ["model/m-lora@1", "model/m@1", "compute/alice-workstation@1"])]
    assert run(capsys, "can", "model/m-lora@1", "scientific-research", "commercial", "--registry", volunteer)[0] == 0


def test_can_on_compute_itself(volunteer, capsys):
    code, out, _ = run(capsys, "can", "compute/alice-workstation@1", "military", "--registry", volunteer)
    assert code == 3 and "path: compute/alice-workstation@1" in out
    assert run(capsys, "can", "compute/alice-workstation@1", "commercial", "--registry", volunteer)[0] == 0  # no licence: no 'unspecified'
    code, d, _ = run(capsys, "ls", "--kind", "compute", "--json", "--registry", volunteer)
    assert [x["id"] for x in d] == ["compute/alice-workstation@1"] and d[0]["licenses"] == []


def test_card_and_show_list_contributors(volunteer, capsys):
    want = [{"compute": "compute/alice-workstation@1", "model": "model/m@1", "path": ["model/m@1", "compute/alice-workstation@1"],
             "samples": 1200, "steps": 40, "owner": "Alice Example <alice@example.org>"}]
    code, out, _ = run(capsys, "card", "model/m@1", "--registry", volunteer)
    assert code == 0
    section = out.split("## Contributors")[1].split("\n## ")[0]
    assert "| `compute/alice-workstation@1` | Alice Example <alice@example.org> | this | 1,200 | 40 |" in section
    code, d, _ = run(capsys, "card", "model/m@1", "--json", "--registry", volunteer)
    assert code == 0 and d["contributors"] == want and "## Contributors" in d["card"]
    code, d, _ = run(capsys, "show", "model/m-lora@1", "--json", "--registry", volunteer)
    assert code == 0 and d["contributors"] == [{**want[0], "path": ["model/m-lora@1", *want[0]["path"]]}]
    code, out, _ = run(capsys, "show", "model/m-lora@1", "--registry", volunteer)
    assert "contributors" in out and "compute/alice-workstation@1 (Alice Example <alice@example.org>): 1,200 samples, 40 steps" in out
    code, d, _ = run(capsys, "show", "compute/alice-workstation@1", "--json", "--registry", volunteer)
    assert d["asset"]["public_key"].startswith("ed25519:") and d["contributors"] == []
    code, out, _ = run(capsys, "card", "dataset/web@1", "--registry", volunteer)
    assert "## Contributors" not in out  # only where compute contributed


def test_add_compute_with_a_bad_key_is_one_line(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("id: compute/x@1\nuses: {deny: [military]}\npublic_key: ed25519:AAAA\n")
    code, _, err = run(capsys, "add", str(tmp_path / "c.yaml"), "--registry", str(tmp_path / "r.db"))
    assert code == 1 and err.count("\n") == 1
    assert f"{tmp_path / 'c.yaml'}:3: public_key: public key is 3 bytes, an Ed25519 key is 32 (fix: write public_key: ed25519:" in err


def test_can_attest_a_licence_condition(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "m.yaml").write_text("id: model/sd@1\nlicense: stabilityai-community\n")
    assert run(capsys, "add", str(tmp_path / "m.yaml"), "--registry", db)[0] == 0
    code, out, _ = run(capsys, "can", "model/sd@1", "inference", "commercial", "--registry", db)
    assert code == 3 and "condition commercial: model/sd@1's licence stabilityai-community permits commercial only if" in out
    assert "--attest stability-under-1m-revenue" in out
    code, out, _ = run(capsys, "can", "model/sd@1", "inference", "commercial", "--attest", "stability-under-1m-revenue", "--registry", db)
    assert code == 0 and "on condition stability-under-1m-revenue" in out
    code, d, _ = run(capsys, "can", "model/sd@1", "commercial", "--attest", "stability-under-1m-revenue", "--registry", db, "--json")
    assert d["allowed"] and d["conditions"][0]["condition"] == "stability-under-1m-revenue"
    # the recorded decision keeps what it rests on
    code, _, err = run(capsys, "can", "model/sd@1", "commercial", "--attest", "stability-under-1m-revenu", "--registry", db)
    assert code == 1 and "'stability-under-1m-revenu' is not a licence condition" in err and "did you mean 'stability-under-1m-revenue'" in err
    # an application's charter attests; a typo there is refused at registration with the file named
    (tmp_path / "app.yaml").write_text("id: application/poster@1\nlicense: proprietary\nattest: [stability-under-1m-revenu]\n"
                                       "derived_from: [{asset: model/sd@1, relation: deployed-from}]\n")
    code, _, err = run(capsys, "add", str(tmp_path / "app.yaml"), "--registry", db)
    assert code == 1 and "app.yaml" in err and "is not a licence condition" in err
    (tmp_path / "app.yaml").write_text("id: application/poster@1\nlicense: proprietary\nattest: [stability-under-1m-revenue]\n"
                                       "derived_from: [{asset: model/sd@1, relation: deployed-from}]\n")
    assert run(capsys, "add", str(tmp_path / "app.yaml"), "--registry", db)[0] == 0
    assert run(capsys, "can", "application/poster@1", "image-generation", "commercial", "--registry", db)[0] == 0
    code, out, _ = run(capsys, "show", "model/sd@1", "--registry", db)
    assert "permitted only under conditions" in out and "stability-under-1m-revenue" in out


def test_attest_reaches_every_step(tmp_path, capsys):
    """--attest is common to every command: a pipeline step decides through Registry.can, so a licence
    condition attested on `charter eval` (or adapt, curate, train) lets its decision through, recorded."""
    db = str(tmp_path / "r.db")
    (tmp_path / "m.yaml").write_text("id: model/sd@1\nlicense: stabilityai-community\n")
    assert run(capsys, "add", str(tmp_path / "m.yaml"), "--registry", db)[0] == 0
    code, out, err = run(capsys, "eval", "model/sd@1", "--bench", "crows-pairs", "--for", "commercial", "--out", str(tmp_path / "e"),
                         "--registry", db)
    assert code == 3 and "permits commercial only if" in " ".join((out + err).split())
    code, out, err = run(capsys, "eval", "model/sd@1", "--bench", "crows-pairs", "--for", "commercial", "--out", str(tmp_path / "e"),
                         "--attest", "stability-under-1m-revenue", "--registry", db)
    assert code == 1 and "has no registered weights" in err  # decided (allowed), then refused for what it is: no weights to load
    from charter.registry import Registry

    r = Registry.open(db)
    last = [e for e in r.store.events(asset="model/sd@1") if e.type == "decision"][-1]
    assert last.data["allowed"] and last.data["conditions"][0]["condition"] == "stability-under-1m-revenue"
    r.close()
    code, _, err = run(capsys, "eval", "model/sd@1", "--bench", "crows-pairs", "--attest", "nope-condition", "--registry", db)
    assert code == 1 and "'nope-condition' is not a licence condition" in err


def test_ls_plain_lines_print_user_text_inert(tmp_path, capsys):
    reg = tmp_path / "r.db"
    (tmp_path / "a.yaml").write_text('id: model/odd@1\nlicense: "MIT\\tx\\u001b[31m"\n', encoding="utf-8")
    assert run(capsys, "add", str(tmp_path / "a.yaml"), "--registry", str(reg))[0] == 0
    code, out, _ = run(capsys, "ls", "--registry", str(reg))  # not a terminal: tab-separated lines
    lines = out.splitlines()
    assert code == 0 and lines[0] == "id\tlicence\tstate"
    assert lines[1] == "model/odd@1\tMIT?x?[31m\t" and lines[-1] == "1 assets"


def test_demo_refuses_a_registry_that_is_not_empty(tmp_path, capsys):
    """`charter demo --registry URL` (./dev demo --postgres) registers its own assets: it never runs over someone's."""
    db = str(tmp_path / "r.db")
    assert main(["add", ECO, "--registry", db]) == 0
    capsys.readouterr()
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--registry", db]) == 2
    err = capsys.readouterr().err
    assert "the demo needs an empty registry" in err and "holds 15 assets" in err and "fix:" in err
