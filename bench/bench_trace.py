"""Downstream trace: Registry.trace(root, down=True) next to networkx.descendants.

The root is the largest synthetic family's base model (>= 100,000 descendants at 1M assets).
networkx gets the same graph (propagating edges only, the same string ids), built in memory
before timing. The two are timed alternately, --repeat times each, and must return the same
set. Registry.trace does more than networkx.descendants: it also returns each descendant's
shortest distance and sorts by (distance, id); networkx.single_source_shortest_path_length
(which also yields distances) is shown for reference.
"""

from __future__ import annotations

import gc
import statistics
import time

import common
import networkx as nx

from charter.core.assets import PROPAGATING
from charter.registry import Registry
from charter.store.sqlite import SQLiteStore

TARGET = 3.0  # ours at least 3x faster than networkx.descendants


def load_graph(store: SQLiteStore) -> nx.DiGraph:
    q = f"""SELECT p.id, c.id FROM edges e JOIN assets p ON p.rid=e.parent JOIN assets c ON c.rid=e.child
            WHERE e.relation IN ({','.join('?' * len(PROPAGATING))})"""
    g = nx.DiGraph()
    g.add_nodes_from(common.all_ids(store))
    g.add_edges_from(store.db.execute(q, PROPAGATING))
    return g


def main() -> None:
    a = common.args(__doc__.splitlines()[0], lambda ap: ap.add_argument("--repeat", type=int, default=7))
    path, meta = common.ensure(a.assets, a.seed, a.rebuild)
    root = meta["giant_roots"][0]
    t0 = time.perf_counter()
    g = load_graph(SQLiteStore(path, create=False))
    load_s = time.perf_counter() - t0
    reg = Registry(SQLiteStore(path, create=False))
    perf = time.perf_counter
    gc.collect()
    gc.freeze()  # keep the 1M-node networkx graph out of the collector's scans (fair to networkx)

    t0 = perf()
    hops = reg.trace(root, down=True)  # first call on a fresh connection
    first = perf() - t0
    ours, theirs, theirs_sp = [], [], []
    same = True
    for _ in range(a.repeat):
        # free the previous round's results outside the timed regions
        hops = desc = sp = None
        t0 = perf()
        hops = reg.trace(root, down=True)
        t1 = perf()
        ours.append(t1 - t0)
        t1 = perf()
        desc = nx.descendants(g, root)
        t2 = perf()
        theirs.append(t2 - t1)
        t2 = perf()
        sp = nx.single_source_shortest_path_length(g, root)
        t3 = perf()
        theirs_sp.append(t3 - t2)
        got = {h.asset for h in hops}
        same &= got == desc and len(got) == len(hops)
        same &= all(sp[h.asset] == h.depth for h in hops)
    n_desc = len(hops)
    ms = lambda s: round(s * 1000, 1)
    med = statistics.median
    rows = [
        ("ours Registry.trace(down=True)", ms(med(ours)), ms(min(ours)), "1.0x"),
        ("networkx.descendants", ms(med(theirs)), ms(min(theirs)), f"{med(theirs) / med(ours):.1f}x"),
        ("networkx.single_source_shortest_path_length", ms(med(theirs_sp)), ms(min(theirs_sp)), f"{med(theirs_sp) / med(ours):.1f}x"),
    ]
    print(f"\nDownstream trace from {root}: {n_desc:,} descendants (graph: {g.number_of_nodes():,} nodes, "
          f"{g.number_of_edges():,} propagating edges; networkx graph built in {load_s:.1f}s)")
    print(common.table(rows, ("what", "median ms", "min ms", "its time / ours")))
    print(f"ours first call on a fresh connection: {ms(first)} ms; same descendant set and distances as networkx: {same}")
    ratio = med(theirs) / med(ours)
    ok = ratio >= TARGET and same and n_desc >= min(100_000, a.assets // 10)
    result = {
        "assets": a.assets, "seed": a.seed, "root": root, "descendants": n_desc, "repeat": a.repeat,
        "ours_ms": {"median": ms(med(ours)), "min": ms(min(ours)), "first": ms(first)},
        "networkx_descendants_ms": {"median": ms(med(theirs)), "min": ms(min(theirs))},
        "networkx_sssp_length_ms": {"median": ms(med(theirs_sp)), "min": ms(min(theirs_sp))},
        "ours_all_ms": [ms(x) for x in ours], "networkx_descendants_all_ms": [ms(x) for x in theirs],
        "ratio": round(ratio, 2), "target": TARGET, "same_set": same, "pass": ok,
        **common.memory(), "registry": meta,
    }
    common.write_result("trace", result)
    print(common.memory_line())
    print(f"RESULT trace: ours {ms(med(ours))} ms vs networkx.descendants {ms(med(theirs))} ms over {n_desc:,} descendants "
          f"-> {ratio:.1f}x faster (target >= {TARGET:.0f}x) {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
