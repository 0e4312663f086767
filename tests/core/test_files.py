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


@pytest.mark.parametrize("name, text", [("deep.json", "[" * 100_000 + "]" * 100_000), ("deep.yaml", "[" * 100_000 + "]" * 100_000),
                                        ("deep2.json", '{"a":' * 50_000 + "1" + "}" * 50_000)])
def test_deep_nesting_is_refused_in_one_line_not_a_traceback(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    for lines in (True, False):
        with pytest.raises(InvalidInput):
            files.load_document(p, lines=lines)
    r = subprocess.run([sys.executable, "-m", "charter.cli.main", "add", str(p), "--registry", str(tmp_path / "r.db")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "nested too deeply" in r.stderr and "Traceback" not in r.stderr


def _same(a, b) -> bool:
    """Equal data, types, key order and, for mappings, each scalar's text as written."""
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b) and a.scalars == b.scalars
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


NUMBERS = ["1", "-0", "0", "1.10", "1.5e3", "1.5E+3", "-2.50e-2", "1e5", "12345678901234567890", "0.1", "1.0e+999", "3.0E-400"]


def test_the_fast_json_read_equals_the_line_aware_one_or_defers_to_it(tmp_path):
    """Property: for JSON documents of every value kind (numbers spelled as YAML 1.1 reads them differently,
    booleans, null, nesting, unicode, duplicate keys), parse_json_fast gives exactly parse_text's data and
    scalar texts, or refuses (the caller then re-reads with lines); it never gives different data."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    scalar = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(["true", "false", "null"]),
                       st.text(max_size=8).map(lambda s: json_dumps(s)))
    keys = st.sampled_from(["id", "version", "license", "min", "x", "é", "a b"])

    def obj(children):
        return st.lists(st.tuples(keys, children), max_size=4).map(lambda kv: "{" + ",".join(f"{json_dumps(k)}:{v}" for k, v in kv) + "}")

    doc = st.recursive(scalar, lambda c: st.one_of(st.lists(c, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"), obj(c)), max_leaves=12)

    @settings(max_examples=300, deadline=None)
    @given(doc)
    def check(text):
        try:
            slow = files.parse_text(text, "f.json")
        except InvalidInput:
            slow = InvalidInput
        try:
            fast = files.parse_json_fast(text, "f.json")
        except InvalidInput:
            return  # deferred to the line-aware read
        assert slow is not InvalidInput, text  # never accepts what the line-aware read refuses
        assert _same(fast, slow), text

    check()


def json_dumps(x) -> str:
    import json

    return json.dumps(x, ensure_ascii=False)


def test_a_large_json_charter_file_reads_fast_and_errors_still_name_the_line(tmp_path, monkeypatch):
    import json

    from charter.core import charterfile, uses

    tax = uses.load()
    docs = [{"id": f"model/m{i}@2", "license": "MIT", "version": 2, "uses": {"deny": ["military"]}} for i in range(3)]
    p = tmp_path / "many.json"
    p.write_text(json.dumps(docs, indent=1))
    want = charterfile.parse_document(files.load_document(p), str(p), tax)  # the line-aware read
    slow_reads = []
    real = files.parse_text
    monkeypatch.setattr(files, "parse_text", lambda *a: slow_reads.append(a) or real(*a))
    fast = charterfile.load_file(p, tax)
    assert fast == want and slow_reads == []  # a valid file: the fast read alone
    assert [a.version for a in fast] == ["2", "2", "2"] and fast[0].deny == ("military",)
    docs[1]["lisence"] = "MIT"
    p.write_text(json.dumps(docs, indent=1))
    with pytest.raises(InvalidInput) as e:
        charterfile.load_file(p, tax)
    assert len(slow_reads) == 1  # refused: read again with lines, for the error's line
    line = p.read_text().splitlines().index('  "lisence": "MIT"') + 1
    assert e.value.where == f"{p}:{line}" and "did you mean 'license'" in e.value.hint
