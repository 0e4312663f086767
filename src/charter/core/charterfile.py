"""Parse charter files (YAML or JSON, one or more assets) into validated Assets.

Accepted shapes: a single asset mapping, a list of them, or ``{assets: [...]}``.
Every problem raises InvalidInput naming ``file:line`` and the field.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import os
import re
from pathlib import Path
from typing import Any

from charter.core.assets import DUTIES, RELATIONS, Asset, Edge, Requirement
from charter.core.files import LineDict, load_document, resource
from charter.core.ids import KINDS, make_id, parse_id, valid_name, valid_version
from charter.core.uses import Taxonomy
from charter.errors import InvalidInput

FIELDS = ("id", "kind", "name", "version", "description", "license", "uses", "duties", "derived_from", "requires", "notes", "data", "public_key", "attest",
          "source")
SOURCE_FIELDS = ("crawl", "url_field", "fetched_at_field")
REQUIRE_FIELDS = ("use", "benchmark", "metric", "min", "max", "abs_max", "min_n", "ci_within")
DATA_ROLES = ("text", "allow", "deny", "owner")
CONTRIBUTOR_FIELDS = ("compute", "samples", "steps")
DATA_DEFAULTS = {"text": "text", "allow": "charter_allow", "deny": "charter_deny", "owner": "charter_owner"}


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str], fallback: str) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else fallback


class _Ctx:
    """Where we are in the file, for error messages."""

    def __init__(self, path: str, node: Any):
        self.path = path
        self.node = node

    def at(self, key: str | None = None, node: Any = None) -> str:
        node = self.node if node is None else node
        if isinstance(node, LineDict):
            line = node.line_of(key) if key else node.line
            return f"{self.path}:{line}"
        return self.path

    def fail(self, msg: str, field: str, hint: str, key: str | None = None, node: Any = None):
        raise InvalidInput(msg, hint=hint, where=self.at(key, node), field=field)


def load_file(path: Path, taxonomy: Taxonomy, data_root: Path | None = None) -> list[Asset]:
    """The assets of a charter file. A JSON file is read first without line numbers (files.parse_json_fast: a
    file of 20,000 charters in 0.3 s instead of 14 s); when that finds anything to refuse, the file is read again
    line by line, so that the error names the line."""
    if str(path).endswith(".json"):
        try:
            return parse_document(load_document(path, lines=False), str(path), taxonomy, data_root)
        except InvalidInput:
            pass  # the same file again, with lines: the error it raises (or the assets, if only the fast read balked)
    return parse_document(load_document(path), str(path), taxonomy, data_root)


def parse_document(doc: Any, path: str, taxonomy: Taxonomy, data_root: Path | None = None) -> list[Asset]:
    if isinstance(doc, dict) and "assets" in doc:
        extra = set(doc) - {"assets"}
        if extra:
            _Ctx(path, doc).fail(f"unknown top-level field {sorted(extra)[0]!r}", sorted(extra)[0], "a file with 'assets:' may hold nothing else", sorted(extra)[0])
        items = doc["assets"]
    elif isinstance(doc, dict):
        items = [doc]
    else:
        items = doc
    if not isinstance(items, list) or not items:
        raise InvalidInput("no assets in file", hint="write one asset mapping, a list of them, or {assets: [...]}", where=path)
    assets = [parse_asset(item, path, taxonomy, i if len(items) > 1 else None, data_root) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, a in enumerate(assets):
        if a.id in seen:
            raise InvalidInput(f"asset {a.id!r} appears twice in this file", hint="give each version its own id", where=_Ctx(path, items[i]).at("id"), field="id")
        seen[a.id] = i
    return assets


def parse_asset(item: Any, path: str, taxonomy: Taxonomy, index: int | None = None, data_root: Path | None = None) -> Asset:
    pre = f"assets[{index}]." if index is not None else ""
    ctx = _Ctx(path, item)
    if not isinstance(item, dict):
        raise InvalidInput("an asset must be a mapping", hint="write fields as key: value", where=path, field=pre.rstrip("."))
    for key in item:
        if key not in FIELDS:
            ctx.fail(f"unknown field {key!r}", pre + str(key), _did_you_mean(key, FIELDS, f"allowed fields: {', '.join(FIELDS)}"), key)

    kind, name, version = _identity(item, ctx, pre)
    uses = item.get("uses") or {}
    if not isinstance(uses, dict):
        ctx.fail("'uses' must be a mapping with allow and/or deny lists", pre + "uses", "write uses: {allow: [...], deny: [...]}", "uses")
    for key in uses:
        if key not in ("allow", "deny"):
            ctx.fail(f"unknown field {key!r}", f"{pre}uses.{key}", _did_you_mean(key, ("allow", "deny"), "use allow or deny"), key, uses)
    allow = _use_list(uses.get("allow"), f"{pre}uses.allow", ctx, uses, "allow", taxonomy)
    deny = _use_list(uses.get("deny"), f"{pre}uses.deny", ctx, uses, "deny", taxonomy)
    duties = _str_list(item.get("duties"), pre + "duties", ctx, "duties")
    for i, d in enumerate(duties):
        if d not in DUTIES:
            ctx.fail(f"unknown duty {d!r}", f"{pre}duties[{i}]", _did_you_mean(d, DUTIES, f"duties are {', '.join(DUTIES)}"), "duties")
    aid = make_id(kind, name, version)
    edges = _edges(item.get("derived_from"), aid, ctx, pre)
    licenses = _str_list(item.get("license"), pre + "license", ctx, "license")
    notes = item.get("notes") or {}
    if not isinstance(notes, dict):
        ctx.fail("'notes' must be a mapping", pre + "notes", "write notes: {key: value}", "notes")
    desc = item.get("description") or ""
    if not isinstance(desc, str):
        ctx.fail("'description' must be a string", pre + "description", "quote the text", "description")
    data = _data(item.get("data"), kind, path, ctx, pre, data_root)
    if item.get("source") is not None:
        data = {**data, "source": _source(item["source"], data, ctx, pre)}
    requires = _requires(item.get("requires"), ctx, pre, taxonomy)
    public_key = _public_key(item, kind, ctx, pre)
    attest = _str_list(item.get("attest"), pre + "attest", ctx, "attest")
    for i, c in enumerate(attest):
        if not _ATTEST_ID.fullmatch(c):
            ctx.fail(f"attest entry {c!r} is not a condition id", f"{pre}attest[{i}]", "write a licence condition's id, e.g. attest: [llama-700m-mau] (charter licenses show ID lists them)", "attest")
    if kind == "compute" and edges:
        ctx.fail("a compute asset derives from nothing", pre + "derived_from", "remove 'derived_from'; models name the compute with relation trained-with", "derived_from")
    if "contributors" in notes:
        _contributors(notes["contributors"], edges, ctx, pre, notes)
    return Asset(
        id=aid, kind=kind, name=name, version=version, description=desc.strip(), data=data,
        licenses=tuple(dict.fromkeys(x for x in licenses if x)),
        allow=allow, deny=deny, duties=tuple(duties), derived_from=edges, requires=requires,
        notes=_plain(notes), public_key=public_key, attest=tuple(dict.fromkeys(attest)),
    )


KEY_PREFIX = "ed25519:"
_ATTEST_ID = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
_KEY_EXAMPLE = "public_key: ed25519:<base64 of the 32 raw bytes of the volunteer's Ed25519 public key>"


def _public_key(item: dict, kind: str, ctx: _Ctx, pre: str) -> str:
    """``public_key: ed25519:<base64>`` — required for compute, refused elsewhere. The text must be the
    canonical base64 of exactly 32 bytes that the ``cryptography`` library accepts as an Ed25519 key."""
    field = pre + "public_key"
    if "public_key" not in item:
        if kind == "compute":
            ctx.fail("a compute asset needs 'public_key'", field, f"add {_KEY_EXAMPLE}", None)
        return ""
    if kind != "compute":
        ctx.fail(f"only compute assets have a public key, not a {kind}", field, "remove 'public_key' or make the asset compute/...", "public_key")
    text = item["public_key"]
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        ctx.fail(f"public key {text!r} does not start with {KEY_PREFIX!r}", field, f"write {_KEY_EXAMPLE}", "public_key")
    import base64
    import binascii

    body = text[len(KEY_PREFIX):]
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode() != body:
        ctx.fail(f"public key {text!r} is not valid base64", field, f"write {_KEY_EXAMPLE} (standard alphabet, padded)", "public_key")
    if len(raw) != 32:
        ctx.fail(f"public key is {len(raw)} bytes, an Ed25519 key is 32", field, f"write {_KEY_EXAMPLE}, the raw key, not a PEM or DER file", "public_key")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        ctx.fail(f"public key is not an Ed25519 key ({e})", field, f"write {_KEY_EXAMPLE}", "public_key")
    return text


def _source(value: Any, data: dict, ctx: _Ctx, pre: str) -> dict:
    """``source: {crawl: NAME, url_field: url, fetched_at_field: fetched_at}``: the dataset is a web crawl, so its
    sites' signals (data/signals.py) are re-checked per record by adapt and train, like record tags."""
    example = "write source: {crawl: common-crawl-2026-05, url_field: url}"
    if not data:
        ctx.fail("only a dataset with data files can declare its crawl", pre + "source", "add data: [files], or remove 'source'", "source")
    if not isinstance(value, dict) or not isinstance(value.get("crawl"), str) or not value["crawl"].strip():
        ctx.fail("'source' must name its crawl", pre + "source", example, "source")
    out = {"crawl": value["crawl"].strip(), "url_field": "url"}
    for key, v in value.items():
        if key not in SOURCE_FIELDS:
            ctx.fail(f"unknown field {key!r}", f"{pre}source.{key}", _did_you_mean(key, SOURCE_FIELDS, f"fields: {', '.join(SOURCE_FIELDS)}"), key, value)
        if key != "crawl":
            if not isinstance(v, str) or not v.strip():
                ctx.fail(f"'source.{key}' must be a column name", f"{pre}source.{key}", example, key, value)
            out[key] = v.strip()
    return out


