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


def test_the_hub_identifiers_are_all_known(capsys):
    """Issue 14's target, on the real list: every licence identifier the Hugging Face Hub accepts maps to the table."""
    from charter.core.files import resource

    code, d, _ = run(capsys, "licenses", "coverage", str(resource("hf_licenses.txt")), "--require", "100", "--json")
    print(f"Hub identifiers: {d['distinct']} distinct, {d['known']} known, {d['from_category']} from a category, {d['unknown']} unknown")
    assert code == 0 and d["distinct"] == 83 and d["known"] == 83 and d["unknown"] == 0


def test_the_demo_licence_part(tmp_path, capsys):
    """The demo's licence steps on a fresh registry: a real Llama 3.2 fine-tune card, decided clause by clause."""
    from charter.cli.demo import LLAMA3, LLAMA_FT, licence_steps
    from charter.core.files import resource

    db = str(tmp_path / "r.db")
    outs = []
    steps = licence_steps(resource("examples"))
    for step in steps:
        code, out, err = run(capsys, *step.argv, "--registry", db)
        assert code == step.expect, (step.title, out, err)
        outs.append(" ".join(out.split()))
    outs = outs[1:]  # the upstream's add
    imported, show, unattested, attested, military, outputs, llama3, owed = outs
    assert LLAMA_FT in imported and "licences not in the licence table" not in imported
    assert "llama32-700m-mau" in show and "Llama 3.2 Acceptable Use Policy §2.a" in show
    assert "permits commercial only if the licensee and its affiliates had no more than 700 million monthly active users" in unattested
    assert "on condition llama32-700m-mau" in attested and "Llama 3.2 Community License Agreement §2" in attested
    assert "deny military" in military and "Llama 3.2 Acceptable Use Policy §2.a" in military
    assert "ALLOWED" in outputs
    assert f"deny competing-model-development: {LLAMA3} denies competing-model-development" in llama3 and "§1.b.v" in llama3
    assert "Built with Llama" in owed and "naming" in owed and "notice" in owed and "pass-on-restrictions" in owed
