"""Registration throughput: the synthetic registry through the bulk path (Registry.add_many, one call), next to
the floor, on each backend in one run.

The floor writes the same rows into the same tables of an empty registry of the same backend, in one transaction
and nothing else: a plain executemany per table on SQLite (registration order, the store's page cache), COPY per
table on PostgreSQL (psycopg's write_row). Its rows are computed after ours ran (so that neither side holds the
other's data) and not timed; ours are computed inside the timed call (lineage closure, terms, JSON, checks). Registry.add_many builds the registry the other benchmarks
read (bench/out/registry-N-SEED.db; on PostgreSQL the given or throwaway database). Targets (issue 18 section 5):
at least 50,000 assets/s on SQLite and 20,000 on PostgreSQL.
"""

from __future__ import annotations

import time

import common

from charter.store import bulk, open_store

TARGET = {"sqlite": 50_000, "postgres": 20_000}

SQLITE_INSERTS = {
    "assets": "INSERT INTO assets(rid, id, kind, name, version, hash, doc, registered) VALUES (?,?,?,?,?,?,?,?)",
    "edges": "INSERT INTO edges VALUES (?,?,?)",
    "lineage": "INSERT INTO lineage VALUES (?,?)",
    "terms": "INSERT INTO terms VALUES (?,?)",
    "asset_terms": "INSERT INTO asset_terms VALUES (?,?,?)",
    "asset_listing": "INSERT INTO asset_listing VALUES (?,?)",
    "closure": "INSERT INTO closure VALUES (?,?,?)",
    "downstream": "INSERT INTO downstream VALUES (?,?,?)",
    "events": "INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)",
    "registrations": "INSERT INTO registrations VALUES (?,?)",
}
PG_COPIES = {
    "assets": "assets(rid, id, kind, name, version, hash, doc, registered)",
    "edges": "edges(child, parent, relation)",
    "lineage": "lineage(id, doc)",
    "terms": "terms(tid, digest, doc)",
    "asset_terms": "asset_terms(rid, tid, id)",
    "asset_listing": "asset_listing(rid, licenses)",
    "closure": "closure(descendant, ancestor, depth)",
    "downstream": "downstream(ancestor, depth, descendant)",
    "events": "events(time, type, asset, data)",
    "registrations": "registrations(rid, actor)",
}


def floor_rows(assets: list) -> tuple[dict[str, list[tuple]], int]:
    """Every table's rows for ``assets`` registered into an empty registry, in registration order (untimed);
    ``terms_pg``: the terms rows as PostgreSQL's table holds them (with each key's sha256)."""
    import hashlib

    t = "2026-01-01T00:00:00.000000+00:00"
    planned = bulk.plan(assets, {})
    with bulk.no_gc():
        r = bulk.rows(planned, 1, {}, t, "bench")
        tid, new = bulk.new_terms([k for _, k, _ in r.asset_terms], {}, 1)
        rid = {p.asset.id: k + 1 for k, p in enumerate(planned)}
        out = {
            "assets": r.assets, "edges": r.edges,
            "lineage": [(p.asset.id, p.lineage) for p in planned],
            "terms": new, "terms_pg": [(i, hashlib.sha256(k.encode()).hexdigest(), k) for i, k in new],
            "asset_terms": [(x, tid[k], i) for x, k, i in r.asset_terms],
            "asset_listing": r.listing, "closure": r.closure,  # (already in registration order)
            "downstream": [(rid[i], d, p.asset.id) for p in planned for i, d in zip(p.flat.ids[1:], p.flat.depth[1:])],
            "events": r.events, "registrations": r.registrations,
        }
    return out, sum(len(v) for k, v in out.items() if k != "terms_pg")


def floor_sqlite(path: str, rows: dict[str, list[tuple]], tables=tuple(SQLITE_INSERTS)) -> float:
    store = open_store(path)
    try:
        store.db.execute("PRAGMA wal_autocheckpoint=0")  # as Registry.add_many's large batch: the WAL copied after, untimed
        t0 = time.perf_counter()
        with store._tx():
            for table in tables:
                store.db.executemany(SQLITE_INSERTS[table], rows[table])
        return time.perf_counter() - t0
    finally:
        store.close()


# --floor-parts: the floor of a registry that kept less, table group by table group (each group adds to the one before)
FLOOR_PARTS = (
    ("the assets alone (id, kind, name, version, hash, charter document, time; their two indexes)", ("assets",)),
    ("+ lineage edges", ("edges",)),
    ("+ who registered each, its register event, licences, terms",
     ("registrations", "events", "asset_listing", "terms", "asset_terms")),
    ("+ the materialised lineage (compiled lineage, closure, downstream): what decisions and traces read",
     ("lineage", "closure", "downstream")),
)


def floor_parts(n: int, seed: int, rows: dict[str, list[tuple]]) -> list[tuple[str, float]]:
    """The floor of each cumulative group of FLOOR_PARTS, each in a fresh SQLite file."""
    out, tables = [], []
    for what, group in FLOOR_PARTS:
        tables += group
        path = fresh_sqlite(n, seed)
        out.append((what, floor_sqlite(path, rows, tuple(tables))))
        for suffix in ("", "-wal", "-shm"):
            common.Path(path + suffix).unlink(missing_ok=True)
        print(f"  floor of {what}: {out[-1][1]:.1f}s", flush=True)
    return out


