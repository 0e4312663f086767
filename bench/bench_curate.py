"""Curation throughput: the compiled record selection and the whole `charter curate`, each next
to the DuckDB floor for the same work, and next to a per-record Python filter.

Data: ``--records`` synthetic records (default 10,000,000) in ``--shards`` Parquet files (default
10), generated once by synth_records.py and cached under bench/out/; registered as one dataset
asset (a charter with ``data: [glob]``) in a fresh SQLite registry under bench/out/, with
``--withdrawn`` contributors (default 300) who withdrew consent. Measured side by side in one run,
in alternating order, so machine drift hits every contender alike:

  selection   SELECT count(*) ... WHERE compile_predicate(uses, taxonomy, withdrawn, min_chars).keep()
              over all shards, next to a plain scan of exactly the columns the predicate reads
              (charter_allow, charter_deny, charter_owner; text only with --min-chars) that
              DuckDB cannot answer from metadata (it tests every value). Target: the selection's
              throughput >= 0.5x the scan's.
  curate      charter.data.curate.curate (dedup none): decide the source, hash the inputs, check
              the tags, count exclusions by reason, write the kept rows as Parquet, manifest,
              hash the outputs, register. Next to the floor for reading and writing that much:
              one DuckDB COPY per shard of the same output columns (text, the tag columns,
              source, source_file, source_row) with a trivial row condition that keeps exactly
              as many rows per shard as curate keeps ((row * P) % rows < kept, P prime), same
              defaults (snappy, row groups), same thread count (a fresh default connection, as
              curate's). Target: curate's throughput >= 0.7x the floor's.
  loop        the same selection as a datatrove-style Python filter: for each record, its Terms
              (allow/deny tags, and its source's licence) as a one-member lineage (withdrawn if its owner withdrew), and
              charter.policy.decide.decide(); timed over --sample records (default 200,000, read
              with pyarrow beforehand, untimed) and extrapolated. One Request is reused for
              every record (the most generous setting for the loop). Its decisions are
              cross-checked, record by record, against the compiled predicate on the same rows.
              Target: the compiled selection's records/s >= 50x the loop's.
  memory      peak RSS of this process during each curate call (the kernel's high-water mark,
              reset before the call) and the peak of DuckDB's own buffer memory (sampled).
              Target: < 2 GB.

  signals     (--signals, instead of the above) the same records with a URL each, spread over --domains
              domains (default 100,000), --signal-share of them (default 10%) with stored web signals
              (robots.txt refusing GPTBot a path and `*` another, Content-Signal, TDMRep, in turn):
              `charter curate --signals` next to `charter curate` without, same records, same uses.
              Target: with signals >= 0.6x the throughput without.

  .venv/bin/python bench/bench_curate.py                      # 10M records, 10 shards
  .venv/bin/python bench/bench_curate.py --signals            # 10M records over 100,000 domains
  .venv/bin/python bench/bench_curate.py --records 1000000 --shards 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

import common
import synth_records

from charter.core.assets import Withdrawal
from charter.core.lineage import Terms, Upstream
from charter.data import curate as curate_mod
from charter.data.curate import CurateConfig
from charter.data.predicate import compile_predicate
from charter.policy.decide import Request, decide
from charter.registry import Registry
from charter.store.base import withdraw_owners
from charter.store.sqlite import SQLiteStore

TARGET_SELECTION = 0.5  # selection throughput / scan throughput
TARGET_CURATE = 0.7  # curate throughput / COPY floor throughput
TARGET_LOOP = 50.0  # compiled selection records/s / Python loop records/s
TARGET_MEMORY_MB = 2048
TARGET_SIGNALS = 0.6  # curate --signals throughput / curate throughput
URL_ASSET = "dataset/bench-web@1"
PRIME = 2_147_483_647  # (row * PRIME) % rows is a permutation of 0..rows-1 (rows < PRIME)
ASSET = "dataset/bench-records@1"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn):
    c0, t0 = cpu_s(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, cpu_s() - c0


def sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in paths) + "]"


# --- peak memory of a curate call ----------------------------------------------------------
class MemoryWatch:
    """Peak RSS over a block (VmHWM, reset through /proc/self/clear_refs; a 50 ms sampler where
    that is not allowed) and the peak of DuckDB's buffer memory on connections curate opens."""

    def __init__(self):
        self.cursors = []
        self.peak_rss = 0
        self.peak_duckdb = 0
        self._stop = threading.Event()
        self._real = duckdb.connect

    def _connect(self, *a, **k):
        con = self._real(*a, **k)
        self.cursors.append(con.cursor())
        return con

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak_rss = max(self.peak_rss, rss_kb("VmRSS"))
            for cur in list(self.cursors):
                try:
                    (b,) = cur.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchall()[0]
                    self.peak_duckdb = max(self.peak_duckdb, int(b))
                except duckdb.Error:
                    pass

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.hwm = True
        except OSError:
            self.hwm = False
        self.peak_rss = rss_kb("VmRSS")
        curate_mod.duckdb = _Shim(self._connect)  # curate's own `duckdb.connect()` goes through us
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        curate_mod.duckdb = duckdb
        if self.hwm:
            self.peak_rss = max(self.peak_rss, rss_kb("VmHWM"))
        for cur in self.cursors:
            cur.close()
        return False


