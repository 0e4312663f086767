"""The compiled predicate on Apache Spark (local mode) keeps exactly what DuckDB keeps.

Starting Spark takes ~10 s, so one session serves the module; marked slow (CI still runs it).
"""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.core import uses as uses_mod
from charter.data.predicate import compile_predicate
from charter.data.spark import normalize, select
from charter.errors import InvalidInput

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

TAX = uses_mod.load()
USES = ("fine-tuning", "machine-translation", "commercial")
TAGS = ["purpose", "machine-translation", "commercial", "research", "non-commercial", "face-recognition", "training",
        "fine-tuning", "pretraining", "context", "summarization", "military", "academic-research", "inference"]
LIST = pa.list_(pa.string())


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[1]").appName("charter-tests")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
         .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def tags(rng: random.Random):
    x = rng.random()
    if x < 0.15:
        return None
    if x < 0.35:
        return []
    out = rng.sample(TAGS, rng.randint(1, 3))
    return out + [None] if x > 0.95 else out  # a NULL element now and then


def generated(tmp_path, n=600, seed=3) -> list:
    """Two Parquet shards with the standard columns and varied tags; returns their paths."""
    rng = random.Random(seed)
    owners = [f"member-{i}" for i in range(8)] + [None]
    rows = [{"id": i, "text": rng.choice(["ok", "a longer message text", None, "hello there"]),
             "charter_allow": tags(rng), "charter_deny": tags(rng), "charter_owner": rng.choice(owners)} for i in range(n)]
    paths = []
    for k, part in enumerate((rows[: n // 2], rows[n // 2:])):
        t = pa.table({"id": pa.array([r["id"] for r in part], pa.int64()), "text": pa.array([r["text"] for r in part], pa.string()),
                      "charter_allow": pa.array([r["charter_allow"] for r in part], LIST),
                      "charter_deny": pa.array([r["charter_deny"] for r in part], LIST),
                      "charter_owner": pa.array([r["charter_owner"] for r in part], pa.string())})
        p = tmp_path / f"shard-{k}.parquet"
        pq.write_table(t, p)
        paths.append(str(p))
    return paths


def duck(paths, p) -> tuple[set, dict]:
    con = duckdb.connect()
    rel = f"read_parquet({paths})"
    kept = {r[0] for r in con.execute(f"SELECT id FROM {rel} WHERE {p.keep()}").fetchall()}
    reasons = dict(con.execute(f"SELECT r, count(*) FROM (SELECT {p.reason()} AS r FROM {rel}) WHERE r IS NOT NULL GROUP BY r").fetchall())
    return kept, reasons


def test_spark_keeps_exactly_what_duckdb_keeps(spark, tmp_path):
    paths = generated(tmp_path)
    p = compile_predicate(USES, TAX, withdrawn_owners=["member-1", "member-2"], min_chars=5)
    kept, reasons = duck(paths, p)
    assert 50 < len(kept) < 550 and len(reasons) >= 5  # the data exercises many branches
    out = str(tmp_path / "kept")
    got = select(spark, paths, p, out=out)
    assert got["excluded"] == reasons
    assert got["input"] == 600 and got["output"] == len(kept) and got["out"] == out
    written = pq.read_table(out)
    assert set(written["id"].to_pylist()) == kept and written.num_rows == len(kept)
    assert written.column_names[:4] == ["text", "charter_allow", "charter_deny", "charter_owner"]
    # and the same SQL text, as a user would run it with spark.sql
    spark.read.parquet(*paths).createOrReplaceTempView("records")
    assert {r["id"] for r in spark.sql(f"SELECT id FROM records WHERE {p.keep('spark')}").collect()} == kept


def test_select_maps_a_sources_field_names(spark, tmp_path):
    # CSV-style tags (';'-separated strings) under other column names, as a charter's data.fields names them
    p = tmp_path / "src.parquet"
    pq.write_table(pa.table({"body": ["one message", "another message", "third message", "fourth"],
                             "deny_tags": ["machine-translation", " military ; ", None, "commercial;purpose"],
                             "author": ["a", "b", "c", "d"]}), p)
    pred = compile_predicate(USES, TAX, withdrawn_owners=["c"])
    got = select(spark, [str(p)], pred, fields={"text": "body", "deny": "deny_tags", "owner": "author"})
    # 'purpose' overlaps machine-translation, which comes before commercial in the request
    assert got == {"input": 4, "output": 1, "excluded": {"record-deny:machine-translation": 2, "owner-withdrew-consent": 1}}
    df = normalize(spark.read.parquet(str(p)), {"text": "body", "deny": "deny_tags", "owner": "author"})
    row = df.orderBy("body").collect()[0]
    assert (row["text"], row["charter_allow"], row["charter_deny"], row["charter_owner"]) == ("another message", [], ["military"], "b")
    with pytest.raises(InvalidInput) as e:
        select(spark, [str(p)], pred)  # no 'text' column
    assert "body" in e.value.message


def test_an_unknown_tag_stops_the_job_even_beside_a_null_list(spark, tmp_path):
    """Issue 12: Spark read tags without checking them, so deny ['comercial'] (allow NULL) was kept."""
    from charter.errors import UnknownUse

    p = tmp_path / "typo.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "text": ["first message", "second message", "third message"],
                             "charter_allow": pa.array([None, ["research"], ["Research"]], LIST),
                             "charter_deny": pa.array([["comercial"], None, None], LIST)}), p)
    with pytest.raises(UnknownUse) as e:
        select(spark, [str(p)], compile_predicate(USES, TAX))
    assert e.value.where.endswith("typo.parquet") and "did you mean" in e.value.hint
    # compiled with unknown=True (curate's --on-error skip) the two records are excluded and counted, as in DuckDB
    pred = compile_predicate(("fine-tuning", "research"), TAX, unknown=True)
    assert select(spark, [str(p)], pred) == {"input": 3, "output": 1, "excluded": {"record-unknown-use": 2}}
    assert duck([str(p)], pred) == ({2}, {"record-unknown-use": 2})


def test_a_list_of_non_strings_is_a_wrong_tag_type(spark, tmp_path):
    p = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": ["a message"], "charter_deny": pa.array([[1, 2]], pa.list_(pa.int64()))}), p)
    with pytest.raises(InvalidInput) as e:
        select(spark, [str(p)], compile_predicate(USES, TAX))
    assert "array<bigint>" in e.value.message


def test_owner_ids_with_quotes_and_backslashes_match_in_spark(spark, tmp_path):
    """Spark SQL reads `\\b` in a literal as a backspace: a withdrawn owner `dom\\bob` was not matched (kept)."""
    p = tmp_path / "owners.parquet"
    owners = ["dom\\bob", "o'neil", "plain"]
    pq.write_table(pa.table({"text": ["one", "two", "three"], "charter_owner": owners}), p)
    pred = compile_predicate(USES, TAX, withdrawn_owners=owners[:2])
    assert select(spark, [str(p)], pred) == {"input": 3, "output": 1, "excluded": {"owner-withdrew-consent": 2}}