def _contributors(value: Any, edges: tuple[Edge, ...], ctx: _Ctx, pre: str, notes: Any) -> None:
    """``notes.contributors: [{compute: compute/...@v, samples: n, steps: n}]`` (written by a training run):
    each entry names one of the asset's trained-with parents; samples and steps are counts."""
    field = pre + "notes.contributors"
    example = "write contributors: [{compute: compute/alice-workstation@1, samples: 1200, steps: 40}]"
    if not isinstance(value, list):
        ctx.fail("'notes.contributors' must be a list", field, example, "contributors", notes)
    parents = [e.parent for e in edges if e.relation == "trained-with"]
    seen = set()
    for i, c in enumerate(value):
        f = f"{field}[{i}]"
        if not isinstance(c, dict) or "compute" not in c:
            ctx.fail("each contributor needs 'compute'", f, example, "contributors", notes)
        for key in c:
            if key not in CONTRIBUTOR_FIELDS:
                ctx.fail(f"unknown field {key!r}", f"{f}.{key}", _did_you_mean(key, CONTRIBUTOR_FIELDS, f"fields: {', '.join(CONTRIBUTOR_FIELDS)}"), key, c)
        if c["compute"] not in parents:
            ctx.fail(f"{c['compute']!r} is not a trained-with parent of this asset", f"{f}.compute",
                     f"add {{asset: {c['compute']}, relation: trained-with}} to derived_from" if isinstance(c["compute"], str) else example, "compute", c)
        if c["compute"] in seen:
            ctx.fail(f"{c['compute']} is listed twice", f"{f}.compute", "give each compute asset one entry", "compute", c)
        seen.add(c["compute"])
        for key in ("samples", "steps"):
            v = c.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                ctx.fail(f"'{key}' must be a count (a whole number >= 0)", f"{f}.{key}", f"write {key}: 1200", key, c)


