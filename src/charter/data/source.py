"""Data sources: a dataset asset's files, read as relations with the standard tag columns.

Formats: Parquet (``.parquet``), JSON Lines (``.jsonl``, ``.json``), CSV (``.csv``); a
charter's ``data`` entries are literal paths (relative to the charter file) or ``{glob: ...}``
patterns, resolved to files at registration (``core.charterfile``). Every shard is exposed to DuckDB as a view with the columns the predicate reads:

    text, charter_allow (VARCHAR[]), charter_deny (VARCHAR[]), charter_owner, source_row

``source_row`` is the record's 1-based position in its file (the line, for JSON Lines).
Tag columns may be lists, or strings of ``;``-separated use ids (CSV); a missing tag column
means no tags. Bad input raises InvalidInput naming the file (and line), or, with
``on_error="skip"``, malformed JSON Lines are skipped and reported, never silently dropped.
"""

from __future__ import annotations

import glob
import itertools
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from charter.core.assets import Asset
from charter.core.charterfile import DATA_DEFAULTS
from charter.core.sql import ident, literal
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
    """The asset's files: exactly those registered (``data.files`` as resolved at registration, each
    path literal). Registrations older than that kept patterns: those are still expanded."""
    spec = a.data or {}
    if "digests" in spec:
        out = [Path(f) for f in spec.get("files") or []]
        if not out:
            raise InvalidInput(f"{a.id} has no data files", hint="add data: [files] to its charter", field="data.files")
        return out
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


def open_shard(con: duckdb.DuckDBPyConnection, shard: Shard, fields: dict[str, str], on_error: str = "stop",
               extra: dict[str, tuple[str, str]] | None = None) -> Shard:
    """Register ``shard`` in ``con`` as a normalised view; fills in view, rows, schema, skipped. ``extra``
    adds columns as text: {view column: (the file's column, the option that names it)}; a missing one is an error."""
    shard.view = f"shard_{abs(hash((shard.asset, str(shard.path)))):x}"
    raw = f"{shard.view}_raw"
    if shard.format == "parquet":
        try:
            meta = pq.ParquetFile(shard.path).metadata
        except Exception as e:  # pyarrow raises several types for a corrupt footer or page
            raise InvalidInput(f"not a readable Parquet file ({e})", hint="re-create the file or remove it from data.files", where=str(shard.path)) from None
        shard.rows = meta.num_rows
        con.execute(f"CREATE OR REPLACE TEMP VIEW {raw} AS SELECT *, file_row_number + 1 AS __row FROM read_parquet({literal(literal_path(shard.path))}, file_row_number=true)")
    else:
        table = _read_jsonl(shard, on_error) if shard.format == "jsonl" else _read_csv(shard)
        shard.rows = table.num_rows
        con.register(raw, table)
    with reading(shard):
        columns = {name: str(typ) for name, typ in con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {raw})").fetchall()}
    text = fields["text"]
    if text not in columns:
        raise InvalidInput(f"no text column {text!r} (columns: {', '.join(c for c in columns if c != '__row')})",
                           hint="name it with --text-field or data.fields.text in the dataset's charter", where=str(shard.path), field="text")
    added = ""
    for out, (col, option) in (extra or {}).items():
        if col not in columns:
            raise InvalidInput(f"no column {col!r} (columns: {', '.join(c for c in columns if c != '__row')})",
                               hint=f"name it with {option}", where=str(shard.path), field=col)
        added += f"CAST({ident(col)} AS VARCHAR) AS {out},\n        "
    shard.schema = {role: columns.get(col, "") for role, col in fields.items()}
    con.execute(f"""CREATE OR REPLACE TEMP VIEW {shard.view} AS SELECT
        CAST({ident(text)} AS VARCHAR) AS text,
        {_tags(fields['allow'], columns, shard)} AS charter_allow,
        {_tags(fields['deny'], columns, shard)} AS charter_deny,
        {f'CAST({ident(fields["owner"])} AS VARCHAR)' if fields['owner'] in columns else 'CAST(NULL AS VARCHAR)'} AS charter_owner,
        {added}__row AS source_row
        FROM {raw}""")
    return shard


_LINKS: list = []
_LINK_IDS = itertools.count()


def literal_path(path: Path) -> str:
    """A name DuckDB reads as exactly this file: its readers expand ``* ? [ ]`` (and ``{}``) as globs, so a
    file named ``b[1].parquet`` would read ``b1.parquet``. Such a file is read through a plainly named link."""
    if not set(str(path)) & set("*?[]{}"):
        return str(path)
    import atexit
    import tempfile

    if not _LINKS:
        _LINKS.append(tempfile.TemporaryDirectory(prefix="charter-literal-"))
        atexit.register(_LINKS[0].cleanup)
    link = Path(_LINKS[0].name) / f"{next(_LINK_IDS)}{Path(path).suffix}"
    link.symlink_to(Path(path).resolve())
    return str(link)


def _tags(col: str, columns: dict[str, str], shard: Shard) -> str:
    typ = columns.get(col)
    if typ is None or typ == '"NULL"' or typ == "NULL":
        return f"[]::{LIST}"
    if typ in (f"{LIST}", '"NULL"[]', "NULL[]"):  # lists of strings (or of NULLs only: JSON's `[]`, `[null]`)
        # NULL lists are explicit: a NULL column means no tags, never "skip the checks" (a NULL on
        # one side of `allow || deny` used to hide the other side's unknown tags).
        # (CASE, not coalesce: DuckDB runs the CASE ~15% faster over a list column)
        return f"CASE WHEN {ident(col)} IS NULL THEN []::{LIST} ELSE CAST({ident(col)} AS {LIST}) END"
    if typ == "VARCHAR":  # "a;b" (CSV) -> ['a', 'b']
        return f"list_filter(list_transform(string_split(coalesce({ident(col)}, ''), ';'), lambda x: trim(x)), lambda x: x <> '')"
    raise InvalidInput(f"tag column {col!r} has type {typ}", hint="store use ids as a list of strings or a ';'-separated string", where=str(shard.path), field=col)