class _Shim:
    def __init__(self, connect):
        self.connect = connect

    def __getattr__(self, name):
        return getattr(duckdb, name)


def rss_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# --- setup ---------------------------------------------------------------------------------
def setup(a, data: Path, files: list[Path]) -> tuple[Registry, Path, list[str]]:
    work = common.OUT / f"curate-work-{a.records}-{a.shards}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    charter = work / "records.yaml"
    rel = os.path.relpath(data, work)
    charter.write_text(f"""assets:
  - id: {ASSET}
    description: Synthetic community messages with per-record consent tags (bench/synth_records.py).
    license: ODC-By-1.0
    data: {{glob: {rel}/*.parquet}}
""")
    reg = Registry(SQLiteStore(work / "registry.db"))
    reg.add_files([charter], data_root=common.OUT)  # the shards live beside the work folder, not under it
    owners = synth_records.withdrawn_owners(a.records, a.seed, a.withdrawn)
    withdraw_owners(reg.store, owners, "benchmark: these contributors withdrew consent")
    return reg, work, owners


# --- the selection, and the per-record Python loop ------------------------------------------
def make_loop(a, reg: Registry, files: list[Path], uses, owners: list[str]):
    """One run of the datatrove-style filter over the sample: (read seconds, decide seconds, decisions, table)."""
    cols = ["charter_allow", "charter_deny", "charter_owner"] + (["text"] if a.min_chars else [])
    tax, lic = reg.taxonomy, reg.licenses
    wd = {o: Withdrawal(o, "withdrew consent", "2024-01-01T00:00:00Z") for o in owners}
    req = Request(ASSET, tuple(uses))  # built once: the most generous setting for the loop
    lics = reg.get(ASSET).licenses  # the record carries its source's licence (no licence would deny commercial use)
    min_chars = a.min_chars

    def read():  # what a Python filter does first: the records' columns as Python objects
        pf = pq.ParquetFile(files[0])
        groups, n = [], 0
        while n < a.sample and len(groups) < pf.metadata.num_row_groups:
            n += pf.metadata.row_group(len(groups)).num_rows
            groups.append(len(groups))
        table = pf.read_row_groups(groups, columns=cols).slice(0, a.sample)
        return table, [table.column(c).to_pylist() for c in cols]

    def decide_all(pylists) -> list[bool]:
        allow, deny, owner = pylists[:3]
        text = pylists[3] if min_chars else None
        out = []
        for i, (al, de, ow) in enumerate(zip(allow, deny, owner)):
            t = Terms("record", lics, tuple(al) if al else (), tuple(de) if de else (), ())
            ok = decide(req, (Upstream(t, ("record",), wd.get(ow)),), tax, lic).allowed
            if ok and min_chars and len(text[i] or "") < min_chars:
                ok = False
            out.append(ok)
        return out

    def once():
        (table, pylists), read_s, _ = timed(read)
        decisions, decide_s, _ = timed(lambda: decide_all(pylists))
        return read_s, decide_s, decisions, table

    return once


