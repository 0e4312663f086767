"""Run a compiled record predicate (data/predicate.py) on Apache Spark.

The predicate is plain SQL over four columns (``text``, ``charter_allow``, ``charter_deny``,
``charter_owner``); rendered for ``"spark"`` it runs unchanged in ``DataFrame.filter`` /
``spark.sql``. This module only reads the shards, maps a source's field names onto those
columns (as data/source.py does for DuckDB), counts exclusions by reason and optionally
writes the kept rows. It does not decide the sources (do that with the registry first:
``Registry.can``), deduplicate, or write a manifest. pyspark is not a dependency of
charter: pass in your own SparkSession.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from charter.core.charterfile import DATA_DEFAULTS
from charter.data.predicate import ALLOW, DENY, OWNER, TEXT, Predicate, Unknown, render
from charter.errors import InvalidInput, UnknownUse


def _q(col: str) -> str:
    return "`" + col.replace("`", "``") + "`"


def _tags(field, role: str) -> str:
    """SQL for one tag column as array<string>: a list as is, a ';'-separated string split, none -> []."""
    if field is None:
        return "CAST(array() AS array<string>)"
    typ = field.dataType.simpleString()
    col = _q(field.name)
    if typ in ("array<string>", "array<void>"):  # lists of strings (or of NULLs only); other elements are a wrong type
        return f"coalesce(CAST({col} AS array<string>), CAST(array() AS array<string>))"  # NULL list: no tags, explicitly
    if typ == "string":
        return f"filter(transform(split(coalesce({col}, ''), ';'), x -> trim(x)), x -> x <> '')"
    if typ == "void":  # a column of only NULLs
        return "CAST(array() AS array<string>)"
    raise InvalidInput(f"tag column {field.name!r} has type {typ}", hint="store use ids as a list of strings or a ';'-separated string", field=role)


def normalize(df, fields: Mapping[str, str] | None = None):
    """``df`` with the standard columns (text, charter_allow, charter_deny, charter_owner) in front
    of its own; ``fields`` maps roles (text, allow, deny, owner) to the source's column names,
    like a charter's ``data.fields``. A missing tag column means no tags; a missing text column
    is an error."""
    fields = {**DATA_DEFAULTS, **(fields or {})}
    by_name = {f.name: f for f in df.schema.fields}
    if fields["text"] not in by_name:
        raise InvalidInput(f"no text column {fields['text']!r} (columns: {', '.join(by_name)})",
                           hint="name it with data.fields.text (fields={'text': ...})", field="text")
    owner = by_name.get(fields["owner"])
    standard = {
        TEXT: f"CAST({_q(fields['text'])} AS string)",
        ALLOW: _tags(by_name.get(fields["allow"]), "allow"),
        DENY: _tags(by_name.get(fields["deny"]), "deny"),
        OWNER: f"CAST({_q(owner.name)} AS string)" if owner is not None else "CAST(NULL AS string)",
    }
    rest = [_q(c) for c in df.columns if c not in standard]
    return df.selectExpr(*(f"{sql} AS {name}" for name, sql in standard.items()), *rest)


def select(spark, paths: Sequence[str], predicate: Predicate, out: str | None = None,
           fields: Mapping[str, str] | None = None, mode: str = "errorifexists") -> dict:
    """Apply ``predicate`` to the Parquet files ``paths``: count the records excluded per reason
    and, with ``out``, write the kept records as Parquet there (``mode`` as in DataFrameWriter).

    Returns ``{"input": n, "output": kept, "excluded": {reason: n}}`` (plus ``"out"``);
    ``input == output + sum(excluded.values())``. ``fields`` maps a source's column names as
    ``normalize`` does; without it the files must already have the standard columns.
    """
    df = normalize(spark.read.parquet(*paths), fields)
    if predicate.known and not any(b.reason == "record-unknown-use" for b in predicate.branches):
        _check_tags(df, predicate.known)
    rows = df.selectExpr(f"{predicate.reason('spark')} AS reason").groupBy("reason").count().collect()
    counts = {r["reason"]: r["count"] for r in rows}
    kept = counts.pop(None, 0)
    result = {"input": kept + sum(counts.values()), "output": kept,
              "excluded": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))}
    if out is not None:
        df.filter(predicate.keep("spark")).write.mode(mode).parquet(out)
        result["out"] = out
    return result


def _check_tags(df, known: tuple[str, ...]) -> None:
    """The same rule as curate's ``--on-error stop``: a tag that is not a use id (exactly as written)
    stops the run, naming a file that holds it and the did-you-mean."""
    import difflib

    from pyspark.sql import functions as F

    unknown = " OR ".join(render(Unknown(c, known), "spark") for c in (ALLOW, DENY))
    bad = df.filter(unknown).select(F.input_file_name().alias("file"), ALLOW, DENY).limit(1).collect()
    if bad:
        row = bad[0]
        tag = next(t for t in [*row[ALLOW], *row[DENY]] if t is not None and t not in known)
        close = difflib.get_close_matches(tag, list(known), n=1, cutoff=0.6)
        raise UnknownUse(f"unknown use {tag!r}", where=row["file"], field="record tags",
                         hint=(f"did you mean {close[0]!r}? " if close else "`charter uses` lists the ids; ")
                         + "or compile the predicate with unknown=True to exclude such records as record-unknown-use")


__all__ = ["normalize", "select"]
