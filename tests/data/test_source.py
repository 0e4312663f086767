"""Reading sources: every format normalised to the predicate's columns; bad input named by file (and line)."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.core.charterfile import DATA_DEFAULTS
from charter.data.curate import CurateConfig, curate
from charter.data.source import Shard, check_schemas, files_of, open_shard
from charter.errors import InvalidInput, UnknownUse

from .conftest import register_dataset, write_jsonl


def shard(path, fmt, fields=None, on_error="stop", con=None):
    con = con or duckdb.connect()
    s = open_shard(con, Shard("dataset/x@1", path, fmt), {**DATA_DEFAULTS, **(fields or {})}, on_error)
    return s, con.execute(f"SELECT text, charter_allow, charter_deny, charter_owner, source_row FROM {s.view} ORDER BY source_row").fetchall()


# === formats ==================================================================================

def test_parquet_lists_and_one_based_rows(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["x", "y"], "charter_allow": [["research"], None], "charter_deny": [[], ["military"]],
                             "charter_owner": ["o1", None], "extra": [1, 2]}), p)
    s, rows = shard(p, "parquet")
    assert s.rows == 2 and s.skipped == []
    assert rows == [("x", ["research"], [], "o1", 1), ("y", [], ["military"], None, 2)]  # a NULL list is explicitly no tags
    assert s.schema == {"text": "VARCHAR", "allow": "VARCHAR[]", "deny": "VARCHAR[]", "owner": "VARCHAR"}


def test_csv_tags_as_semicolon_separated_strings(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text('passage,charter_allow,charter_deny,who\n'
                 '"one, two",research,military;surveillance,ann\n'
                 'three,, profiling ; ;commercial ,\n'
                 'four,,,bob\n')
    s, rows = shard(p, "csv", {"text": "passage", "owner": "who"})
    assert rows == [
        ("one, two", ["research"], ["military", "surveillance"], "ann", 1),
        ("three", [], ["profiling", "commercial"], None, 2),
        ("four", [], [], "bob", 3),
    ]


def test_jsonl_missing_tag_columns_mean_no_tags(tmp_path):
    p = write_jsonl(tmp_path / "c.jsonl", [{"text": "a"}, {"text": "b"}])
    s, rows = shard(p, "jsonl")
    assert rows == [("a", [], [], None, 1), ("b", [], [], None, 2)]
    assert s.schema["allow"] == "" and s.schema["owner"] == ""


def test_jsonl_line_numbers_count_blank_lines(tmp_path):
    p = write_jsonl(tmp_path / "d.jsonl", [{"text": "a"}, "", {"text": "b", "charter_deny": ["military"]}])
    s, rows = shard(p, "jsonl")
    assert [(r[0], r[4]) for r in rows] == [("a", 1), ("b", 3)]
    assert s.rows == 2


# === bad input ==================================================================================

def test_corrupt_parquet_names_the_file(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1 this is not parquet at all" * 10)
    with pytest.raises(InvalidInput) as e:
        shard(p, "parquet")
    assert e.value.where == str(p) and "Parquet" in e.value.message and e.value.hint


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    p = write_jsonl(tmp_path / "m.jsonl", [{"text": "a"}, "", {"text": "b"}, '{"text": "c", ', {"text": "d"}, "[1, 2]"])
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl")
    assert e.value.where == f"{p}:4"
    assert "malformed JSON line" in e.value.message and "--on-error skip" in e.value.hint


def test_malformed_jsonl_skipped_and_recorded(tmp_path):
    p = write_jsonl(tmp_path / "m.jsonl", [{"text": "a"}, "", {"text": "b"}, '{"text": "c", ', {"text": "d"}, "[1, 2]"])
    s, rows = shard(p, "jsonl", on_error="skip")
    assert [(r[0], r[4]) for r in rows] == [("a", 1), ("b", 3), ("d", 5)]
    assert s.rows == 3
    assert [x["line"] for x in s.skipped] == [4, 6]
    assert "object" in s.skipped[1]["error"]


def test_jsonl_duplicate_keys_are_an_error_naming_the_line(tmp_path):
    """Which of two `charter_deny` keys counts differs between parsers: a record may not say both."""
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "a"}\n{"text": "b", "charter_deny": ["commercial"], "charter_deny": []}\n')
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl")
    assert e.value.where == f"{p}:2" and "'charter_deny' appears twice" in e.value.message
    s, rows = shard(p, "jsonl", on_error="skip")
    assert [r[0] for r in rows] == ["a"] and s.skipped[0]["line"] == 2


def test_jsonl_nan_is_refused_by_either_reader(tmp_path):
    """pyarrow reads a bare NaN; JSON has none. The file goes to the line reader, which names the line."""
    p = tmp_path / "n.jsonl"
    p.write_text('{"text": "a", "score": 1.5}\n{"text": "b", "score": NaN}\n')
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl")
    assert e.value.where == f"{p}:2" and "NaN" in e.value.message
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"text": "NaN and Infinity are fine inside strings"}\n')
    assert [r[0] for r in shard(ok, "jsonl")[1]] == ["NaN and Infinity are fine inside strings"]


def test_jsonl_records_disagreeing_on_a_type(tmp_path):
    p = write_jsonl(tmp_path / "t.jsonl", [{"text": "a", "charter_deny": ["x"]}] * 3 + [{"text": "b", "charter_deny": 5}])
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl")
    assert e.value.where == str(p)


def test_missing_text_column_hints_text_field(tmp_path):
    p = write_jsonl(tmp_path / "n.jsonl", [{"body": "a"}])
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl")
    assert "--text-field" in e.value.hint and "'text'" in e.value.message and "body" in e.value.message
    assert e.value.where == str(p) and e.value.field == "text"
    s, rows = shard(p, "jsonl", {"text": "body"})
    assert rows == [("a", [], [], None, 1)]


def test_tag_column_of_another_type(tmp_path):
    p = tmp_path / "i.parquet"
    pq.write_table(pa.table({"text": ["a"], "charter_deny": [3]}), p)
    with pytest.raises(InvalidInput) as e:
        shard(p, "parquet")
    assert e.value.where == str(p) and e.value.field == "charter_deny" and "BIGINT" in e.value.message


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_list_of_non_strings_is_a_wrong_tag_type(tmp_path, fmt):
    """A list of numbers was cast to strings ('1') and then reported as an unknown use, or under
    --on-error skip quietly excluded: it is a wrong column type, named as such."""
    p = tmp_path / f"i.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.table({"text": ["a"], "charter_deny": pa.array([[1, 2]], pa.list_(pa.int64()))}), p)
    else:
        p.write_text(json.dumps({"text": "a", "charter_deny": [1, 2]}) + "\n")
    with pytest.raises(InvalidInput) as e:
        shard(p, fmt)
    assert e.value.field == "charter_deny" and "BIGINT[]" in e.value.message


def test_lists_of_only_nulls_or_empty_are_no_tags(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_text('{"text": "a", "charter_allow": []}\n{"text": "b", "charter_allow": [null], "charter_deny": null}\n')
    _, rows = shard(p, "jsonl")
    assert rows == [("a", [], [], None, 1), ("b", [None], [], None, 2)]


def test_malformed_csv(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('text,charter_deny\n"a,b\n')
    with pytest.raises(InvalidInput) as e:
        shard(p, "csv")
    assert e.value.where == str(p)


# === shards of one source =======================================================================

def _open(paths, fmt="parquet"):
    con = duckdb.connect()
    return [open_shard(con, Shard("dataset/x@1", p, fmt), dict(DATA_DEFAULTS)) for p in paths]


def test_shards_disagreeing_on_a_list_column(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"text": ["x"], "charter_deny": [["military"]]}), a)
    pq.write_table(pa.table({"text": ["y"], "charter_deny": ["military"]}), b)  # a string, not a list
    with pytest.raises(InvalidInput) as e:
        check_schemas(_open([a, b]))
    assert e.value.where == str(b) and "deny" in e.value.message and "a.parquet" in e.value.message


def test_shards_disagreeing_on_a_missing_tag_column(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"text": ["x"], "charter_owner": ["o"]}), a)
    pq.write_table(pa.table({"text": ["y"]}), b)
    with pytest.raises(InvalidInput) as e:
        check_schemas(_open([a, b]))
    assert e.value.where == str(b) and "owner" in e.value.message and "none" in e.value.message


def test_shards_whose_tag_column_holds_only_empty_lists_agree(tmp_path):
    # JSON readers infer no element type for a column of [] or null: that is not a disagreement
    a = write_jsonl(tmp_path / "a.jsonl", [{"text": "x", "charter_allow": [], "charter_deny": ["military"]}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"text": "y", "charter_allow": ["research"], "charter_deny": []}])
    c = write_jsonl(tmp_path / "c.jsonl", [{"text": "z", "charter_allow": None, "charter_deny": None}])
    check_schemas(_open([a, b, c], "jsonl"))


def test_schema_disagreement_refused_by_curate(reg, tmp_path):
    write_jsonl(tmp_path / "s" / "a.jsonl", [{"text": "hello", "charter_deny": ["military"]}])
    write_jsonl(tmp_path / "s" / "b.jsonl", [{"text": "hello", "charter_deny": 7}])
    src = register_dataset(reg, tmp_path, "mixed", ["s"])  # a folder: its data files
    out = tmp_path / "out"
    with pytest.raises(InvalidInput) as e:
        curate(reg, CurateConfig((src,), ("training",), out))
    assert e.value.where.endswith("b.jsonl")
    assert not out.exists()  # refused before anything was written


# === through curate ===============================================================================

def test_unknown_tag_did_you_mean_naming_the_file_and_line(reg, tmp_path):
    write_jsonl(tmp_path / "s" / "a.jsonl", [{"text": "hello"}, {"text": "hi", "charter_deny": ["machine-translaton"]}])
    src = register_dataset(reg, tmp_path, "typo", ["s/a.jsonl"])
    out = tmp_path / "out"
    with pytest.raises(UnknownUse) as e:
        curate(reg, CurateConfig((src,), ("training",), out))
    assert "machine-translaton" in e.value.message and "did you mean 'machine-translation'" in e.value.hint
    assert e.value.where == f"{tmp_path / 's' / 'a.jsonl'}:2"
    # fixed (new content is a new registration), the same --out folder can be used: a refused run stakes no claim on it
    write_jsonl(tmp_path / "s" / "a.jsonl", [{"text": "hello"}, {"text": "hi", "charter_deny": ["machine-translation"]}])
    src = register_dataset(reg, tmp_path, "typo-fixed", ["s/a.jsonl"])
    r = curate(reg, CurateConfig((src,), ("training", "machine-translation"), out))
    assert r.manifest["output"] == 1 and r.manifest["excluded"] == {"record-deny:machine-translation": 1}


def test_unknown_tag_in_parquet_names_the_record(reg, tmp_path):
    (tmp_path / "s").mkdir()
    pq.write_table(pa.table({"text": ["a", "b", "c"], "charter_allow": [[], [], ["reserch"]]}), tmp_path / "s" / "p.parquet")
    src = register_dataset(reg, tmp_path, "ptypo", ["s"])
    with pytest.raises(UnknownUse) as e:
        curate(reg, CurateConfig((src,), ("training",), tmp_path / "out"))
    assert e.value.where == f"{tmp_path / 's' / 'p.parquet'} (record 3)" and "'research'" in e.value.hint


def test_null_elements_in_tag_lists_name_no_use(reg, tmp_path):
    (tmp_path / "s").mkdir()
    pq.write_table(pa.table({"text": ["a", "b", "c"], "charter_deny": [[None], [None, "military"], None]}), tmp_path / "s" / "p.parquet")
    src = register_dataset(reg, tmp_path, "nulls", ["s"])
    m = curate(reg, CurateConfig((src,), ("training", "military"), tmp_path / "out")).manifest
    assert m["output"] == 2 and m["excluded"] == {"record-deny:military": 1}


def test_skipped_lines_are_counted_in_the_manifest(reg, tmp_path):
    write_jsonl(tmp_path / "s" / "a.jsonl", [{"text": "a"}, "not json", {"text": "b"}, "{"])
    src = register_dataset(reg, tmp_path, "broken", ["s/a.jsonl"])
    with pytest.raises(InvalidInput) as e:
        curate(reg, CurateConfig((src,), ("training",), tmp_path / "stop"))
    assert e.value.where.endswith("a.jsonl:2")
    r = curate(reg, CurateConfig((src,), ("training",), tmp_path / "skip", on_error="skip"))
    m = r.manifest
    assert m["input"] == 4 and m["output"] == 2 and m["excluded"] == {"malformed-line": 2}
    assert [x["line"] for x in m["sources"][0]["files"][0]["skipped_lines"]] == [2, 4]
    assert m["sources"][0]["excluded"] == {"malformed-line": 2}


def test_data_errors_at_registration(reg, tmp_path):
    """What files_of reported at curation time is now refused when the charter is registered, naming the charter file:line."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("x")
    with pytest.raises(InvalidInput) as e:
        register_dataset(reg, tmp_path, "nomatch", ["missing/*.jsonl"])
    assert "no file 'missing/*.jsonl'" in e.value.message and e.value.field == "data.files" and e.value.where.endswith("nomatch.yaml:3")
    assert "data: {glob: missing/*.jsonl}" in e.value.hint
    with pytest.raises(InvalidInput) as e:
        register_dataset(reg, tmp_path, "txt", ["d/notes.txt"])
    assert "unsupported file type '.txt'" in e.value.message
    src = register_dataset(reg, tmp_path, "emptydir", ["d"])  # a folder with no data files
    with pytest.raises(InvalidInput) as e:
        files_of(reg.get(src))
    assert "has no data files" in e.value.message