def bench_selection(a, files: list[Path], keep: str, loop_once) -> tuple[dict, dict]:
    """Rounds of: the scan and the selection (alternating order), then the Python loop over the sample."""
    src = f"read_parquet({sql_list(files)})"
    cols = "len(charter_allow) + len(charter_deny) < 1000000000 AND charter_owner <> chr(0)"
    if a.min_chars:
        cols += " AND length(text) < 1000000000"
    queries = {
        "selection": f"SELECT count(*) FROM {src} WHERE {keep}",
        "scan": f"SELECT count(*) FROM {src} WHERE {cols}",
    }
    con = duckdb.connect()
    counts = {k: con.execute(q).fetchall()[0][0] for k, q in queries.items()}  # warm-up (page cache, metadata)
    t = {k: [] for k in queries}
    c = {k: [] for k in queries}
    lp = {"read_s": [], "decide_s": []}
    for r in range(a.rounds):
        order = list(queries) if r % 2 == 0 else list(queries)[::-1]
        for k in order:
            (n,), wall, cpu = timed(lambda: con.execute(queries[k]).fetchall()[0])
            assert n == counts[k]
            t[k].append(wall)
            c[k].append(cpu)
        read_s, decide_s, decisions, table = loop_once()
        lp["read_s"].append(read_s)
        lp["decide_s"].append(decide_s)
    con.register("sample", table)  # the loop's decisions, record by record, against the compiled predicate
    compiled = [k for (k,) in con.execute(f"SELECT {keep} FROM sample").fetchall()]
    con.close()
    ratios = [s / x for s, x in zip(t["scan"], t["selection"])]
    n = len(decisions)
    sel_rate = [a.records / x for x in t["selection"]]
    loop_rate = [n / (rd + dc) for rd, dc in zip(lp["read_s"], lp["decide_s"])]
    decide_rate = [n / dc for dc in lp["decide_s"]]
    sel = {
        "kept": counts["selection"], "records": counts["scan"], "wall_s": t, "cpu_s": c,
        "selection_s": statistics.median(t["selection"]), "scan_s": statistics.median(t["scan"]),
        "selection_records_per_s": a.records / statistics.median(t["selection"]),
        "scan_records_per_s": a.records / statistics.median(t["scan"]),
        "ratio": statistics.median(ratios), "ratio_per_round": [round(x, 3) for x in ratios],
        "ratio_cpu": statistics.median(c["scan"]) / statistics.median(c["selection"]),
        "queries": {"scan": queries["scan"], "selection": f"SELECT count(*) FROM {src} WHERE <keep(): {len(keep):,} characters of SQL>"},
    }
    loop = {
        "records": n, "kept": sum(decisions), "disagree": sum(x != y for x, y in zip(decisions, compiled)), **lp,
        "read_s_median": statistics.median(lp["read_s"]), "decide_s_median": statistics.median(lp["decide_s"]),
        "records_per_s": statistics.median(loop_rate), "decide_records_per_s": statistics.median(decide_rate),
        "ratio": statistics.median(s / x for s, x in zip(sel_rate, loop_rate)),
        "ratio_decide_only": statistics.median(s / x for s, x in zip(sel_rate, decide_rate)),
        "ratio_per_round": [round(s / x, 1) for s, x in zip(sel_rate, loop_rate)],
    }
    return sel, loop


# --- curate and its floor ------------------------------------------------------------------
def kept_per_shard(files: list[Path], keep: str) -> dict[str, int]:
    con = duckdb.connect()
    rows = con.execute(f"SELECT filename, count(*) FROM read_parquet({sql_list(files)}, filename=true) WHERE {keep} GROUP BY filename").fetchall()
    con.close()
    return {str(Path(f)): n for f, n in rows}


