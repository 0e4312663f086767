"""core/files.py: YAML/JSON from untrusted files: bounded, finite, one-line errors."""

from __future__ import annotations

import resource as rlimit
import subprocess
import sys

import pytest

from charter.core import files
from charter.errors import InvalidInput

BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]"
                                                       for p, c in zip("abcdefgh", "bcdefghi")]) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    """A 557-byte document like this grew memory past 1.4 GB."""
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    assert len(BOMB) < 600
    with pytest.raises(InvalidInput) as e:
        files.load_document(p)
    assert "YAML aliases expand" in e.value.message and e.value.where.startswith(f"{p}:")


def test_a_few_aliases_still_work(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("base: &b {license: MIT}\nuses: [*b, *b]\n")
    assert files.load_document(p)["uses"] == [{"license": "MIT"}, {"license": "MIT"}]


@pytest.mark.parametrize("text, name, line", [("x: 1\ny: .nan\n", "f.yaml", 2), ("a: .inf\n", "f.yaml", 1),
                                               ('{\n"x": NaN}', "f.json", 2), ('{"x": -Infinity}', "f.json", 1)])
def test_nan_and_infinity_are_refused_naming_the_line(tmp_path, text, name, line):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InvalidInput) as e:
        files.load_document(p)
    assert e.value.where == f"{p}:{line}"


def test_an_oversized_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_BYTES", 100)
    p = tmp_path / "big.yaml"
    p.write_text("x: " + "y" * 200)
    with pytest.raises(InvalidInput, match="larger than"):
        files.load_document(p)


def test_the_cli_refuses_the_bomb_in_one_line_within_a_memory_cap(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    cap = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31)); "
    r = subprocess.run([sys.executable, "-c", cap + "import sys; from charter.cli.main import main; sys.exit(main(sys.argv[1:]))",
                        "add", str(p), "--registry", str(tmp_path / "r.db")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "YAML aliases expand" in r.stderr
    assert rlimit  # the cap is set inside the child


def test_out_pointing_at_a_file_is_a_usage_error(tmp_path):
    from charter.errors import UsageError

    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f", tmp_path / "f" / "run"):
        with pytest.raises(UsageError) as e:
            files.check_out_folder(out)
        assert e.value.where == str(tmp_path / "f")
    files.check_out_folder(tmp_path / "new" / "run")  # not there yet: fine