def floor_postgres(url: str, rows: dict[str, list[tuple]]) -> float:
    store = open_store(url)
    try:
        t0 = time.perf_counter()
        with store._tx() as cur:
            for table, cols in PG_COPIES.items():
                with cur.copy(f"COPY {cols} FROM STDIN") as cp:
                    for row in rows["terms_pg" if table == "terms" else table]:
                        cp.write_row(row)
        return time.perf_counter() - t0
    finally:
        store.close()


def fresh_sqlite(n: int, seed: int) -> str:
    p = common.OUT / f"floor-{n}-{seed}.db"
    for suffix in ("", "-wal", "-shm"):
        common.Path(str(p) + suffix).unlink(missing_ok=True)
    return str(p)


def fresh_postgres(url: str, name: str) -> str:
    """An empty database next to ``url``'s, for the floor (dropped first when it exists)."""
    import psycopg
    from psycopg import sql
    from urllib.parse import urlsplit, urlunsplit

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        con.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def drop_postgres(url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    a = common.args(__doc__.splitlines()[0], lambda ap: ap.add_argument(
        "--floor-parts", action="store_true", help="also the SQLite floor of a registry keeping less, table group by table group"))
    n, seed = a.assets, a.seed
    assets, info, gen_s = common.assets_of(n, seed)
    print(f"generated {n:,} synthetic assets in {gen_s:.1f}s (not timed)", flush=True)
    results = {}
    with common.targets(a) as targets:
        for backend, target in targets.items():
            pg = backend == "postgres"
            # ours first, then the floor with its rows computed (untimed) after: each side runs with only what it
            # needs in memory (holding the floor's 11.9 M rows, ~2.5 GB, while ours ran made ours 36.4 -> 42.3 s)
            print(f"[{backend}] registering through Registry.add_many ...", flush=True)
            meta = common.build(n, seed, target if pg else None, assets=assets, info=info, gen_s=gen_s)
            print(f"[{backend}] {meta['register_s']:.1f}s; computing the floor's rows (not timed) ...", flush=True)
            rows, n_rows = floor_rows(assets)
            if pg:
                floor_url = fresh_postgres(target, "charter_bench_floor")
                floor_s = floor_postgres(floor_url, rows)
                drop_postgres(target, "charter_bench_floor")
            else:
                path = fresh_sqlite(n, seed)
                floor_s = floor_sqlite(path, rows)
                for suffix in ("", "-wal", "-shm"):
                    common.Path(path + suffix).unlink(missing_ok=True)
                if a.floor_parts:
                    parts = floor_parts(n, seed, rows)
            del rows
            print(f"[{backend}] floor: {n_rows:,} rows in {floor_s:.1f}s", flush=True)
            ours = n / meta["register_s"]
            results[backend] = {"register_s": meta["register_s"], "close_s": meta["close_s"], "assets_per_s": round(ours), "floor_s": round(floor_s, 3),
                                "floor_assets_per_s": round(n / floor_s), "floor_rows": n_rows, "ratio": round(floor_s / meta["register_s"], 3),
                                "target": TARGET[backend], "pass": ours >= TARGET[backend], "registry": meta}
    print(f"\nRegistration of {n:,} synthetic assets ({info.n_datasets:,} datasets, {info.n_bases:,} base models, "
          f"{info.n_derived:,} derived models, {info.n_apps:,} applications; {info.edges:,} lineage edges)")
    rows_ = [(b, f"{r['register_s']:.1f}", f"{r['assets_per_s']:,}", f"{r['floor_s']:.1f}", f"{r['floor_assets_per_s']:,}",
              f"{r['ratio']:.2f}x", f"{r['target']:,}", "PASS" if r["pass"] else "FAIL") for b, r in results.items()]
    print(common.table(rows_, ("backend", "add_many s", "assets/s", "floor s", "floor assets/s", "ours / floor (throughput)", "target assets/s", "")))
    if "postgres" in results and "sqlite" in results:
        print(f"PostgreSQL / SQLite throughput: {results['postgres']['assets_per_s'] / results['sqlite']['assets_per_s']:.2f}x")
    if a.floor_parts and "sqlite" in results:
        print(f"\nSQLite floor of a registry that kept less ({n:,} assets; each line adds its tables to the one above):")
        print(common.table([(w, f"{s:.1f}", f"{n / s:,.0f}", "above" if n / s >= TARGET["sqlite"] else "below")
                            for w, s in parts], ("tables written", "floor s", "floor assets/s", "the 50,000/s target")))
        results["sqlite"]["floor_parts"] = [{"tables": w, "floor_s": round(s, 3), "assets_per_s": round(n / s)} for w, s in parts]
    print(common.memory_line())
    common.write_result("register", {"assets": n, "seed": seed, "generate_s": round(gen_s, 3), "backends": results,
                                     "loadavg": common.os.getloadavg(), **common.memory()})
    for b, r in results.items():
        print(f"RESULT register[{b}]: {n:,} assets in {r['register_s']:.1f} s = {r['assets_per_s']:,} assets/s "
              f"(floor {r['floor_assets_per_s']:,}/s, ours {r['ratio']:.2f}x the floor; target >= {r['target']:,}/s) {'PASS' if r['pass'] else 'FAIL'}")
        if b == "sqlite":
            print(f"  then the store's close waited {r['close_s']:.1f} s for the background checkpoint (the WAL copied into the database file; "
                  "the floor's is not timed either)")


if __name__ == "__main__":
    main()