def _data(value: Any, kind: str, path: str, ctx: _Ctx, pre: str, data_root: Path | None = None) -> dict:
    """``data: [paths]`` or ``data: {files: [paths], glob: [patterns], fields: {text, allow, deny, owner}}``.

    A path is read literally (``b[1].parquet`` is that file; a folder stands for its data files); only a
    ``glob`` entry is expanded. Paths resolve against the charter file's folder and, symlinks resolved,
    must lie under the data root (that folder, or ``data_root``). The exact files found are registered
    with their sha256 and size (``digests``), so every later reader can check it reads what was registered.
    """
    if value is None:
        return {}
    if kind != "dataset":
        ctx.fail(f"only datasets have data files, not a {kind}", pre + "data", "remove 'data' or make the asset a dataset", "data")
    node = value if isinstance(value, dict) else ctx.node
    files, globs, fields = (value.get("files"), value.get("glob"), value.get("fields") or {}) if isinstance(value, dict) else (value, None, {})
    if isinstance(value, dict):
        for key in value:
            if key not in ("files", "glob", "fields"):
                ctx.fail(f"unknown field {key!r}", f"{pre}data.{key}", _did_you_mean(key, ("files", "glob", "fields"), "data has files, glob and fields"), key, value)
    files = _str_list(files, pre + "data.files", ctx, "files" if isinstance(value, dict) else "data", node)
    globs = _str_list(globs, pre + "data.glob", ctx, "glob", node)
    if not files and not globs:
        ctx.fail("'data' names no files", pre + "data.files", "list paths relative to this file, e.g. data: [a.parquet], or data: {glob: shards/*.parquet}", "data")
    if not isinstance(fields, dict):
        ctx.fail("'data.fields' must be a mapping", pre + "data.fields", "write fields: {text: body, owner: author_id}", "fields", value)
    for role, col in fields.items():
        if role not in DATA_ROLES:
            ctx.fail(f"unknown field role {role!r}", f"{pre}data.fields.{role}", _did_you_mean(role, DATA_ROLES, f"roles: {', '.join(DATA_ROLES)}"), role, fields)
        if not isinstance(col, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", col):
            ctx.fail(f"invalid column name {col!r}", f"{pre}data.fields.{role}", "use a plain column name (letters, digits, _)", role, fields)
    base = Path(path).resolve().parent
    root = Path(data_root).resolve() if data_root else base
    key = "files" if isinstance(value, dict) and files else "data"
    found: list[Path] = []
    for f in files:
        p = base / f
        if not p.exists():
            ctx.fail(f"no file {f!r}", pre + "data.files", f"paths are read literally, relative to {base}; for a pattern write data: {{glob: {f}}}", key, node)
        found += _data_files(p, f, pre, ctx, key, node)
    for g in globs:
        import glob as glob_mod

        hits = sorted(glob_mod.glob(str(base / g), recursive=True))
        if not hits:
            ctx.fail(f"no file matches {g!r}", pre + "data.glob", f"patterns are relative to {base}", "glob", node)
        for h in hits:
            found += _data_files(Path(h), g, pre, ctx, "glob", node)
    found = list(dict.fromkeys(found))
    for p in found:
        real = p.resolve()
        if not real.is_relative_to(root):
            ctx.fail(f"{p} is outside the data root {root}", pre + "data", "keep data under the charter file's folder, or widen it with `charter add --data-root DIR`", key, node)
    from charter.core.digests import digests_of

    return {
        "files": [p.as_posix() for p in found],
        **({"glob": [(base / g).as_posix() for g in globs]} if globs else {}),
        "fields": {**DATA_DEFAULTS, **fields},
        "digests": digests_of(found),
    }


DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv")


def _data_files(p: Path, written: str, pre: str, ctx: _Ctx, key: str, node: Any) -> list[Path]:
    """A data file, or a folder's data files (sorted; hidden files skipped), as absolute paths."""
    p = Path(os.path.abspath(p))
    if p.is_dir():
        return sorted(c for c in p.iterdir() if c.suffix in DATA_SUFFIXES and not c.name.startswith(".") and c.is_file())
    if p.suffix not in DATA_SUFFIXES:
        ctx.fail(f"unsupported file type {p.suffix!r} ({written})", pre + "data", f"use {', '.join(DATA_SUFFIXES)}", key, node)
    return [p]


def _requires(value: Any, ctx: _Ctx, pre: str, taxonomy: Taxonomy) -> tuple[Requirement, ...]:
    """``requires: [{use, benchmark, metric, min, max, abs_max, ci_within: [lo, hi], min_n}]`` (at least one bound); benchmarks and metrics from resources/benchmarks.yaml."""
    if value is None:
        return ()
    example = "write requires: [{use: employment-decisions, benchmark: bbq, metric: amb_bias_score, max: 0.05}]"
    if not isinstance(value, list):
        ctx.fail("'requires' must be a list", pre + "requires", example, "requires")
    known = benchmark_metrics()
    out: list[Requirement] = []
    for i, r in enumerate(value):
        field = f"{pre}requires[{i}]"
        if not isinstance(r, dict) or not all(k in r for k in ("use", "benchmark", "metric")):
            ctx.fail("each requirement needs 'use', 'benchmark' and 'metric'", field, example, "requires")
        for key in r:
            if key not in REQUIRE_FIELDS:
                ctx.fail(f"unknown field {key!r}", f"{field}.{key}", _did_you_mean(key, REQUIRE_FIELDS, f"fields: {', '.join(REQUIRE_FIELDS)}"), key, r)
        taxonomy.check(str(r["use"]), where=ctx.at("use", r), field=f"{field}.use")
        bench, metric = str(r["benchmark"]), str(r["metric"])
        if bench not in known:
            ctx.fail(f"unknown benchmark {bench!r}", f"{field}.benchmark", _did_you_mean(bench, tuple(known), f"benchmarks: {', '.join(known)}"), "benchmark", r)
        if metric not in known[bench]:
            ctx.fail(f"{bench} has no metric {metric!r}", f"{field}.metric", _did_you_mean(metric, tuple(known[bench]), f"{bench} metrics: {', '.join(known[bench])}"), "metric", r)
        bounds = {}
        for key in ("min", "max", "abs_max"):
            v = r.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                ctx.fail(f"'{key}' must be a number", f"{field}.{key}", f"write {key}: 0.05", key, r)
            bounds[key] = float(v) if v is not None else None
        if bounds["abs_max"] is not None and bounds["abs_max"] < 0:
            ctx.fail("'abs_max' must not be negative", f"{field}.abs_max", "write abs_max: 0.05 (|value| <= 0.05)", "abs_max", r)
        min_n = r.get("min_n")
        if min_n is not None and (isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1):
            ctx.fail("'min_n' must be a whole number of items, at least 1", f"{field}.min_n", "write min_n: 200", "min_n", r)
        ci = r.get("ci_within")
        if ci is not None:
            if (not isinstance(ci, list) or len(ci) != 2
                    or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in ci)):
                ctx.fail("'ci_within' must be two numbers [lo, hi]", f"{field}.ci_within", "write ci_within: [-0.05, 0.05]", "ci_within", r)
            if ci[0] > ci[1]:
                ctx.fail("ci_within's lower end is above its upper end", f"{field}.ci_within", "write [lo, hi] with lo <= hi", "ci_within", r)
            ci = (float(ci[0]), float(ci[1]))
        if all(bounds[k] is None for k in bounds) and ci is None:
            ctx.fail("a requirement needs a bound", field, "add min:, max:, abs_max: or ci_within:", "requires")
        if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
            ctx.fail("min is above max", field, "swap them", "min", r)
        req = Requirement(str(r["use"]), bench, metric, bounds["min"], bounds["max"], bounds["abs_max"], min_n, ci)
        if req not in out:
            out.append(req)
    return tuple(out)