def _read_jsonl(shard: Shard, on_error: str) -> pa.Table:
    # pyarrow's reader only sees files whose every line opens a JSON object and that are valid UTF-8:
    # a first line `null` crashes it (segfault, pyarrow 26), and it would not name the bad line.
    data = Path(shard.path).read_bytes()
    if _plain_objects(data):
        try:
            table = pajson.read_json(pa.BufferReader(data))
            return table.append_column("__row", pa.array(range(1, table.num_rows + 1), pa.int64()))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return _slow_jsonl(shard, on_error)  # find the bad lines, to name them


def _plain_objects(data: bytes) -> bool:
    """Every line starts with ``{`` (so none is blank) and the bytes are UTF-8. Vectorised: a regex
    over the lines took 3x as long as pyarrow's whole read, this ~10%. A line indented before its
    ``{`` is valid but rare; it only sends the file to the line-by-line reader."""
    import numpy as np

    tail = data[-4096:]
    end = len(data) - len(tail) + len(tail.rstrip()) if tail.strip() else len(data.rstrip())
    b = np.frombuffer(data, np.uint8, count=end)
    if not end or b[0] != ord("{") or not (b[np.flatnonzero(b == ord("\n")) + 1] == ord("{")).all():
        return False
    if b"NaN" in data or b"Infinity" in data:  # pyarrow accepts these bare (not JSON); the line reader decides
        return False
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _slow_jsonl(shard: Shard, on_error: str) -> pa.Table:
    """Line by line: exact line numbers for errors, and skipping when asked."""
    rows, lines = [], []
    with open(shard.path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")  # strict: a replaced byte would silently change a tag or an owner
                rec = json.loads(line, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
                if not isinstance(rec, dict):
                    raise ValueError(f"a record must be a JSON object, not {_json_kind(rec)}")
            except UnicodeDecodeError as e:
                msg = f"invalid UTF-8 at byte {e.start}"
                if on_error != "skip":
                    raise InvalidInput(f"malformed JSON line: {msg}", hint="re-encode the file as UTF-8, or pass --on-error skip to skip and count such lines",
                                       where=f"{shard.path}:{n}") from None
                shard.skipped.append({"line": n, "error": msg})
                continue
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
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:  # OverflowError: an integer beyond 64 bits
        raise InvalidInput(f"records disagree on a field's type ({e})", hint="give each field one type in every line", where=str(shard.path)) from None
    if table.num_columns == 0:  # only `{}` lines (or none): rows without fields
        return pa.table({"__row": pa.array(lines, pa.int64())})
    return table.append_column("__row", pa.array(lines, pa.int64()))


def _no_duplicates(pairs: list) -> dict:
    # `{"charter_deny": ["commercial"], "charter_deny": []}`: parsers differ on which one counts
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {dup!r} appears twice in one object")
    return out


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _json_kind(v) -> str:
    return "null" if v is None else {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(type(v), type(v).__name__)


def _check_utf8(shard: Shard) -> None:
    """Text files must be UTF-8: DuckDB refuses invalid bytes mid-query, and replacing them would
    silently change a tag or an owner. The error names the line of the first bad byte."""
    data = Path(shard.path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InvalidInput(f"invalid UTF-8 at byte {e.start}", hint="re-encode the file as UTF-8", where=f"{shard.path}:{line}") from None


def _read_csv(shard: Shard) -> pa.Table:
    _check_utf8(shard)
    try:
        table = pacsv.read_csv(shard.path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InvalidInput(f"malformed CSV ({str(e).splitlines()[0]})", hint="fix the CSV (quotes, column counts)", where=str(shard.path)) from None
    return table.append_column("__row", pa.array(range(1, table.num_rows + 1), pa.int64()))


@contextmanager
def reading(shard: Shard):
    """DuckDB finds some damage only while reading (a Parquet page that does not decode, bytes that are not
    UTF-8): name the file instead of surfacing the engine's error."""
    try:
        yield
    except duckdb.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InvalidInput(f"cannot read this file ({first})", hint="re-create the file or remove it from the dataset's data", where=str(shard.path)) from None


def unknown_tags_sql(taxonomy) -> str:
    """SQL true for a record of a shard view carrying a tag outside the taxonomy."""
    from charter.data.predicate import ALLOW, DENY, Unknown, render

    known = tuple(sorted(taxonomy.uses))
    return " OR ".join(render(Unknown(c, known), "duckdb") for c in (ALLOW, DENY))


def check_tags(con: duckdb.DuckDBPyConnection, shard: Shard, taxonomy) -> None:
    """Every record tag of the shard must be a use id of the taxonomy, exactly as written (ids are
    lower-case; ``Commercial`` or `` research `` in a list is an unknown id, with a did-you-mean):
    a typo would otherwise silently change a decision. Raises UnknownUse naming file:row.
    A NULL element of a tag list names no use; the predicate ignores it, and so does this check."""
    q = (f"SELECT t, min(source_row) FROM (SELECT unnest(list_concat(charter_allow, charter_deny)) AS t, source_row FROM {shard.view}) "
         f"WHERE t IS NOT NULL GROUP BY t ORDER BY 2")
    for tag, row in con.execute(q).fetchall():
        if tag not in taxonomy:
            taxonomy.check(tag, where=row_where(shard, row), field="record tags")


def row_where(shard: Shard, row: int) -> str:
    return f"{shard.path}:{row}" if shard.format == "jsonl" else f"{shard.path} (record {row})"


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
