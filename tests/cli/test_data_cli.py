"""`charter curate` and `charter withdraw-records`: exit codes, --json schemas, text output."""

from __future__ import annotations

import json

import pytest

from charter.cli.main import main
from clirun import run
from charter.data.synth import write_community_corpus

MESSAGES, WEB, BOOKS = "dataset/community-messages@1", "dataset/web-text@1", "dataset/public-domain-books@2"
CURATE_KEYS = {"dataset", "manifest", "input", "output", "excluded", "resumed_shards", "already_done"}
WITHDRAW_KEYS = {"owners", "already_withdrawn", "reason", "sources", "curated", "affected", "unreadable"}


@pytest.fixture
def db(tmp_path):
    charters = write_community_corpus(tmp_path / "corpus", messages=200)
    path = str(tmp_path / "r.db")
    assert main(["add", str(charters), "--registry", path]) == 0
    return path




def test_curate_json_schema(db, tmp_path, capsys):
    out = str(tmp_path / "cur")
    argv = ("curate", MESSAGES, WEB, BOOKS, "--for", "fine-tuning", "machine-translation", "commercial", "--out", out,
            "--dedup", "exact", "--min-chars", "10", "--json", "--registry", db)
    code, d, err = run(capsys, *argv)
    assert code == 0, err
    assert set(d) == CURATE_KEYS
    assert d["dataset"].startswith("dataset/cur@") and d["manifest"] == str(tmp_path / "cur" / "manifest.json")
    assert d["input"] == 200 + 100 + 50 and d["input"] == d["output"] + sum(d["excluded"].values())
    assert d["excluded"]["source-deny:commercial:license:CC-BY-NC-4.0"] == 100
    assert d["resumed_shards"] == 0 and d["already_done"] is False
    manifest = json.loads((tmp_path / "cur" / "manifest.json").read_text())
    assert manifest["output"] == d["output"] and manifest["excluded"] == d["excluded"]
    code, again, _ = run(capsys, *argv)
    assert code == 0 and again == {**d, "already_done": True}


def test_curate_text_output_and_show(db, tmp_path, capsys):
    code, out, _ = run(capsys, "curate", MESSAGES, BOOKS, "--for", "training", "research", "--out", str(tmp_path / "c"),
                       "--name", "community-text", "--version", "1", "--dedup", "exact", "--registry", db)
    assert code == 0
    assert "curated dataset/community-text@1 for training, research" in out and "records kept" in out
    assert "exact-duplicate" in out and "manifest:" in out
    code, out, _ = run(capsys, "show", "dataset/community-text@1", "--registry", db)
    assert code == 0
    assert "curated for training, research:" in out and "records kept; manifest" in out and "exact-duplicate" in out
    code, d, _ = run(capsys, "show", "dataset/community-text@1", "--json", "--registry", db)
    assert code == 0 and d["asset"]["notes"]["curation"]["uses"] == ["training", "research"]


def test_curate_every_source_denied_exit_3(db, tmp_path, capsys):
    code, d, _ = run(capsys, "curate", WEB, "--for", "training", "commercial", "--out", str(tmp_path / "c"), "--json", "--registry", db)
    assert code == 3
    assert d["output"] == 0 and d["excluded"] == {"source-deny:commercial:license:CC-BY-NC-4.0": 100}
    code, out, _ = run(capsys, "curate", WEB, "--for", "training", "commercial", "--out", str(tmp_path / "c"), "--registry", db)
    assert code == 3 and "source denied" in out and "already done" in out


@pytest.mark.parametrize("extra", [["--dedup", "fuzzy"], ["--on-error", "ignore"], ["--min-chars", "x"]])
def test_curate_bad_options_exit_2(db, tmp_path, capsys, extra):
    with pytest.raises(SystemExit) as e:
        main(["curate", MESSAGES, "--for", "training", "--out", str(tmp_path / "c"), *extra, "--registry", db])
    assert e.value.code == 2
    assert not (tmp_path / "c").exists()


def test_curate_negative_max_records_exit_2(db, tmp_path, capsys):
    code, d, err = run(capsys, "curate", MESSAGES, "--for", "training", "--out", str(tmp_path / "c"), "--max-records", "-1",
                       "--json", "--registry", db)
    assert code == 2 and d["error"] == "usage" and "--max-records" in err


def test_curate_errors_exit_1_one_line(db, tmp_path, capsys):
    code, _, err = run(capsys, "curate", MESSAGES, "--for", "machine-translaton", "--out", str(tmp_path / "c"), "--registry", db)
    assert code == 1 and "did you mean 'machine-translation'" in err and err.count("\n") == 1
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    code, d, err = run(capsys, "curate", MESSAGES, "--for", "training", "--out", str(tmp_path / "busy"), "--json", "--registry", db)
    assert code == 1 and d["error"] == "conflict" and "other files" in err


