"""`charter import dpi | ecosystem-graphs | hf-card`: --json schema (docs/importers.md), text
summary, re-import is a no-op, bad input is one line with exit 1 and nothing written."""

from __future__ import annotations

import shutil

import pytest

from charter.cli.main import main
from charter.store import open_store
from tests.imports.conftest import DPI, DPI_MINI, EG, EG_REAL, HF, ROOT, needs_dpi, run

REPORT_KEYS = {"importer", "input", "files", "assets", "skipped", "dangling", "placeholders", "renamed", "unmapped_licenses", "stats"}


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "r.db")


def test_dpi_json_and_reimport(db, capsys):
    code, out, _ = run(capsys, main, "import", "dpi", DPI_MINI, "--registry", db, "--json")
    assert code == 0
    assert set(out) == {"added", "unchanged", "report"} and set(out["report"]) == REPORT_KEYS
    assert sorted(out["added"]) == ["dataset/mini-research@dpi", "dataset/mini-seed@dpi", "dataset/mini-synthetic@dpi",
                                    "model/llama-2-70b-chat-hf@dpi", "model/openai-gpt-4@dpi"]
    assert out["unchanged"] == []
    assert out["report"]["stats"]["charter_allowed"] == {"uses": ["commercial", "fine-tuning"], "datasets": 1}
    code, again, _ = run(capsys, main, "import", "dpi", DPI_MINI, "--registry", db, "--json")
    assert code == 0 and again["added"] == [] and sorted(again["unchanged"]) == sorted(out["added"])
    code, ls, _ = run(capsys, main, "ls", "--kind", "dataset", "--allowed", "commercial,fine-tuning", "--registry", db, "--json")
    assert [x["id"] for x in ls] == ["dataset/mini-seed@dpi"]


def test_dpi_text_summary(db, capsys):
    code, out, _ = run(capsys, main, "import", "dpi", DPI_MINI, "--registry", db)
    assert code == 0
    assert "dpi import of" in out and "added 5, unchanged 0" in out
    assert "DPI's rule (the most permissive source wins): 2 of 3 datasets commercial" in out
    assert "1 of 3 allowed for commercial,fine-tuning" in out
    assert "Some External Corpus" in out


@needs_dpi
def test_dpi_real_snapshot_through_the_cli(db, capsys):
    code, out, _ = run(capsys, main, "import", "dpi", DPI, "--registry", db, "--json")
    assert code == 0 and len(out["added"]) == 2310 + 57
    assert out["report"]["stats"]["charter_allowed"]["datasets"] == 658
    code, ls, _ = run(capsys, main, "ls", "--kind", "dataset", "--allowed", "commercial,fine-tuning", "--registry", db, "--json")
    assert len(ls) == 658
    code, d, _ = run(capsys, main, "can", "dataset/alpaca@dpi", "commercial", "fine-tuning", "--registry", db, "--json")
    assert code == 3 and [r["source"] for r in d["reasons"]] == ["license:CC-BY-NC-4.0"]


def test_ecosystem_graphs_cli(db, capsys):
    code, out, _ = run(capsys, main, "import", "ecosystem-graphs", EG, "--registry", db, "--json")
    assert code == 0 and len(out["added"]) == 12 and set(out["report"]) == REPORT_KEYS
    assert len(out["report"]["dangling"]) == 6
    code, d, _ = run(capsys, main, "can", "application/photon-door-camera@eg", "face-recognition", "--registry", db, "--json")
    assert code == 3 and d["reasons"][0]["path"] == ["application/photon-door-camera@eg", "model/photon-tagger@eg", "model/lumen-vision-encoder@eg"]
    code, text, _ = run(capsys, main, "import", "ecosystem-graphs", EG, "--registry", db)
    assert code == 0 and "added 0, unchanged 12" in text
    assert "model/lumen-vision-encoder@eg denies face-recognition, surveillance" in text
    assert "coverage: 12 of 12 entries imported (0 under a new id: see renamed)" in text
    assert "licences: 8 of 10 distinct strings mapped (10 of 12 entries; 0 without one); not mapped: 'custom' (1), 'proprietary' (1)" in text
    assert "prohibited uses: 5 of 6 texts matched at least one use" in text
    assert "dependencies: 9 linked, 6 dangling (6 distinct names)" in text


