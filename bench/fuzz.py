"""Fuzzing Charter's untrusted inputs with Hypothesis: charter files, taxonomy files, record files
(JSON Lines, CSV, Parquet) run through a whole `curate`, each importer's input, and signed bundles and
feeds (byte mutations, and values of other types put at any path of the JSON).

The promise under test (docs/security.md): whatever the bytes, Charter answers with a result or a
`CharterError` (a one-line error naming the file and the fix), never another exception, never a crash.
Each target takes the bytes of one file. Inputs are mutations of real seed files (the shipped example
charters, the taxonomy, the importers' test fixtures) by a dictionary of YAML/JSON/CSV tokens that
have broken parsers before (aliases, tags, NaN, NUL bytes, brackets in file names, Rich markup,
invalid UTF-8), plus records generated field by field with every type a column can hold.

    python bench/fuzz.py                    # every target, 2,000 examples each
    python bench/fuzz.py --examples 300 --target charter-file --target records-jsonl

tests/test_fuzz.py runs the same targets with a small budget in the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "imports" / "fixtures"

TOKENS = [
    b"&a ", b"*a", b"<<: *a\n", b"!!python/object:os.system ", b"!!binary ", b"NaN", b".nan", b".inf", b"-.inf", b"Infinity",
    b"1e999", b"\x00", b"\t", b"\r", b"\n", b"\n  - ", b": ", b"- ", b"[", b"]", b"{", b"}", b",", b"'", b'"', b"#", b"|", b">",
    b"---\n", b"...\n", b"%YAML 1.1\n", b"~", b"null", b"true", b"[/]", b"[bold]", b"b[1].parquet", b"../../etc/passwd",
    b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", "é".encode(), "\u202e".encode(), b"uses", b"deny", b"allow", b"derived_from",
    b"license", b"data", b"id: x/y@1", b"@", b"/", b"commercial", b"comercial", b";", b"\\", b"{}", b"[]", b"0x10", b"-1",
    b"99999999999999999999", b"9" * 400,
]

mutation = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.sampled_from(TOKENS)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("repeat"), st.integers(0, 10**6), st.integers(1, 80)),
)


def mutate(seed: bytes, ops) -> bytes:
    b = bytearray(seed)
    for op, at, arg in ops:
        i = at % (len(b) + 1)
        if op == "insert":
            b[i:i] = arg
        elif op == "delete":
            del b[i:i + arg]
        elif op == "flip" and b:
            b[i % len(b)] ^= arg
        elif op == "repeat":
            b[i:i] = b[i:i + arg]
    return bytes(b)


def mutated(seeds: list[bytes]):
    return st.builds(mutate, st.sampled_from(seeds), st.lists(mutation, min_size=1, max_size=6))


# --- targets: bytes in, a result or a CharterError out ---------------------------------------------
def _taxonomy():
    from charter.core.uses import load

    global _TAX
    try:
        return _TAX
    except NameError:
        _TAX = load()
        return _TAX


def charter_file(data: bytes, suffix: str = ".yaml") -> None:
    from charter.core.charterfile import load_file
    from charter.errors import CharterError

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"fuzz{suffix}"
        p.write_bytes(data)
        try:
            load_file(p, _taxonomy())
        except CharterError:
            pass


def taxonomy_file(data: bytes) -> None:
    from charter.core.uses import load
    from charter.errors import CharterError

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "taxonomy.yaml"
        p.write_bytes(data)
        try:
            load(p)
        except CharterError:
            pass


def records(data: bytes, fmt: str, on_error: str = "stop") -> None:
    """A dataset whose one file holds ``data``, registered and curated end to end."""
    from charter.data.curate import CurateConfig, curate
    from charter.errors import CharterError
    from charter.registry import Registry
    from charter.store.memory import MemoryStore

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / f"records.{fmt}"
        f.write_bytes(data)
        (Path(d) / "c.yaml").write_text(f"id: dataset/fuzz@1\nlicense: CC-BY-4.0\ndata: [records.{fmt}]\n")
        reg = Registry(MemoryStore(), _taxonomy())
        try:
            reg.add_files([Path(d) / "c.yaml"])
            curate(reg, CurateConfig(sources=("dataset/fuzz@1",), uses=("fine-tuning", "commercial"), out=Path(d) / "out", on_error=on_error))
        except CharterError:
            pass


def importer(data: bytes, which: str, name: str) -> None:
    """One file of an importer's input replaced by ``data`` (the rest are the real fixtures)."""
    import shutil

    from charter.errors import CharterError
    from charter.imports import dpi, ecosystem_graphs, hf_card
    from charter.policy.licenses import load as load_licenses

    tax = _taxonomy()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / which
        shutil.copytree(FIXTURES / which, root)
        (root / name).write_bytes(data)
        try:
            if which == "ecosystem-graphs":
                ecosystem_graphs.load(root, load_licenses(tax), tax)
            elif which == "dpi-mini":
                dpi.load(root, load_licenses(tax))
            else:
                hf_card.load(root / name, load_licenses(tax))
        except CharterError:
            pass