def test_files_of_lists_folders_sorted(reg, tmp_path):
    for n in ("b.jsonl", "a.parquet", ".hidden.jsonl", "c.csv", "readme.md"):
        (tmp_path / "d" / n).parent.mkdir(exist_ok=True)
        (tmp_path / "d" / n).write_text("")
    src = register_dataset(reg, tmp_path, "folder", ["d", "d/b.jsonl"])
    assert [p.name for p in files_of(reg.get(src))] == ["a.parquet", "b.jsonl", "c.csv"]


def test_json_extension_is_json_lines(tmp_path):
    p = tmp_path / "e.json"
    p.write_text(json.dumps({"text": "a"}) + "\n" + json.dumps({"text": "b"}) + "\n")
    _, rows = shard(p, "jsonl")
    assert [r[0] for r in rows] == ["a", "b"]


# === bytes that used to crash a reader (issue 12) ============================================

@pytest.mark.parametrize("first", [b"null", b"42", b"[1, 2]", b'"text"'])
def test_jsonl_non_object_first_line_is_an_error_naming_it(tmp_path, first):
    """A first line `null` crashed pyarrow's reader (a segfault); now no such file reaches it."""
    p = tmp_path / "a.jsonl"
    p.write_bytes(first + b'\n{"text": "fine"}\n')
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl")
    assert e.value.where == f"{p}:1" and "JSON object" in e.value.message
    s, rows = shard(p, "jsonl", on_error="skip")
    assert [r[0] for r in rows] == ["fine"] and [x["line"] for x in s.skipped] == [1]


