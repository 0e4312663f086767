"""Shared helpers: the cached synthetic registry under bench/out/, timing, results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
DEFAULT_ASSETS = 1_000_000
DEFAULT_SEED = 20240601
BATCH = 5000

import synth

from charter.store.sqlite import SQLiteStore


def args(description: str, extra=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--assets", type=int, default=DEFAULT_ASSETS, help="registry size (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached registry")
    if extra:
        extra(ap)
    return ap.parse_args()


def db_path(n: int, seed: int) -> Path:
    return OUT / f"registry-{n}-{seed}.db"


def meta_path(n: int, seed: int) -> Path:
    return OUT / f"registry-{n}-{seed}.json"


def build(n: int, seed: int, batch: int = BATCH, progress: bool = True) -> dict:
    """Register ``n`` synthetic assets through ``Store.add`` in parents-first batches; time it."""
    OUT.mkdir(parents=True, exist_ok=True)
    final = db_path(n, seed)
    tmp = final.with_suffix(".building.db")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    store = SQLiteStore(tmp)
    info = synth.plan(n, seed)
    gen_s = add_s = 0.0
    done = 0
    it = synth.generate(n, seed, info)
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        chunk = []
        for a in it:
            chunk.append(a)
            if len(chunk) == batch:
                break
        t1 = time.perf_counter()
        gen_s += t1 - t0
        if not chunk:
            break
        store.add(chunk)
        add_s += time.perf_counter() - t1
        done += len(chunk)
        if progress and done % (batch * 20) == 0:
            el = time.perf_counter() - t_start
            print(f"  registered {done:,}/{n:,}  {done / add_s:,.0f} assets/s (Store.add only)  {el:.0f}s", file=sys.stderr, flush=True)
    # a few withdrawals (deterministic), so decisions exercise the withdrawn rule too
    rng = synth.random.Random(seed + 1)
    withdrawn = []
    for _ in range(max(2, n // 200_000)):
        rid = rng.randrange(info.n_datasets + len(synth.GIANT_SHARES), n - info.n_apps) + 1
        (aid,) = store.db.execute("SELECT id FROM assets WHERE rid=?", (rid,)).fetchone()
        if aid not in withdrawn:
            store.withdraw(aid, "synthetic withdrawal (benchmark)")
            withdrawn.append(aid)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    closure_rows = store.db.execute("SELECT count(*) FROM closure").fetchone()[0]
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    os.replace(tmp, final)
    meta = {
        "assets": n,
        "seed": seed,
        "batch": batch,
        "register_s": round(add_s, 3),
        "generate_s": round(gen_s, 3),
        "assets_per_s": round(n / add_s, 1),
        "closure_rows": closure_rows,
        "edges": info.edges,
        "max_depth": info.max_depth,
        "datasets": info.n_datasets,
        "bases": info.n_bases,
        "derived": info.n_derived,
        "applications": info.n_apps,
        "giant_roots": info.giant_roots,
        "withdrawn": withdrawn,
        "db_bytes": final.stat().st_size,
        **memory(),
    }
    meta_path(n, seed).write_text(json.dumps(meta, indent=2))
    return meta


def ensure(n: int, seed: int, rebuild: bool = False) -> tuple[Path, dict]:
    path, mp = db_path(n, seed), meta_path(n, seed)
    if rebuild or not path.exists() or not mp.exists():
        print(f"building synthetic registry of {n:,} assets at {path} ...", file=sys.stderr, flush=True)
        build(n, seed)
    return path, json.loads(mp.read_text())


def all_ids(store: SQLiteStore) -> list[str]:
    """Every asset id, sorted (read from the id index only, so the asset table stays untouched)."""
    return [i for (i,) in store.db.execute("SELECT id FROM assets ORDER BY id")]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def memory() -> dict:
    """Peak RSS, and the current split into anonymous memory and file pages. The registry is
    read through mmap, so file pages of the database (shared page cache) count towards RSS."""
    out = {"peak_rss_mb": peak_rss_mb()}
    try:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        for key, name in (("RssAnon", "rss_anon_mb"), ("RssFile", "rss_file_mb")):
            out[name] = round(int(status[key].split()[0]) / 1024, 1)
    except (OSError, KeyError, ValueError):
        pass
    return out


def memory_line() -> str:
    m = memory()
    extra = f" (now: {m['rss_anon_mb']:,.0f} MB anonymous + {m['rss_file_mb']:,.0f} MB mapped database pages)" if "rss_anon_mb" in m else ""
    return f"peak RSS {m['peak_rss_mb']:,.0f} MB{extra}"


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


def write_result(name: str, result: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), **result}
    path = OUT / f"{name}-{result.get('assets', 'x')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return path


def table(rows: list[tuple], header: tuple) -> str:
    cols = list(zip(header, *rows))
    widths = [max(len(str(c)) for c in col) for col in cols]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    return "\n".join(lines)