def test_withdraw_records_json_schema(db, tmp_path, capsys):
    code, cur, _ = run(capsys, "curate", MESSAGES, "--for", "training", "research", "--out", str(tmp_path / "c"), "--json", "--registry", db)
    assert code == 0
    owner = "member-000"
    msgs = [json.loads(line) for f in sorted((tmp_path / "corpus" / "community-messages").glob("*.jsonl")) for line in f.read_text().splitlines()]
    theirs = sum(m["charter_owner"] == owner for m in msgs)
    assert theirs > 0
    code, d, _ = run(capsys, "withdraw-records", "--owner", owner, "--reason", "left the project", "--json", "--registry", db)
    assert code == 0 and set(d) == WITHDRAW_KEYS
    assert d["owners"] == [owner] and d["already_withdrawn"] == [] and d["reason"] == "left the project"
    assert d["sources"] == [{"asset": MESSAGES, "records": theirs}]
    assert [x["asset"] for x in d["curated"]] == [cur["dataset"]] and d["affected"] == []
    # --owners-file (comments and blank lines ignored), combined with --owner
    f = tmp_path / "owners.txt"
    f.write_text("# requests of May\nmember-001\n\nmember-000\n")
    code, d, _ = run(capsys, "withdraw-records", "--owners-file", str(f), "--owner", "member-002", "--reason", "r", "--json", "--registry", db)
    assert code == 0 and d["owners"] == ["member-002", "member-001"] and d["already_withdrawn"] == [owner]
    code, out, _ = run(capsys, "withdraw-records", "--owner", "member-003", "--reason", "r", "--registry", db)
    assert code == 0 and "consent withdrawn" in out and "member-003" in out


def test_withdraw_records_usage_errors(db, tmp_path, capsys):
    code, _, err = run(capsys, "withdraw-records", "--reason", "r", "--registry", db)
    assert code == 2 and "no owners given" in err
    code, _, err = run(capsys, "withdraw-records", "--owners-file", str(tmp_path / "missing.txt"), "--reason", "r", "--registry", db)
    assert code == 2 and "cannot read" in err
    code, _, err = run(capsys, "withdraw-records", "--owner", "x", "--reason", "  ", "--registry", db)
    assert code == 1 and "reason" in err


# === issue 12: withdraw-records validates before it writes, and scans before the write =============

def _recorded(db) -> dict:
    from charter.registry import Registry

    reg = Registry.open(db, create=False)
    try:
        return reg.store.owner_withdrawals()
    finally:
        reg.close()


def test_withdraw_records_refuses_bad_input_before_writing(db, tmp_path, capsys):
    f = tmp_path / "owners.txt"
    f.write_bytes(b"member-000\n\xff\xfe member-001\n")  # not UTF-8: was a raw UnicodeDecodeError
    code, _, err = run(capsys, "withdraw-records", "--owners-file", str(f), "--reason", "r", "--registry", db)
    assert code == 2 and "is not UTF-8 text (byte 11)" in err and err.count("\n") == 1, err
    code, _, err = run(capsys, "withdraw-records", "--owners-file", str(tmp_path), "--reason", "r", "--registry", db)
    assert code == 2 and "cannot read" in err and err.count("\n") == 1, err  # a folder, not a file
    # an empty id was silently dropped while the others were recorded
    code, _, err = run(capsys, "withdraw-records", "--owner", "member-000", "--owner", " ", "--reason", "r", "--registry", db)
    assert code == 1 and "owner id #2 is empty" in err and err.count("\n") == 1, err
    assert _recorded(db) == {}


def test_withdraw_records_scans_before_writing_and_reports_unreadable_datasets(db, tmp_path, capsys, monkeypatch):
    """The scan ran after the commit, so a dataset that could not be read failed the command (exit 1)
    with the withdrawal already recorded; now the scan comes first and an unreadable dataset is
    reported, never fatal."""
    import charter.data.owners as owners_mod

    (tmp_path / "corpus" / "web-text" / "web-00.parquet").write_bytes(b"not parquet any more")
    seen = []
    scan = getattr(owners_mod, "_scan", None)

    def spy(assets, owners):
        seen.append(dict(_recorded(db)))  # what the registry holds while the datasets are scanned
        return scan(assets, owners)

    monkeypatch.setattr(owners_mod, "_scan", spy, raising=False)
    code, d, err = run(capsys, "withdraw-records", "--owner", "member-000", "--reason", "left", "--json", "--registry", db)
    assert code == 0, err
    assert seen == [{}]  # nothing was written before the scan
    assert d["owners"] == ["member-000"] and set(_recorded(db)) == {"member-000"}
    assert [u["asset"] for u in d["unreadable"]] == [WEB] and "not a readable Parquet file" in d["unreadable"][0]["error"]
    assert [s["asset"] for s in d["sources"]] == [MESSAGES]
    code, out, _ = run(capsys, "withdraw-records", "--owner", "member-001", "--reason", "left", "--registry", db)
    assert code == 0 and f"not counted {WEB}: not a readable Parquet file" in out