# --- record generation ------------------------------------------------------------------------------
_tag = st.one_of(st.sampled_from(["commercial", "fine-tuning", "research", "machine-translation", "military", "inference"]),
                 st.sampled_from(["Commercial", " research ", "comercial", "", "a;b", "[/]"]), st.text(max_size=8))
_tags = st.one_of(st.none(), st.lists(st.one_of(_tag, st.none()), max_size=4), _tag, st.integers(), st.booleans())
_record = st.fixed_dictionaries(
    {"text": st.one_of(st.text(max_size=40), st.none(), st.integers())},
    optional={"charter_allow": _tags, "charter_deny": _tags, "charter_owner": st.one_of(st.none(), st.text(max_size=6), st.integers()),
              "extra": st.one_of(st.none(), st.floats(allow_nan=True), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))},
)


def jsonl_bytes(recs, junk) -> bytes:
    lines = [json.dumps(r).encode() for r in recs]
    for at, line in junk:
        lines.insert(at % (len(lines) + 1), line)
    return b"\n".join(lines) + b"\n"


def csv_bytes(recs) -> bytes:
    import csv
    import io

    cols = sorted({k for r in recs for k in r}) or ["text"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in recs:
        w.writerow([";".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v) for v in (r.get(c) for c in cols)])
    return buf.getvalue().encode()


def parquet_bytes(recs) -> bytes | None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pylist(recs) if recs else pa.table({"text": pa.array([], pa.string())})
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None  # mixed types pyarrow cannot write: not a Parquet file anyone could hand us
    buf = io.BytesIO()
    try:
        pq.write_table(table, buf)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return buf.getvalue()


_junk = st.lists(st.tuples(st.integers(0, 100), st.sampled_from([b"null", b"[]", b"42", b'"x"', b"{", b"\xff\xfe", b"", b"  ", b"{}", b'{"text": NaN}'])), max_size=3)


_TRUST: dict = {}


def _signed_world() -> dict:
    """A small signed lineage, its bundle and feed, and a trust store, made once per process."""
    if _TRUST:
        return _TRUST
    from charter.core.assets import Asset, Edge, Property
    from charter.registry import Registry
    from charter.store.memory import MemoryStore
    from charter.trust import keys
    from charter.trust.bundle import build_feed, bundle_text, sign_charters
    from charter.trust.keys import TrustStore

    d = Path(tempfile.mkdtemp(prefix="fuzz-trust-"))
    keys.new_key("pub", d)
    k = keys.load("pub", d)
    reg = Registry(MemoryStore())
    reg.add([Asset("dataset/d@1", "dataset", "d", "1", licenses=("MIT",), deny=("military",),
                   data={"digests": [{"path": "/x.parquet", "sha256": "ab" * 32, "bytes": 3}]}),
             Asset("model/m@1", "model", "m", "1", derived_from=(Edge("model/m@1", "dataset/d@1", "trained-on"),), notes={"weights": {"sha256": "cd" * 32}})])
    sign_charters(reg, "model/m@1", k, upstream=True)
    reg.attach([Property("model/m@1", "bbq", "bbq/1.1", "amb_bias_score", 0.01, (-0.02, 0.04), 300, detail={"groups": {"age": 0.1}})])
    reg.withdraw("dataset/d@1", "consent revoked")
    reg.restrict("model/m@1", ["surveillance"], "policy")
    trust = TrustStore()
    trust.add(k.public, ["*"], "pub")
    _TRUST.update(bundle=bundle_text(reg, "model/m@1", k).encode(), feed=json.dumps(build_feed(reg, "2000-01-01", k)).encode(), trust=trust, dir=d)
    return _TRUST


_VALUES = [None, True, 0, -1, 1.5, "", "x", "sha256:" + "0" * 64, "model/m@1", [], {}, [1], {"a": None}, "ed25519:AAAA", "\u202e"]


def json_mutated(seed: bytes):
    """A JSON document with values replaced (by path) by values of other types, or keys dropped."""
    doc = json.loads(seed)
    paths: list[tuple] = []

    def walk(x, path):
        paths.append(path)
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, (*path, k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, (*path, i))

    walk(doc, ())
    op = st.tuples(st.integers(0, len(paths) - 1), st.one_of(st.sampled_from(_VALUES), st.just("<drop>")))
    return st.lists(op, min_size=1, max_size=4).map(lambda ops: _apply(seed, paths, ops))