def test_ecosystem_graphs_cli_real_collision_and_coverage(db, capsys):
    """Real entries: "Command R+" is imported under its own id and the report says why; the
    coverage figures are in --json (stats.coverage) and in the text."""
    code, out, _ = run(capsys, main, "import", "ecosystem-graphs", EG_REAL, "--registry", db, "--json")
    assert code == 0 and len(out["added"]) == 14 and out["report"]["skipped"] == []
    assert out["report"]["renamed"][0]["asset"] == "model/command-r-plus@eg"
    cov = out["report"]["stats"]["coverage"]
    assert (cov["imported"], cov["licenses"]["strings_mapped"], cov["licenses"]["strings"], cov["prohibited_uses"]["matched"]) == (14, 7, 9, 4)
    code, d, _ = run(capsys, main, "can", "model/command-r-plus@eg", "commercial", "--registry", db, "--json")
    assert code == 3 and "license:CC-BY-NC-4.0" in [r["source"] for r in d["reasons"]]
    code, text, _ = run(capsys, main, "import", "ecosystem-graphs", EG_REAL, "--registry", db)
    assert code == 0 and "coverage: 14 of 14 entries imported (3 under a new id: see renamed)" in text
    assert "Command R+ -> model/command-r-plus@eg: 'Command R' (" in text
    assert "licences: 7 of 9 distinct strings mapped (12 of 14 entries; 0 without one); not mapped: 'Wordtune License' (1), 'custom' (1)" in text


def test_hf_card_cli(db, capsys):
    code, out, _ = run(capsys, main, "import", "hf-card", HF / "tinyllama-support-lora" / "README.md", "--registry", db, "--json")
    assert code == 0 and out["added"][-1] == "model/tinyllama-support-lora@hf"
    assert [p["asset"] for p in out["report"]["placeholders"]] == out["added"][:-1]
    code, out, _ = run(capsys, main, "import", "hf-card", HF / "tinyllama-support-lora", "--name", "support-lora", "--version", "2", "--registry", db, "--json")
    assert out["added"] == ["model/support-lora@2"] and out["report"]["placeholders"] == []  # upstream already registered
    code, text, _ = run(capsys, main, "import", "hf-card", HF / "mistral-merge" / "README.md", "--registry", db)
    assert code == 0 and "placeholders created: 2" in text and "model/hermes-instruct-merge-7b@hf (merge)" in text


@pytest.mark.parametrize("argv, where, message", [
    (["dpi", "{tmp}/nowhere"], "{tmp}/nowhere", "directory not found"),
    (["ecosystem-graphs", "{tmp}/nowhere"], "{tmp}/nowhere", "directory not found"),
    (["hf-card", str(HF / "no-front-matter" / "README.md")], str(HF / "no-front-matter" / "README.md") + ":1", "no YAML front matter"),
])
def test_bad_input_one_line_exit_1(db, tmp_path, capsys, argv, where, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run(capsys, main, "import", *argv, "--registry", db, "--json")
    assert code == 1
    assert out["error"] == "invalid-input" and out["where"] == where.replace("{tmp}", str(tmp_path)) and out["message"] == message
    assert len(err.strip().splitlines()) == 1 and err.startswith("charter: error: ")


def test_nothing_half_written(db, tmp_path, capsys):
    bad = tmp_path / "eg"
    shutil.copytree(EG, bad)
    (bad / "zz-broken.yaml").write_text("- type: model\n  name: Broken\n  license: [oops\n")
    code, _, err = run(capsys, main, "import", "ecosystem-graphs", bad, "--registry", db)
    assert code == 1 and "zz-broken.yaml:" in err and "malformed YAML" in err
    assert open_store(db).count() == 0  # the eleven good files were not registered either
    mini = tmp_path / "dpi"
    shutil.copytree(DPI_MINI, mini)
    f = mini / "data_summaries" / "Mini Collection.json"
    f.write_text(f.read_text()[:-10])
    code, _, err = run(capsys, main, "import", "dpi", mini, "--registry", db)
    assert code == 1 and f"{f}:" in err and "malformed JSON" in err
    assert open_store(db).count() == 0


def test_conflict_on_changed_content_same_version(db, tmp_path, capsys):
    card = tmp_path / "m" / "README.md"
    card.parent.mkdir()
    card.write_text("---\nlicense: mit\n---\n# m\nFirst text.\n")
    assert run(capsys, main, "import", "hf-card", card, "--registry", db)[0] == 0
    card.write_text("---\nlicense: cc-by-nc-4.0\n---\n# m\nFirst text.\n")
    code, out, _ = run(capsys, main, "import", "hf-card", card, "--registry", db, "--json")
    assert code == 1 and out["error"] == "conflict" and "bump the version" in out["hint"]


def test_help_and_docs_cover_every_importer(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    helptext = capsys.readouterr().out
    doc = (ROOT / "docs" / "importers.md").read_text()
    for cmd in ("dpi", "ecosystem-graphs", "hf-card"):
        assert cmd in helptext
        assert f"charter import {cmd}" in doc
    for key in REPORT_KEYS:
        assert f'"{key}"' in doc, key