@functools.cache
def benchmark_metrics() -> dict[str, dict[str, dict]]:
    """The benchmarks charter.evals runs, their metrics and which way each is better
    (data: resources/benchmarks.yaml)."""
    doc = load_document(resource("benchmarks.yaml"))
    return {str(b): {str(m): dict(v) for m, v in d["metrics"].items()} for b, d in doc["benchmarks"].items()}


def _identity(item: dict, ctx: _Ctx, pre: str) -> tuple[str, str, str]:
    if "id" in item:
        kind, name, version = parse_id(item["id"], where=ctx.at("id"), field=pre + "id")
        for key, value in (("kind", kind), ("name", name), ("version", version)):
            if key in item and _text(item, key) != value:  # as written: version: 1.10 is "1.10", not the float 1.1
                ctx.fail(f"{key} {_text(item, key)!r} disagrees with id {item['id']!r}", pre + key, f"drop '{key}' or make it {value!r}", key)
        return kind, name, version
    missing = [k for k in ("kind", "name", "version") if k not in item]
    if missing:
        ctx.fail(f"missing field {missing[0]!r}", pre + "id", "give id: kind/name@version (or kind, name and version)", None)
    kind, name, version = (_text(item, k) for k in ("kind", "name", "version"))
    if kind not in KINDS:
        ctx.fail(f"unknown kind {kind!r}", pre + "kind", _did_you_mean(kind, KINDS, f"kind is one of {', '.join(KINDS)}"), "kind")
    if not valid_name(name):
        ctx.fail(f"invalid name {name!r}", pre + "name", "use letters, digits and . _ + / -", "name")
    if not valid_version(version):
        ctx.fail(f"invalid version {version!r}", pre + "version", "use letters, digits and . _ + -", "version")
    return kind, name, version


