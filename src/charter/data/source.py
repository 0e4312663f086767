"""Data sources: a dataset asset's files, read as relations with the standard tag columns.

Formats: Parquet (``.parquet``), JSON Lines (``.jsonl``, ``.json``), CSV (``.csv``); a
charter's ``data.files`` entries may be paths, globs or folders (relative to the charter
file). Every shard is exposed to DuckDB as a view with the columns the predicate reads:

    text, charter_allow (VARCHAR[]), charter_deny (VARCHAR[]), charter_owner, source_row

``source_row`` is the record's 1-based position in its file (the line, for JSON Lines).
Tag columns may be lists, or strings of ``;``-separated use ids (CSV); a missing tag column
means no tags. Bad input raises InvalidInput naming the file (and line), or, with
``on_error="skip"``, malformed JSON Lines are skipped and reported, never silently dropped.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from charter.core.assets import Asset
from charter.core.charterfile import DATA_DEFAULTS
from charter.errors import InvalidInput

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
LIST = "VARCHAR[]"


@dataclass
class Shard:
    asset: str
    path: Path
    format: str
    view: str = ""
    rows: int = 0
    skipped: list[dict] = field(default_factory=list)  # [{"line": n, "error": msg}]
    schema: dict = field(default_factory=dict)  # role -> DuckDB type of its column ("" if absent)


def files_of(a: Asset) -> list[Path]:
    """The asset's files, globs expanded and folders listed, sorted; an error if none."""
    spec = a.data or {}
    out: list[Path] = []
    for pattern in spec.get("files") or []:
        hits = sorted(glob.glob(pattern, recursive=True))
        if not hits:
            raise InvalidInput(f"{a.id}: no file matches {pattern!r}", hint="fix data.files in its charter (paths are relative to the charter file)", field="data.files")
        for h in map(Path, hits):
            if h.is_dir():
                out += sorted(p for p in h.iterdir() if p.suffix in FORMATS and not p.name.startswith("."))
            elif h.suffix in FORMATS:
                out.append(h)
            else:
                raise InvalidInput(f"unsupported file type {h.suffix!r}", hint=f"use {', '.join(FORMATS)}", where=str(h))
    if not out:
        raise InvalidInput(f"{a.id} has no data files", hint="add data: [files or globs] to its charter", field="data.files")
    return list(dict.fromkeys(out))


def fields_of(a: Asset, text_field: str | None = None) -> dict[str, str]:
    fields = {**DATA_DEFAULTS, **((a.data or {}).get("fields") or {})}
    if text_field:
        fields["text"] = text_field
    return fields


