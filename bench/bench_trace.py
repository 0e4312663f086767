"""Downstream trace: Registry.trace(root, down=True) next to networkx.descendants, on each backend.

The root is the largest synthetic family's base model (>= 100,000 descendants at 1M assets).
networkx gets the same graph (propagating edges only, the same string ids, from the generator),
built in memory before timing. Each backend (--backends sqlite,postgres) and networkx are timed
alternately, --repeat times each, and must return the same set. Registry.trace does more than networkx.descendants: it also returns each descendant's
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
from charter.store import open_store

TARGET = 3.0  # ours at least 3x faster than networkx.descendants


def load_graph(n: int, seed: int) -> nx.DiGraph:
    """The registry's lineage graph (propagating edges), from the same generator that built it."""
    g = nx.DiGraph()
    prop = set(PROPAGATING)
    for a in common.synth.generate(n, seed):
        g.add_node(a.id)
        g.add_edges_from((e.parent, a.id) for e in a.derived_from if e.relation in prop)
    return g


def main() -> None:
    a = common.args(__doc__.splitlines()[0], lambda ap: ap.add_argument("--repeat", type=int, default=7))
    with common.targets(a) as targets:
        regs, metas = {}, {}
        for b, target in targets.items():
            target, metas[b] = common.ensure(a.assets, a.seed, a.rebuild, target)
            regs[b] = Registry(open_store(target, create=False))
        run(a, regs, metas)


def run(a, regs: dict, metas: dict) -> None:
    meta = next(iter(metas.values()))
    root = meta["giant_roots"][0]
    t0 = time.perf_counter()
    g = load_graph(a.assets, a.seed)
    load_s = time.perf_counter() - t0
    perf = time.perf_counter
    gc.collect()
    gc.freeze()  # keep the 1M-node networkx graph out of the collector's scans (fair to networkx)

    first = {}
    for b, reg in regs.items():
        t0 = perf()
        reg.trace(root, down=True)  # first call on a fresh connection
        first[b] = perf() - t0
    ours: dict[str, list[float]] = {b: [] for b in regs}
    theirs, theirs_sp = [], []
    same = True
    n_desc = 0
    for _ in range(a.repeat):
        for b, reg in regs.items():
            hops = None  # free the previous round's result outside the timed region
            t0 = perf()
            hops = reg.trace(root, down=True)
            ours[b].append(perf() - t0)
            if b == next(iter(regs)):
                mine = hops
            else:
                same &= list(hops) == list(mine)
        desc = sp = None
        t1 = perf()
        desc = nx.descendants(g, root)
        t2 = perf()
        theirs.append(t2 - t1)
        t2 = perf()
        sp = nx.single_source_shortest_path_length(g, root)
        t3 = perf()
        theirs_sp.append(t3 - t2)
        got = {h.asset for h in mine}
        same &= got == desc and len(got) == len(mine)
        same &= all(sp[h.asset] == h.depth for h in mine)
        n_desc = len(mine)
    ms = lambda s: round(s * 1000, 1)
    med = statistics.median
    rows = [(f"{b}: Registry.trace(down=True)", ms(med(v)), ms(min(v)), f"{med(theirs) / med(v):.1f}x") for b, v in ours.items()]
    rows += [
        ("networkx.descendants", ms(med(theirs)), ms(min(theirs)), "1.0x"),
        ("networkx.single_source_shortest_path_length", ms(med(theirs_sp)), ms(min(theirs_sp)), f"{med(theirs) / med(theirs_sp):.1f}x"),
    ]
    print(f"\nDownstream trace from {root}: {n_desc:,} descendants (graph: {g.number_of_nodes():,} nodes, "
          f"{g.number_of_edges():,} propagating edges; networkx graph built in {load_s:.1f}s)")
    print(common.table(rows, ("what", "median ms", "min ms", "networkx.descendants / this")))
    print("first call on a fresh connection: " + ", ".join(f"{b} {ms(s)} ms" for b, s in first.items())
          + f"; same descendants and distances on every backend and in networkx: {same}")
    ratios = {b: med(theirs) / med(v) for b, v in ours.items()}
    ok = {b: r >= TARGET and same and n_desc >= min(100_000, a.assets // 10) for b, r in ratios.items()}
    result = {
        "assets": a.assets, "seed": a.seed, "root": root, "descendants": n_desc, "repeat": a.repeat,
        "backends": {b: {"ours_ms": {"median": ms(med(v)), "min": ms(min(v)), "first": ms(first[b])}, "all_ms": [ms(x) for x in v],
                         "ratio": round(ratios[b], 2), "pass": ok[b]} for b, v in ours.items()},
        "networkx_descendants_ms": {"median": ms(med(theirs)), "min": ms(min(theirs))},
        "networkx_sssp_length_ms": {"median": ms(med(theirs_sp)), "min": ms(min(theirs_sp))},
        "networkx_descendants_all_ms": [ms(x) for x in theirs],
        "target": TARGET, "same_set": same, "pass": all(ok.values()), "loadavg": common.os.getloadavg(),
        **common.memory(), "registry": metas,
    }
    common.write_result("trace", result)
    print(common.memory_line())
    for b, v in ours.items():
        print(f"RESULT trace[{b}]: ours {ms(med(v))} ms vs networkx.descendants {ms(med(theirs))} ms over {n_desc:,} descendants "
              f"-> {ratios[b]:.1f}x faster (target >= {TARGET:.0f}x) {'PASS' if ok[b] else 'FAIL'}")


if __name__ == "__main__":
    main()
