"""charter licenses show | coverage"""

from __future__ import annotations

from tests.cli.clirun import run


def test_show_a_table_licence_an_expression_and_a_category(capsys):
    code, d, _ = run(capsys, "licenses", "show", "stabilityai-community", "--json")
    assert code == 0 and d["origin"] == "table" and d["conditions"][0]["id"] == "stability-under-1m-revenue"
    code, d, _ = run(capsys, "licenses", "show", "MIT OR CC-BY-NC-4.0", "--json")
    assert d["origin"] == "expression" and [a["id"] for a in d["alternatives"]] == ["MIT", "CC-BY-NC-4.0"]
    code, out, _ = run(capsys, "licenses", "show", "BUSL-1.1")
    assert code == 0 and "ScanCode LicenseDB category 'Source-available'" in out and "denies commercial" in out
    code, out, _ = run(capsys, "licenses", "show", "acme-private-7")
    assert code == 0 and "not permitted until it is mapped (fix: add it with --licenses FILE)" in out


def test_coverage_of_files_and_of_a_registry(tmp_path, capsys):
    (tmp_path / "l.txt").write_text("mit\nBUSL-1.1\nacme-private-7\n")
    code, d, _ = run(capsys, "licenses", "coverage", str(tmp_path / "l.txt"), "--json")
    assert code == 0 and (d["known"], d["from_category"], d["unknown"]) == (1, 1, 1)
    assert d["unknown_licenses"] == [{"license": "acme-private-7", "unknown": ["acme-private-7"], "count": 1}]
    code, out, err = run(capsys, "licenses", "coverage", str(tmp_path / "l.txt"), "--require", "90")
    assert code == 1 and "66.7% of the licence strings are known or categorised, below 90%" in err
    assert "unknown acme-private-7" in out
    # a user's licence file maps the unknown one
    (tmp_path / "mine.yaml").write_text("licenses:\n  - {id: acme-private-7, deny: [commercial]}\n")
    code, d, _ = run(capsys, "licenses", "coverage", str(tmp_path / "l.txt"), "--licenses", str(tmp_path / "mine.yaml"), "--json")
    assert (d["known"], d["unknown"]) == (2, 0)
    db = str(tmp_path / "r.db")
    (tmp_path / "a.yaml").write_text("- id: model/a@1\n  license: MIT OR Apache-2.0\n- id: model/b@1\n  license: acme-private-7\n")
    assert run(capsys, "add", str(tmp_path / "a.yaml"), "--registry", db)[0] == 0
    code, d, _ = run(capsys, "licenses", "coverage", "--registry", db, "--json")
    assert code == 0 and (d["distinct"], d["known"], d["unknown"]) == (2, 1, 1)


def test_show_and_card_name_unknown_and_categorised_licences(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    (tmp_path / "a.yaml").write_text("id: model/x@1\nlicense: [acme-9, BUSL-1.1 OR CC-BY-NC-4.0]\n")
    code, out, _ = run(capsys, "add", str(tmp_path / "a.yaml"), "--registry", db)
    assert code == 0 and "acme-9 (model/x@1)" in out and "BUSL" not in out  # only the unknown one is named
    for cmd in ("show", "card"):
        code, out, _ = run(capsys, cmd, "model/x@1", "--registry", db)
        flat = " ".join(out.split())
        assert "not in the licence table: acme-9; commercial use is not permitted until mapped" in flat, cmd
        assert "terms from the licence's category, not its text: BUSL-1.1: ScanCode category Source-available" in flat, cmd