def open_shard(con: duckdb.DuckDBPyConnection, shard: Shard, fields: dict[str, str], on_error: str = "stop") -> Shard:
    """Register ``shard`` in ``con`` as a normalised view; fills in view, rows, schema, skipped."""
    shard.view = f"shard_{abs(hash((shard.asset, str(shard.path)))):x}"
    raw = f"{shard.view}_raw"
    if shard.format == "parquet":
        try:
            meta = pq.ParquetFile(shard.path).metadata
        except Exception as e:  # pyarrow raises several types for a corrupt footer or page
            raise InvalidInput(f"not a readable Parquet file ({e})", hint="re-create the file or remove it from data.files", where=str(shard.path)) from None
        shard.rows = meta.num_rows
        con.execute(f"CREATE OR REPLACE TEMP VIEW {raw} AS SELECT *, file_row_number + 1 AS __row FROM read_parquet({_lit(shard.path)}, file_row_number=true)")
    else:
        table = _read_jsonl(shard, on_error) if shard.format == "jsonl" else _read_csv(shard)
        shard.rows = table.num_rows
        con.register(raw, table)
    columns = {name: str(typ) for name, typ in con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {raw})").fetchall()}
    text = fields["text"]
    if text not in columns:
        raise InvalidInput(f"no text column {text!r} (columns: {', '.join(c for c in columns if c != '__row')})",
                           hint="name it with --text-field or data.fields.text in the dataset's charter", where=str(shard.path), field="text")
    shard.schema = {role: columns.get(col, "") for role, col in fields.items()}
    con.execute(f"""CREATE OR REPLACE TEMP VIEW {shard.view} AS SELECT
        CAST({_q(text)} AS VARCHAR) AS text,
        {_tags(fields['allow'], columns, shard)} AS charter_allow,
        {_tags(fields['deny'], columns, shard)} AS charter_deny,
        {f'CAST({_q(fields["owner"])} AS VARCHAR)' if fields['owner'] in columns else 'CAST(NULL AS VARCHAR)'} AS charter_owner,
        __row AS source_row
        FROM {raw}""")
    return shard


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _lit(v) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _tags(col: str, columns: dict[str, str], shard: Shard) -> str:
    typ = columns.get(col)
    if typ is None or typ == '"NULL"' or typ == "NULL":
        return f"[]::{LIST}"
    if typ.endswith("[]"):
        return f"CAST({_q(col)} AS {LIST})"
    if typ == "VARCHAR":  # "a;b" (CSV) -> ['a', 'b']
        return f"list_filter(list_transform(string_split(coalesce({_q(col)}, ''), ';'), lambda x: trim(x)), lambda x: x <> '')"
    raise InvalidInput(f"tag column {col!r} has type {typ}", hint="store use ids as a list of strings or a ';'-separated string", where=str(shard.path), field=col)


def _read_jsonl(shard: Shard, on_error: str) -> pa.Table:
    try:
        table = pajson.read_json(shard.path)
        return table.append_column("__row", pa.array(range(1, table.num_rows + 1), pa.int64())) if _no_blank_lines(shard.path) else _slow_jsonl(shard, on_error)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _slow_jsonl(shard, on_error)  # find the bad lines, to name them


def _no_blank_lines(path: Path) -> bool:
    with open(path, "rb") as f:
        return not any(not line.strip() for line in f)


def _slow_jsonl(shard: Shard, on_error: str) -> pa.Table:
    """Line by line: exact line numbers for errors, and skipping when asked."""
    rows, lines = [], []
    with open(shard.path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("a record must be a JSON object")
            except ValueError as e:
                msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
                if on_error != "skip":
                    raise InvalidInput(f"malformed JSON line: {msg}", hint="fix the line, or pass --on-error skip to skip and count such lines",
                                       where=f"{shard.path}:{n}") from None
                shard.skipped.append({"line": n, "error": msg})
                continue
            rows.append(rec)
            lines.append(n)
    try:
        table = pa.Table.from_pylist(rows) if rows else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InvalidInput(f"records disagree on a field's type ({e})", hint="give each field one type in every line", where=str(shard.path)) from None
    return table.append_column("__row", pa.array(lines, pa.int64()))


def _read_csv(shard: Shard) -> pa.Table:
    try:
        table = pacsv.read_csv(shard.path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InvalidInput(f"malformed CSV ({str(e).splitlines()[0]})", hint="fix the CSV (quotes, column counts)", where=str(shard.path)) from None
    return table.append_column("__row", pa.array(range(1, table.num_rows + 1), pa.int64()))


def check_schemas(shards: list[Shard]) -> None:
    """All shards of one source must agree on the type of every role column. A column holding
    only NULLs or empty lists (``"NULL"``, ``"NULL"[]``: JSON and CSV readers infer no type for
    it) agrees with any type; a missing column ("") agrees only with a missing one."""
    for role in shards[0].schema:
        first: Shard | None = None
        for s in shards:
            typ = s.schema.get(role, "")
            if typ.replace('"', "") in ("NULL", "NULL[]"):
                continue
            if first is None:
                first = s
            elif typ != first.schema[role]:
                raise InvalidInput(
                    f"shards disagree on the {role} column: {first.path.name} has {first.schema[role] or 'none'}, {s.path.name} has {typ or 'none'}",
                    hint="give every shard of a source the same schema (or register them as separate datasets)", where=str(s.path))
