"""Shared helpers: the cached synthetic registry under bench/out/, timing, results."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
DEFAULT_ASSETS = 1_000_000
DEFAULT_SEED = 20240601

import synth

from charter.registry import Registry
from charter.store import open_store


def args(description: str, extra=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--assets", type=int, default=DEFAULT_ASSETS, help="registry size (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached registry")
    ap.add_argument("--registry", action="append", default=[], metavar="PATH_OR_URL",
                    help="a SQLite path or a postgresql:// URL (repeat it for one of each backend); "
                         "default: the cached SQLite registry under bench/out/")
    ap.add_argument("--backends", default="", metavar="LIST",
                    help="sqlite, postgres or sqlite,postgres: run each, side by side in one run; a backend without "
                         "--registry gets the cached SQLite file, or a throwaway PostgreSQL server started for the run")
    if extra:
        extra(ap)
    return ap.parse_args()


def backend_of(target: str) -> str:
    return "postgres" if target.startswith(("postgres://", "postgresql://")) else "sqlite"


def pg_server():
    """A throwaway PostgreSQL server in a temp folder, as a context manager giving its URL (initdb + pg_ctl; stopped
    and removed on exit). The one place the benchmarks name the module that starts it."""
    from charter.store.pgserver import Server

    return Server()


@contextmanager
def targets(a: argparse.Namespace) -> Iterator[dict[str, str]]:
    """backend -> its registry (a SQLite path or a PostgreSQL URL), from --registry and --backends."""
    out: dict[str, str] = {}
    for r in a.registry:
        out.setdefault(backend_of(r), r)
    wanted = [b.strip() for b in a.backends.split(",") if b.strip()] or list(out) or ["sqlite"]
    for b in wanted:
        if b not in ("sqlite", "postgres"):
            raise SystemExit(f"--backends: unknown backend {b!r} (use sqlite, postgres or sqlite,postgres)")
    with ExitStack() as stack:
        for b in wanted:
            if b not in out:
                if b == "postgres":
                    print("starting a throwaway PostgreSQL server ...", file=sys.stderr, flush=True)
                out[b] = str(db_path(a.assets, a.seed)) if b == "sqlite" else stack.enter_context(pg_server())
        yield {b: out[b] for b in wanted}


def db_path(n: int, seed: int) -> Path:
    return OUT / f"registry-{n}-{seed}.db"


def meta_path(n: int, seed: int, target: str | None = None) -> Path:
    if target is None or backend_of(target) == "sqlite":
        return OUT / f"registry-{n}-{seed}.json"
    return OUT / f"registry-{n}-{seed}-postgres.json"


def assets_of(n: int, seed: int) -> tuple[list, "synth.Plan", float]:
    """The synthetic assets (parents first), their plan, and the seconds generating them took."""
    info = synth.plan(n, seed)
    t0 = time.perf_counter()
    assets = list(synth.generate(n, seed, info))
    return assets, info, time.perf_counter() - t0


def register(target: str, assets: list) -> tuple[float, float]:
    """Register ``assets`` into the registry at ``target`` through the bulk path (``Registry.add_many``: one call,
    one transaction); returns its seconds, and the seconds of the store's close after it (untimed by the call: on
    SQLite mostly the wait for a large batch's background checkpoint)."""
    reg = Registry(open_store(target))
    try:
        gc.collect()
        t0 = time.perf_counter()
        reg.add_many(assets)
        add_s = time.perf_counter() - t0
    finally:
        t1 = time.perf_counter()
        reg.close()
    return add_s, time.perf_counter() - t1


def build(n: int, seed: int, target: str | None = None, progress: bool = True, assets: list | None = None,
          info: "synth.Plan | None" = None, gen_s: float = 0.0) -> dict:
    """Register ``n`` synthetic assets through ``Registry.add_many`` (one call) into ``target`` (default: the cached
    SQLite file, built aside and renamed when done; a PostgreSQL database must be empty), time it, add a few
    withdrawals, and write the registry's facts next to it."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = target or str(db_path(n, seed))
    sqlite = backend_of(target) == "sqlite"
    where = str(Path(target).with_suffix(".building.db")) if sqlite else target
    if sqlite:
        for p in (Path(where), Path(where + "-wal"), Path(where + "-shm")):
            p.unlink(missing_ok=True)
    else:
        with closing(open_store(where)) as s:
            if s.count():
                raise SystemExit(f"{where} holds {s.count():,} assets: give an empty database (or the one built for --assets {n:,})")
    if assets is None or info is None:
        assets, info, gen_s = assets_of(n, seed)
    if progress:
        print(f"  generated {n:,} assets in {gen_s:.1f}s; registering (Registry.add_many) ...", file=sys.stderr, flush=True)
    add_s, close_s = register(where, assets)
    store = open_store(where)
    withdrawn = _withdraw_some(store, info, n, seed)
    closure_rows = store.db.execute("SELECT count(*) FROM closure").fetchone()[0]
    if sqlite:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    if sqlite:
        for suffix in ("-wal", "-shm"):
            Path(where + suffix).unlink(missing_ok=True)
        os.replace(where, target)
    meta = {
        "assets": n,
        "seed": seed,
        "backend": backend_of(target),
        "register_s": round(add_s, 3),
        "close_s": round(close_s, 3),
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
        "db_bytes": Path(target).stat().st_size if sqlite else None,
        **memory(),
    }
    meta_path(n, seed, target).write_text(json.dumps(meta, indent=2))
    return meta


def _withdraw_some(store, info, n: int, seed: int) -> list[str]:
    """A few deterministic withdrawals (by registration number), so that decisions exercise the withdrawn rule too."""
    rng = synth.random.Random(seed + 1)
    withdrawn: list[str] = []
    q = "SELECT id FROM assets WHERE rid=" + ("%s" if backend_of(str(getattr(store, "url", ""))) == "postgres" else "?")
    for _ in range(max(2, n // 200_000)):
        rid = rng.randrange(info.n_datasets + len(synth.GIANT_SHARES), n - info.n_apps) + 1
        (aid,) = store.db.execute(q, (rid,)).fetchone()
        if aid not in withdrawn:
            store.withdraw(aid, "synthetic withdrawal (benchmark)")
            withdrawn.append(aid)
    return withdrawn


def ensure(n: int, seed: int, rebuild: bool = False, target: str | None = None) -> tuple[str, dict]:
    """The registry at ``target`` (default: the cached SQLite one) holding the ``n`` synthetic assets, built when
    missing (PostgreSQL: when the database is empty) or with ``rebuild``; (target, its facts)."""
    target = target or str(db_path(n, seed))
    mp = meta_path(n, seed, target)
    if backend_of(target) == "sqlite":
        if rebuild or not Path(target).exists() or not mp.exists():
            print(f"building synthetic registry of {n:,} assets at {target} ...", file=sys.stderr, flush=True)
            build(n, seed, target)
        return target, json.loads(mp.read_text())
    with closing(open_store(target)) as s:
        have = s.count()
    if have == 0:
        print(f"building synthetic registry of {n:,} assets in PostgreSQL ...", file=sys.stderr, flush=True)
        return target, build(n, seed, target)
    if have != n or not mp.exists():
        raise SystemExit(f"the PostgreSQL registry holds {have:,} assets, not the {n:,} of --assets {n}: give an empty database")
    return target, json.loads(mp.read_text())


def all_ids(store) -> list[str]:
    """Every asset id, sorted (read from the id index only, so the asset table stays untouched)."""
    return [i for (i,) in store.db.execute("SELECT id FROM assets ORDER BY id").fetchall()]


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