def test_jsonl_invalid_utf8_is_an_error_naming_the_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "ok"}\n{"text": "bad \xff byte", "charter_owner": "o\xc3"}\n')
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl")
    assert e.value.where == f"{p}:2" and "UTF-8" in e.value.message
    s, rows = shard(p, "jsonl", on_error="skip")  # skipped and counted, never silently replaced
    assert [r[0] for r in rows] == ["ok"] and s.skipped[0]["line"] == 2


@pytest.mark.parametrize("body", [
    b'{"text": "a"}\r\n{"text": "\xc3\xa9"}\r\n',  # CRLF, non-ASCII UTF-8: pyarrow's reader
    b'{"text": "a"}\n   {"text": "\xc3\xa9"}\n\n\n',  # an indented line and trailing blank lines: line by line
    b'{"text": "a"}\n{"text": "\xc3\xa9"}' + b" " * 5000,  # a long blank tail
])
def test_jsonl_either_reader_gives_the_same_rows(tmp_path, body):
    p = tmp_path / "a.jsonl"
    p.write_bytes(body)
    _, rows = shard(p, "jsonl")
    assert [(r[0], r[4]) for r in rows] == [("a", 1), ("\u00e9", 2)]


def test_csv_invalid_utf8_is_an_error_naming_the_line(tmp_path):
    """DuckDB raised its own InvalidInputException mid-query for such a file."""
    p = tmp_path / "a.csv"
    p.write_bytes(b"text,charter_deny\nhello,\nw\xc3\x28rld,commercial\n")
    with pytest.raises(InvalidInput) as e:
        shard(p, "csv")
    assert e.value.where == f"{p}:3" and "UTF-8" in e.value.message


def test_jsonl_of_empty_objects_is_a_missing_text_column_not_a_crash(tmp_path):
    """Found by bench/fuzz.py: `{}` lines next to a skipped line made pyarrow raise while numbering rows."""
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"{}\nnull\n")
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl", on_error="skip")
    assert e.value.field == "text"


def test_jsonl_integer_beyond_64_bits_is_an_error_not_a_crash(tmp_path):
    """Found by bench/fuzz.py: pyarrow raised OverflowError building the table."""
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "a", "n": 1}\n{"text": "b", "n": 99999999999999999999999}\nnull\n')
    with pytest.raises(InvalidInput) as e:
        shard(p, "jsonl", on_error="skip")
    assert e.value.where == str(p)