def floor_copy(files: list[Path], rows: dict[str, int], kept: dict[str, int], out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for i, f in enumerate(files):
        n, k = rows[str(f)], kept.get(str(f), 0)
        path = f.as_posix().replace("'", "''")
        con.execute(f"""COPY (SELECT text, charter_allow, charter_deny, charter_owner, '{ASSET}' AS source, '{path}' AS source_file,
                        file_row_number + 1 AS source_row FROM read_parquet('{path}', file_row_number=true)
                        WHERE (file_row_number * {PRIME}) % {n} < {k})
                        TO '{(out / f"part-{i:05d}.parquet").as_posix()}' (FORMAT parquet)""")
    con.close()
    return sum(p.stat().st_size for p in out.glob("*.parquet"))


def bench_curate(a, reg: Registry, work: Path, files: list[Path], keep: str, uses) -> dict:
    rows = {str(f): pq.ParquetFile(f).metadata.num_rows for f in files}
    kept = kept_per_shard(files, keep)
    res = {"curate": [], "floor": [], "curate_cpu": [], "floor_cpu": [], "rss_mb": [], "duckdb_mb": [], "output": [], "bytes": {}}
    for r in range(a.curate_rounds):
        order = ("curate", "floor") if r % 2 == 0 else ("floor", "curate")
        for what in order:
            out = work / f"{what}-r{r}"
            if what == "curate":
                cfg = CurateConfig((ASSET,), tuple(uses), out, dedup="none", min_chars=a.min_chars, name=f"bench-curated-r{r}")
                with MemoryWatch() as mw:
                    result, wall, cpu = timed(lambda: curate_mod.curate(reg, cfg))
                m = result.manifest
                res["output"].append(m["output"])
                assert [o["records"] for o in m["outputs"]] == [kept.get(str(f), 0) for f in files], "curate keeps what the predicate keeps"
                res["rss_mb"].append(round(mw.peak_rss / 1024, 1))
                res["duckdb_mb"].append(round(mw.peak_duckdb / 2**20, 1))
                res["bytes"]["curate"] = sum((out / o["path"]).stat().st_size for o in m["outputs"])
                res["manifest_excluded"] = m["excluded"]
            else:
                nbytes, wall, cpu = timed(lambda: floor_copy(files, rows, kept, out))
                res["bytes"]["floor"] = nbytes
            res[what].append(wall)
            res[what + "_cpu"].append(cpu)
            shutil.rmtree(out)
    ratios = [f / c for f, c in zip(res["floor"], res["curate"])]
    res.update({
        "curate_s": statistics.median(res["curate"]), "floor_s": statistics.median(res["floor"]),
        "curate_records_per_s": a.records / statistics.median(res["curate"]),
        "floor_records_per_s": a.records / statistics.median(res["floor"]),
        "ratio": statistics.median(ratios), "ratio_per_round": [round(x, 3) for x in ratios],
        "ratio_cpu": statistics.median(res["floor_cpu"]) / statistics.median(res["curate_cpu"]),
        "kept": sum(kept.values()), "peak_rss_mb": max(res["rss_mb"]), "peak_duckdb_mb": max(res["duckdb_mb"]),
    })
    return res


# --- web signals ---------------------------------------------------------------------------
SIGNAL_BODIES = [
    ("robots", "User-agent: GPTBot\nDisallow: /news/\n\nUser-agent: *\nDisallow: /private/\nAllow: /private/press$\n"),
    ("robots", "User-agent: CCBot\nUser-agent: Google-Extended\nDisallow: /\nAllow: /open/\n"),
    ("robots", "User-agent: *\nAllow: /\nContent-Signal: search=yes, ai-train=no\n"),
    ("tdmrep", '[{"location": "/", "tdm-reservation": 1}, {"location": "/free/", "tdm-reservation": 0}]'),
    ("robots", "User-agent: ChatGPT-User\nDisallow: /\n"),  # an assistant: restricts inference, not these uses
]
PATHS = ["/", "/news/2026/story", "/private/x", "/private/press", "/open/a", "/free/b", "/blog/post?id=7", "/a/b/c.html"]


def url_shards(a, files: list[Path]) -> list[Path]:
    """The records with a ``url`` column (domain d<k>.example, k < --domains, and a path), written once beside them."""
    dest = common.OUT / f"records-web-{a.records}-{a.shards}-{a.domains}"
    done = dest / "done"
    if not done.exists():
        dest.mkdir(parents=True, exist_ok=True)
        paths = "[" + ", ".join(f"'{p}'" for p in PATHS) + "]"
        with duckdb.connect() as con:
            for f in files:
                con.execute(f"""COPY (SELECT *, 'https://' || CASE WHEN h % 3 = 0 THEN 'www.' ELSE '' END || 'd' || (h % {a.domains}) || '.example'
                                || {paths}[((h // {a.domains}) % {len(PATHS)} + 1)::BIGINT] AS url
                                FROM (SELECT * EXCLUDE (file_row_number), hash(file_row_number, '{f.name}') AS h FROM read_parquet('{f}', file_row_number=true)))
                                TO '{dest / f.name}' (FORMAT parquet)""")
        done.write_text("ok")
    return sorted(dest.glob("*.parquet"))


def bench_signals(a, uses) -> dict:
    from charter.data import signals as sg
    from charter.store.base import SignalSnapshot

    data, meta = synth_records.ensure(a.records, a.shards, a.seed, a.rebuild)
    files = url_shards(a, sorted(data.glob("*.parquet")))
    work = common.OUT / f"signals-work-{a.records}-{a.shards}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    charter = work / "web.yaml"
    charter.write_text(f"id: {URL_ASSET}\nlicense: ODC-By-1.0\ndata: {{glob: {os.path.relpath(files[0].parent, work)}/*.parquet}}\n")
    reg = Registry(SQLiteStore(work / "registry.db"))
    reg.add_files([charter], data_root=common.OUT)
    n = int(a.domains * a.signal_share)
    step = max(1, a.domains // max(n, 1))
    snaps = []
    for i, k in enumerate(range(0, a.domains, step)[:n]):
        kind, body = SIGNAL_BODIES[i % len(SIGNAL_BODIES)]
        s = sg.Snapshot(f"d{k}.example", kind, "2026-06-01T00:00:00Z", body)
        snaps.append(SignalSnapshot(s.domain, s.kind, s.fetched_at, s.sha256, s.body, "bench", "2026-06-01T00:00:00Z"))
    reg.store.add_signals(snaps)
    res = {"plain": [], "signals": [], "plain_cpu": [], "signals_cpu": [], "excluded": {}}
    for r in range(a.curate_rounds):
        for what in (("plain", "signals") if r % 2 == 0 else ("signals", "plain")):
            out = work / f"{what}-r{r}"
            cfg = CurateConfig((URL_ASSET,), tuple(uses), out, name=f"bench-{what}-r{r}", signals=what == "signals")
            result, wall, cpu = timed(lambda: curate_mod.curate(reg, cfg))
            res[what].append(wall)
            res[what + "_cpu"].append(cpu)
            if what == "signals":
                res["excluded"] = {k: v for k, v in result.manifest["excluded"].items() if k.startswith("optout:")}
                res["kept"] = result.manifest["output"]
            shutil.rmtree(out)
    ratios = [p / s for p, s in zip(res["plain"], res["signals"])]
    res.update({"plain_s": statistics.median(res["plain"]), "signals_s": statistics.median(res["signals"]), "ratio": statistics.median(ratios),
                "ratio_per_round": [round(x, 3) for x in ratios], "domains": a.domains, "domains_with_signals": n,
                "excluded_by_signals": sum(res["excluded"].values())})
    return res


def main_signals(a, uses) -> None:
    res = bench_signals(a, uses)
    mrate = lambda x: f"{x / 1e6:,.2f}M"
    print(f"\nCuration with web signals, {a.records:,} records over {a.domains:,} domains, {res['domains_with_signals']:,} with signals; "
          f"medians of {a.curate_rounds} alternating rounds")
    rows = [("charter curate", f"{res['plain_s']:.2f}", mrate(a.records / res["plain_s"]), "1.00", ""),
            ("charter curate --signals", f"{res['signals_s']:.2f}", mrate(a.records / res["signals_s"]), f"{res['ratio']:.2f}",
             f">= {TARGET_SIGNALS} x without; {res['excluded_by_signals']:,} records excluded by signals")]
    print(common.table(rows, ("what", "seconds", "records/s", "ratio", "target / note")))
    for k, v in sorted(res["excluded"].items(), key=lambda kv: -kv[1]):
        print(f"  {v:>11,}  {k}")
    ok = res["ratio"] >= TARGET_SIGNALS
    path = common.OUT / f"curate-signals-{a.records}.json"
    path.write_text(json.dumps({"benchmark": "curate-signals", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": common.machine(),
                                "records": a.records, "uses": uses, "target": TARGET_SIGNALS, "pass": ok, **res}, indent=2))
    print(f"wrote {path}")
    print(f"RESULT curate-signals: {res['ratio']:.2f}x the throughput without signals (ratio per round {res['ratio_per_round']}); "
          f"target >= {TARGET_SIGNALS}x: {'PASS' if ok else 'FAIL'}")


# --- main ----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--shards", type=int, default=10)
    ap.add_argument("--seed", type=int, default=synth_records.DEFAULT_SEED)
    ap.add_argument("--withdrawn", type=int, default=300, help="contributors who withdrew consent (default 300)")
    ap.add_argument("--uses", default="fine-tuning,machine-translation,commercial")
    ap.add_argument("--min-chars", type=int, default=0, help="also drop records with shorter text (the predicate then reads text)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the selection comparison (default 5)")
    ap.add_argument("--curate-rounds", type=int, default=3, help="rounds of the curate comparison (default 3)")
    ap.add_argument("--sample", type=int, default=200_000, help="records for the Python loop (default 200,000)")
    ap.add_argument("--rebuild", action="store_true", help="regenerate the cached records")
    ap.add_argument("--signals", action="store_true", help="only the web signals comparison: curate --signals against curate")
    ap.add_argument("--domains", type=int, default=100_000, help="domains the records' URLs spread over (--signals; default 100,000)")
    ap.add_argument("--signal-share", type=float, default=0.1, help="share of the domains with signals (--signals; default 0.1)")
    a = ap.parse_args()
    uses = [u for u in a.uses.split(",") if u]
    if a.signals:
        return main_signals(a, uses)

    t0 = time.perf_counter()
    data, meta = synth_records.ensure(a.records, a.shards, a.seed, a.rebuild)
    gen_note = "generated now" if time.perf_counter() - t0 > 1 else "cached"
    files = sorted(data.glob("*.parquet"))
    reg, work, owners = setup(a, data, files)
    pred = compile_predicate(reg.check_uses(uses), reg.taxonomy, sorted(reg.store.owner_withdrawals()), a.min_chars)
    keep = pred.keep()
    with duckdb.connect() as con:
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    print(f"{a.records:,} records in {len(files)} Parquet shards ({meta['bytes'] / 1e6:,.0f} MB, generated in {meta['generate_s']:.1f}s, {gen_note}); "
          f"uses {', '.join(uses)}; {len(owners)} withdrawn owners; min_chars {a.min_chars}; DuckDB {duckdb.__version__}, {threads} threads",
          flush=True)

    sel, loop = bench_selection(a, files, keep, make_loop(a, reg, files, uses, owners))
    print(f"selection: {sel['kept']:,} of {sel['records']:,} kept; scan {sel['scan_s']:.3f}s vs selection {sel['selection_s']:.3f}s "
          f"(ratio per round {sel['ratio_per_round']})", flush=True)
    print(f"loop: {loop['records']:,} records read in {loop['read_s_median']:.2f}s, decided in {loop['decide_s_median']:.2f}s "
          f"(selection / loop per round {loop['ratio_per_round']}); {loop['disagree']} disagreements with the compiled predicate", flush=True)
    cur = bench_curate(a, reg, work, files, keep, uses)
    print(f"curate: {cur['output'][0]:,} records written; curate {cur['curate_s']:.2f}s vs floor {cur['floor_s']:.2f}s "
          f"(ratio per round {cur['ratio_per_round']})", flush=True)

    r_loop = loop["ratio"]  # like for like: both read the Parquet and decide (median of the rounds' ratios)
    r_decide = loop["ratio_decide_only"]  # against the loop's decisions alone
    mrate = lambda x: f"{x / 1e6:,.2f}M"
    rows = [
        ("scan (same columns)", f"{sel['scan_s']:.3f}", mrate(sel["scan_records_per_s"]), "1.00", ""),
        ("selection (compiled predicate)", f"{sel['selection_s']:.3f}", mrate(sel["selection_records_per_s"]), f"{sel['ratio']:.2f}",
         f">= {TARGET_SELECTION} x scan (cpu-time ratio {sel['ratio_cpu']:.2f})"),
        ("floor: COPY per shard", f"{cur['floor_s']:.2f}", mrate(cur["floor_records_per_s"]), "1.00", f"{cur['bytes']['floor'] / 1e6:,.0f} MB written"),
        ("charter curate", f"{cur['curate_s']:.2f}", mrate(cur["curate_records_per_s"]), f"{cur['ratio']:.2f}",
         f">= {TARGET_CURATE} x floor (cpu-time ratio {cur['ratio_cpu']:.2f}); {cur['bytes']['curate'] / 1e6:,.0f} MB written"),
        ("python loop: read + decide", f"{(loop['read_s_median'] + loop['decide_s_median']) * a.records / loop['records']:.1f}*", mrate(loop["records_per_s"]),
         f"1/{r_loop:.0f}", f"selection >= {TARGET_LOOP:.0f}x loop (* extrapolated from {loop['records']:,})"),
        ("python loop: decide only", f"{loop['decide_s_median'] * a.records / loop['records']:.1f}*", mrate(loop["decide_records_per_s"]),
         f"1/{r_decide:.0f}", "records already Python objects (not judged)"),
    ]
    print(f"\nCuration, {a.records:,} records ({sel['kept']:,} kept), medians of {a.rounds} / {a.curate_rounds} alternating rounds")
    print(common.table(rows, ("what", "seconds", "records/s", "ratio", "target / note")))
    print(f"peak memory during curate: RSS {cur['peak_rss_mb']:,.0f} MB (process), DuckDB buffers {cur['peak_duckdb_mb']:,.0f} MB")

    ok_sel = sel["ratio"] >= TARGET_SELECTION
    ok_cur = cur["ratio"] >= TARGET_CURATE
    ok_loop = r_loop >= TARGET_LOOP and loop["disagree"] == 0
    ok_mem = cur["peak_rss_mb"] < TARGET_MEMORY_MB
    result = {
        "records": a.records, "shards": len(files), "seed": a.seed, "uses": uses, "withdrawn_owners": len(owners), "min_chars": a.min_chars,
        "duckdb": duckdb.__version__, "duckdb_threads": threads, "data": meta,
        "selection": sel, "curate": cur, "loop": loop, "ratio_selection_over_loop": r_loop, "ratio_selection_over_decide_only": r_decide,
        "targets": {"selection": TARGET_SELECTION, "curate": TARGET_CURATE, "loop": TARGET_LOOP, "memory_mb": TARGET_MEMORY_MB},
        "pass": {"selection": ok_sel, "curate": ok_cur, "loop": ok_loop, "memory": ok_mem},
    }
    path = common.OUT / f"curate-{a.records}.json"
    path.write_text(json.dumps({"benchmark": "curate", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": common.machine(), **result}, indent=2))
    print(f"wrote {path}")
    v = lambda ok: "PASS" if ok else "FAIL"
    print(f"RESULT selection: {sel['ratio']:.2f}x the scan's throughput ({mrate(sel['selection_records_per_s'])} vs {mrate(sel['scan_records_per_s'])} records/s); "
          f"target >= {TARGET_SELECTION}x: {v(ok_sel)}")
    print(f"RESULT curate: {cur['ratio']:.2f}x the COPY floor's throughput ({mrate(cur['curate_records_per_s'])} vs {mrate(cur['floor_records_per_s'])} records/s); "
          f"target >= {TARGET_CURATE}x: {v(ok_cur)}")
    print(f"RESULT loop: compiled selection {r_loop:,.0f}x the per-record decide() loop, both reading the Parquet "
          f"({mrate(sel['selection_records_per_s'])} vs {loop['records_per_s']:,.0f} records/s; {r_decide:,.0f}x its decisions alone, "
          f"{loop['decide_records_per_s']:,.0f} records/s; {loop['disagree']} disagreements); target >= {TARGET_LOOP:.0f}x: {v(ok_loop)}")
    print(f"RESULT memory: peak RSS {cur['peak_rss_mb']:,.0f} MB during curate; target < {TARGET_MEMORY_MB} MB: {v(ok_mem)}")
    all_ok = ok_sel and ok_cur and ok_loop and ok_mem
    print(f"RESULT curate-bench: {sum((ok_sel, ok_cur, ok_loop, ok_mem))}/4 targets met: {v(all_ok)}")


if __name__ == "__main__":
    main()