def _apply(seed: bytes, paths, ops) -> bytes:
    doc = json.loads(seed)
    for i, v in ops:
        path = paths[i]
        if not path:
            doc = v
            continue
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            if v == "<drop>":
                del parent[path[-1]]
            else:
                parent[path[-1]] = v
        except (KeyError, IndexError, TypeError):
            pass
    return json.dumps(doc).encode()


def bundle_file(data: bytes, feed: bool = False) -> None:
    """Bytes as a bundle (or feed) file: verified offline, then imported into a fresh registry with --unsigned-ok."""
    from charter.errors import CharterError
    from charter.registry import Registry
    from charter.store.memory import MemoryStore
    from charter.trust.bundle import BUNDLE_FORMAT, import_bundle, import_feed, read_json, verify_bundle

    w = _signed_world()
    p = w["dir"] / ("f.json" if feed else "b.json")
    p.write_bytes(data)
    try:
        if feed:
            reg = Registry(MemoryStore())
            import_bundle(reg, _write(w["dir"] / "seed.json", w["bundle"]), w["trust"])
            import_feed(reg, p, w["trust"], unsigned_ok=True)
        else:
            doc, _ = read_json(p, BUNDLE_FORMAT, "bundle")
            verify_bundle(doc, w["trust"], unsigned_ok=True)
            import_bundle(Registry(MemoryStore()), p, w["trust"], unsigned_ok=True)
    except CharterError as e:
        assert "\n" not in e.oneline()


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p
def signal_file(data: bytes, name: str) -> None:
    """A site's file (robots.txt, tdmrep.json, headers.txt, index.html) or a snapshot table holding ``data``:
    read, parsed into rules, and matched in SQL against a few URLs, as curate does."""
    import duckdb

    from charter.data import signals as sg
    from charter.errors import CharterError

    with tempfile.TemporaryDirectory() as d:
        if name.endswith(".jsonl"):
            p = Path(d) / name
        else:
            (Path(d) / "crawl" / "a.example").mkdir(parents=True)
            p = Path(d) / "crawl" / "a.example" / name
        p.write_bytes(data)
        try:
            snaps = sg.read_snapshots(p if name.endswith(".jsonl") else Path(d) / "crawl", "2026-01-01")
        except CharterError:
            return
        sts, _ = sg.states(snaps, _signals_map())
        rows, _ = sg.compile_rules(sts, ("fine-tuning", "commercial"), _taxonomy())
        con = duckdb.connect()
        sg.register_rules(con, rows, "now")
        urls = [f"https://{s.domain}/{x}" for s in snaps for x in ("", "a/b?c=%2F", "%FF", "news/x.pdf")] or ["https://a.example/"]
        con.execute("CREATE TABLE recs AS SELECT unnest(?) AS charter_url, unnest(range(?)) AS source_row", [urls, len(urls)])
        con.execute(f"SELECT count(*) FROM {sg.wrap_view(con, 'recs', 'now')}").fetchall()


def _signals_map():
    from charter.data.signals import load_map

    global _SMAP
    try:
        return _SMAP
    except NameError:
        _SMAP = load_map(_taxonomy())
        return _SMAP


def signals_map(data: bytes) -> None:
    from charter.data.signals import load_map
    from charter.errors import CharterError

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "signals.yaml"
        p.write_bytes(data)
        try:
            load_map(_taxonomy(), p)
        except CharterError:
            pass


# --- the catalogue -----------------------------------------------------------------------------------
def _seeds(paths) -> list[bytes]:
    return [Path(p).read_bytes() for p in paths]


