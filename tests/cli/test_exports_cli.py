"""charter export REF --format ... and charter import cyclonedx | spdx3 | croissant | odrl"""

from __future__ import annotations

import json

import pytest

from charter.core.files import resource
from tests.cli.clirun import run

ECO = str(resource("examples") / "ecosystem.yaml")


@pytest.fixture
def db(tmp_path, capsys):
    path = str(tmp_path / "src.db")
    code, _, _ = run(capsys, "add", ECO, "--registry", path)
    assert code == 0
    return path


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx3", "odrl"])
def test_export_then_import_into_a_fresh_registry(fmt, db, tmp_path, capsys):
    out = tmp_path / f"doc.{fmt}.json"
    code, d, _ = run(capsys, "export", "application/photo-search@1", "--format", fmt, "--lineage", "--out", str(out), "--registry", db, "--json")
    assert code == 0 and d["path"] == str(out) and "document" not in d and "model/vision-encoder@1" in d["assets"]
    fresh = str(tmp_path / "fresh.db")
    code, d, _ = run(capsys, "import", fmt, str(out), "--registry", fresh, "--json")
    assert code == 0 and len(d["added"]) == 5 and d["report"]["importer"] == fmt
    code, d, _ = run(capsys, "import", fmt, str(out), "--registry", fresh, "--json")
    assert code == 0 and d["added"] == [] and len(d["unchanged"]) == 5  # importing twice is a no-op
    code, _, _ = run(capsys, "can", "application/photo-search@1", "biometric-identification", "--registry", fresh)
    assert code == 3  # the upstream deny survived the trip


def test_export_prints_each_format(db, capsys):
    for fmt in ("cyclonedx", "spdx3", "odrl", "prov"):
        code, out, _ = run(capsys, "export", "model/translator@1", "--format", fmt, "--registry", db)
        assert code == 0 and isinstance(out, dict), fmt  # JSON documents on stdout
    code, out, _ = run(capsys, "export", "model/translator@1", "--format", "hf-card", "--registry", db)
    assert code == 0 and out.startswith("---\n") and "base_model_relation: adapter" in out
    code, d, _ = run(capsys, "export", "dataset/forum-posts@1", "--format", "croissant", "--registry", db, "--json")
    assert code == 0 and json.loads(d["document"])["name"] == "forum-posts"


def test_export_errors(db, capsys):
    code, _, err = run(capsys, "export", "dataset/forum-posts@1", "--format", "hf-card", "--registry", db)
    assert code == 2 and "a Hugging Face model card describes a model" in err
    code, _, err = run(capsys, "export", "model/nope@1", "--format", "odrl", "--registry", db)
    assert code == 1 and "model/nope@1" in err
    with pytest.raises(SystemExit):
        run(capsys, "export", "model/translator@1", "--format", "xml", "--registry", db)


def test_import_of_a_malformed_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bom.json"
    bad.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "data", "name": 3}]}')
    code, _, err = run(capsys, "import", "cyclonedx", str(bad), "--registry", str(tmp_path / "r.db"))
    assert code == 1 and err.count("\n") == 1
    assert f"{bad}: components/0/name: not valid CycloneDX 1.6" in err and "(fix:" in err
    remote = tmp_path / "p.jsonld"
    remote.write_text('{"@context": "https://attacker.example/c.jsonld", "@type": "Set"}')
    code, _, err = run(capsys, "import", "odrl", str(remote), "--registry", str(tmp_path / "r.db"))
    assert code == 1 and "remote JSON-LD context" in err and "is not fetched" in err


def test_import_reports_unknown_uses(tmp_path, capsys):
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "metadata": {"component": {"type": "data", "name": "d", "version": "1",
                                      "properties": [{"name": "charter:uses:deny", "value": "time-travel"}]}}}
    p = tmp_path / "b.json"
    p.write_text(json.dumps(bom))
    code, out, _ = run(capsys, "import", "cyclonedx", str(p), "--registry", str(tmp_path / "r.db"))
    assert code == 0 and "skipped: 1" in out and "time-travel" in out and "not guessed" in out