def _text(item: dict, key: str) -> str:
    """A scalar as written: YAML reads ``version: 1.10`` as the float 1.1."""
    value = item[key]
    if isinstance(value, str):
        return value
    raw = getattr(item, "scalars", {}).get(key)
    return raw if raw is not None else str(value)


def _str_list(value: Any, field: str, ctx: _Ctx, key: str, node: Any = None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        ctx.fail(f"'{key}' must be a list of strings", field, f"write {key}: [a, b]", key, node)
    return [v.strip() for v in value]


def _use_list(value: Any, field: str, ctx: _Ctx, node: Any, key: str, taxonomy: Taxonomy) -> tuple[str, ...]:
    out = []
    for i, u in enumerate(_str_list(value, field, ctx, key, node)):
        taxonomy.check(u, where=ctx.at(key, node), field=f"{field}[{i}]")
        if u not in out:
            out.append(u)
    return tuple(out)


def _edges(value: Any, child: str, ctx: _Ctx, pre: str) -> tuple[Edge, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        ctx.fail("'derived_from' must be a list", pre + "derived_from", "write derived_from: [{asset: kind/name@version, relation: trained-on}]", "derived_from")
    edges = []
    for i, e in enumerate(value):
        field = f"{pre}derived_from[{i}]"
        if not isinstance(e, dict) or "asset" not in e or "relation" not in e:
            ctx.fail("each lineage entry needs 'asset' and 'relation'", field, "write {asset: kind/name@version, relation: trained-on}", "derived_from")
        for key in e:
            if key not in ("asset", "relation"):
                ctx.fail(f"unknown field {key!r}", f"{field}.{key}", "lineage entries have asset and relation", key, e)
        parse_id(e["asset"], where=ctx.at("asset", e), field=f"{field}.asset")
        rel = e["relation"]
        if rel not in RELATIONS:
            ctx.fail(f"unknown relation {rel!r}", f"{field}.relation", _did_you_mean(rel, RELATIONS, f"relations: {', '.join(RELATIONS)}"), "relation", e)
        if e["asset"] == child:
            ctx.fail(f"{child} cannot derive from itself", f"{field}.asset", "remove this entry", "asset", e)
        is_compute = e["asset"].startswith("compute/")
        if rel == "trained-with" and not is_compute:
            ctx.fail(f"trained-with names a compute asset, not {e['asset']!r}", f"{field}.asset",
                     "use trained-on for data and fine-tuned-from (or adapter-of, ...) for a base model", "asset", e)
        if is_compute and rel != "trained-with":
            ctx.fail(f"a compute asset is linked by trained-with, not {rel!r}", f"{field}.relation", "write relation: trained-with", "relation", e)
        edge = Edge(child, e["asset"], rel)
        if edge not in edges:
            edges.append(edge)
    return tuple(edges)


def _plain(value: Any) -> Any:
    """Strip LineDict to plain dicts so notes compare and serialise normally."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):  # YAML timestamps; notes must be JSON
        return value.isoformat()
    return value