def targets() -> dict[str, tuple]:
    """name -> (strategy, function of one drawn value)."""
    from charter.core.files import resource

    examples = sorted((ROOT / "src" / "charter" / "resources" / "examples").glob("*"))
    eg = sorted((FIXTURES / "ecosystem-graphs").glob("*.yaml"))
    dpi_files = sorted(p for p in (FIXTURES / "dpi-mini").rglob("*") if p.is_file())
    cards = sorted((FIXTURES / "hf").rglob("README.md"))
    out = {
        "charter-file": (mutated(_seeds(p for p in examples if p.suffix == ".yaml")), charter_file),
        "charter-json": (mutated(_seeds(p for p in examples if p.suffix == ".json") or [b"{}"]), lambda b: charter_file(b, ".json")),
        "taxonomy-file": (mutated([resource("taxonomy.yaml").read_bytes()[:4000], b"uses:\n  - {id: my-use, parents: [purpose]}\n"]), taxonomy_file),
        "records-jsonl": (st.one_of(st.builds(jsonl_bytes, st.lists(_record, max_size=6), _junk),
                                    mutated([b'{"text": "hello", "charter_deny": ["commercial"]}\n{"text": "x"}\n'])),
                          lambda b: records(b, "jsonl", "skip")),
        "records-jsonl-stop": (st.builds(jsonl_bytes, st.lists(_record, max_size=6), _junk), lambda b: records(b, "jsonl")),
        "records-csv": (st.one_of(st.builds(csv_bytes, st.lists(_record, min_size=1, max_size=6)),
                                  mutated([b"text,charter_deny\nhello,commercial\nworld,\n"])), lambda b: records(b, "csv")),
        "records-parquet": (st.builds(parquet_bytes, st.lists(_record, max_size=6)).filter(lambda b: b is not None), lambda b: records(b, "parquet")),
        "records-parquet-bytes": (st.builds(parquet_bytes, st.lists(_record, min_size=1, max_size=3)).filter(lambda b: b is not None)
                                  .flatmap(lambda b: mutated([b])), lambda b: records(b, "parquet")),
        "signals-robots": (mutated([b"User-agent: GPTBot\nDisallow: /news/\nAllow: /news/a$\n\nUser-agent: *\nDisallow: /*.pdf$\n"
                                    b"Content-Usage: /x/ train-ai=n, bots=y\nContent-Signal: search=yes, ai-train=no\n"]),
                           lambda b: signal_file(b, "robots.txt")),
        "signals-tdmrep": (mutated([b'[{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://a.example/p"}, {"location": "/x*", "tdm-reservation": 0}]']),
                           lambda b: signal_file(b, "tdmrep.json")),
        "signals-headers": (mutated([b"HTTP/1.1 200 OK\ntdm-reservation: 1\nX-Robots-Tag: GPTBot: noai, noimageai\nContent-Usage: train-ai=n\n"]),
                            lambda b: signal_file(b, "headers.txt")),
        "signals-html": (mutated([b'<html><meta name="robots" content="noai"><meta name="tdm-reservation" content="1"></html>']),
                         lambda b: signal_file(b, "index.html")),
        "signals-table": (mutated([b'{"domain": "a.example", "fetched_at": "2026-01-01", "kind": "robots", "body": "User-agent: *\\nDisallow: /"}\n']),
                          lambda b: signal_file(b, "t.jsonl")),
        "signals-map": (mutated([resource("optout/signals.yaml").read_bytes()[:3500]]), signals_map),
        "import-ecosystem-graphs": (st.tuples(st.sampled_from([p.name for p in eg]), mutated(_seeds(eg))),
                                    lambda t: importer(t[1], "ecosystem-graphs", t[0])),
        "import-dpi": (st.tuples(st.sampled_from([str(p.relative_to(FIXTURES / "dpi-mini")) for p in dpi_files]), mutated(_seeds(dpi_files))),
                       lambda t: importer(t[1], "dpi-mini", t[0])),
        "import-hf-card": (st.tuples(st.sampled_from([str(p.relative_to(FIXTURES / "hf")) for p in cards]), mutated(_seeds(cards))),
                           lambda t: importer(t[1], "hf", t[0])),
        "bundle": (st.one_of(mutated([_signed_world()["bundle"]]), json_mutated(_signed_world()["bundle"])), bundle_file),
        "feed": (st.one_of(mutated([_signed_world()["feed"]]), json_mutated(_signed_world()["feed"])), lambda b: bundle_file(b, feed=True)),
    }
    return out


def run(name: str, examples: int, seed: int | None = None) -> dict:
    """Run one target for ``examples`` inputs; raises on the first input that is not handled."""
    strategy, fn = targets()[name]
    count = [0]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is not None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(strategy)
    def target(value):
        count[0] += 1
        fn(value)

    t0 = time.perf_counter()
    target()
    return {"target": name, "examples": count[0], "seconds": round(time.perf_counter() - t0, 1), "crashes": 0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=2000)
    p.add_argument("--target", action="append", help=f"default: all ({', '.join(targets())})")
    args = p.parse_args()
    rows = []
    for name in args.target or list(targets()):
        try:
            rows.append(run(name, args.examples))
        except Exception as e:  # report and go on to the next target; the traceback says where
            import traceback

            traceback.print_exc()
            rows.append({"target": name, "examples": None, "seconds": None, "crashes": 1, "error": f"{type(e).__name__}: {e}"[:200]})
        print(json.dumps(rows[-1]), flush=True)
    total = sum(r["examples"] or 0 for r in rows)
    print(f"{len(rows)} targets, {total:,} inputs, {sum(r['crashes'] for r in rows)} crashes")
    sys.exit(1 if any(r["crashes"] for r in rows) else 0)


if __name__ == "__main__":
    main()
