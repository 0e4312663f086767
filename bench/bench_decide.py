"""Decision latency: Registry.check / Registry.can next to cedarpy on the same requests; batch
decisions (Registry.can_many, `ls --allowed`); the differential oracle (--oracle N).

Requests are random (uniform over all assets; 1 activity, 0-2 purposes, usually a context,
e.g. [fine-tuning, machine-translation, commercial]). They are processed in blocks (default
100); within a block each contender runs over the whole block in turn, so all are measured
side by side in one run while none evicts the others' caches on every call:
  check_cold    Registry.check, first time this process sees the asset (its stored terms key
                read from SQLite in one lookup; the fold of each distinct key is memoised)
  cold_indexed  the same in a Registry that holds every asset's terms id in memory
                (Registry.index_ids, built before the run: its time and memory are printed)
  check_warm    the same call again (effective terms cached in the Registry)
  reasons       reading .reasons of the check_warm decisions that are denials (the reference
                decide() builds them on first access; timed only for denials)
  reference     the reference decide() over the cached lineage (what check_warm cost before
                the effective terms: issue 15 section 4)
  can           Registry.can (terms cached), which also appends the decision, with its reasons,
                to the event log (one durable SQLite write, synchronous=FULL)
  cedar_text    cedarpy.is_authorized_batch, one Cedar request per use, given the request's
                slice (the asset and its ancestors, the requested uses and their ancestors,
                and only those assets' policies) as entity JSON and policy text
  cedar_parsed  the same with the slice pre-parsed into Entities/PolicySet handles
                (evaluation only: the most generous setting for cedar)
Building the cedar slice (reading E from the registry, writing entities and policies) is not
timed. Targets (issue 15 section 4), against cedar_parsed (the fair comparator): check_warm p50
<= cedar_parsed p50 / 100, cold_indexed p50 <= cedar_parsed p50 / 20, p99 of both <= cedar_parsed
p99 / 10 (check_cold, without the index, is reported beside it). Then, in fresh Registry objects
(cold): Registry.can_many over --pairs random (asset, uses) pairs (target < 1 s, decisions only;
with the event log written too, reported), and what `charter ls --allowed` reads over every asset:
the filter (Registry.allowed_ids) and then the listed columns (Registry.summaries; target < 1 s). --oracle N runs
charter.oracle over N random requests (fast path vs decide(): 0 disagreements).

Cedar model: Asset entities with parents = their propagating parents; Action entities with
the taxonomy's parents; `permit(principal, action, resource);` plus, for each asset X in
the slice:
  deny d (own or licence):  forbid(.., resource in Asset::"X") when { action in Action::"d"
                            || action == Action::"<each strict ancestor of d>" }   (overlap both ways)
  allow list, facet f:      forbid(principal, action in Action::"f", resource in Asset::"X")
                            unless { action in Action::"<entry>" || ... }          (allow-only)
                            forbid(.., resource in Asset::"X") unless { context.facets.contains("f") }
                                                                                    (undeclared-facet)
  licence condition on c:   as a deny of c (the requests attest no condition)
  withdrawn:                forbid(principal, action, resource in Asset::"X");
so every rule is modelled and cross-checked: the request-level allowed/denied and the set of
denied uses must agree for every sampled request.
"""

from __future__ import annotations

import json
import os
import time

import cedarpy
import common

from charter import oracle
from charter.policy.decide import Request, decide
from charter.registry import Registry
from charter.store import open_store

TARGET_WARM, TARGET_COLD, TARGET_P99 = 100.0, 20.0, 10.0  # cedar_parsed / ours, at least


def cedar_slice(store, reg: Registry, wd: dict, asset: str, uses: tuple[str, ...]):
    """(entities JSON, policy text, requests) for one request; built from the registry, untimed."""
    tax, lic = reg.taxonomy, reg.licenses
    members = store.lineage(asset)
    ents = [{"uid": {"type": "User", "id": "bench"}, "attrs": {}, "parents": []}]
    for a in members:
        ents.append({"uid": {"type": "Asset", "id": a.id}, "attrs": {}, "parents": [{"type": "Asset", "id": p} for p in a.parents]})
    actions = sorted({x for u in uses for x in tax.ancestors[u]})
    for u in actions:
        ents.append({"uid": {"type": "Action", "id": u}, "attrs": {}, "parents": [{"type": "Action", "id": p} for p in tax.uses[u].parents]})
    pol = ["permit(principal, action, resource);"]
    for a in members:
        res = f'resource in Asset::{json.dumps(a.id)}'
        if a.id in wd:
            pol.append(f"forbid(principal, action, {res});")
        lics = lic.for_asset(a.licenses)
        # a licence condition the request does not attest (the bench attests none) denies its overlapping uses
        denies = list(dict.fromkeys([*a.deny, *(d for li in lics for d in li.deny), *(c.use for li in lics for c in li.conditions)]))
        if denies:
            conds = []
            for d in denies:
                conds.append(f'action in Action::"{d}"')
                conds += [f'action == Action::"{x}"' for x in sorted(tax.ancestors[d] - {d})]
            pol.append(f"forbid(principal, action, {res}) when {{ {' || '.join(dict.fromkeys(conds))} }};")
        for allowed in [a.allow] + [li.allow for li in lics]:
            by_facet: dict[str, list[str]] = {}
            for x in allowed:
                by_facet.setdefault(tax.facet[x], []).append(x)
            for f, entries in by_facet.items():
                ok = " || ".join(f'action in Action::"{e}"' for e in entries)
                pol.append(f'forbid(principal, action in Action::"{f}", {res}) unless {{ {ok} }};')
                pol.append(f'forbid(principal, action, {res}) unless {{ context.facets.contains("{f}") }};')
    ctx = json.dumps({"facets": sorted({tax.facet[u] for u in uses})})
    reqs = [{"principal": 'User::"bench"', "action": f'Action::"{u}"', "resource": f"Asset::{json.dumps(asset)}", "context": ctx} for u in uses]
    return json.dumps(ents), "\n".join(pol), reqs


def our_denied(d) -> set[str]:
    if any(r.rule in ("withdrawn", "undeclared-facet") for r in d.reasons):
        return set(d.uses)
    return {r.use for r in d.reasons if r.rule in ("deny", "allow-only", "condition")}


PER_BACKEND = ("check_cold", "cold_indexed", "check_warm", "can")  # timed on every backend, side by side in each block
SHARED = ("reasons", "reference", "cedar_text", "cedar_parsed")  # timed once (on the first backend's registry)


def main() -> None:
    a = common.args(__doc__.splitlines()[0], lambda ap: (ap.add_argument("--requests", type=int, default=5000),
                                                         ap.add_argument("--warmup", type=int, default=200),
                                                         ap.add_argument("--block", type=int, default=100),
                                                         ap.add_argument("--pairs", type=int, default=100_000),
                                                         ap.add_argument("--oracle", type=int, default=0, metavar="N",
                                                                         help="also run the differential oracle over N requests")))
    with common.targets(a) as targets:
        metas = {}
        for b, target in list(targets.items()):
            targets[b], metas[b] = common.ensure(a.assets, a.seed, a.rebuild, target)
        run(a, targets, metas)


def run(a, targets: dict[str, str], metas: dict) -> None:
    backends = list(targets)
    regs = {b: Registry(open_store(t, create=False)) for b, t in targets.items()}
    side = open_store(targets[backends[0]], create=False)  # a second connection for building cedar slices
    wd = side.withdrawals()
    ids = common.all_ids(side)
    reqs = common.synth.requests(ids, a.warmup + a.requests, seed=a.seed + 7)
    del ids
    perf = time.perf_counter_ns
    regs_ix, index_s, index_n = {}, {}, {}
    for b, t in targets.items():  # the same, with every asset's terms id held in memory
        regs_ix[b] = Registry(open_store(t, create=False))
        t0 = time.perf_counter()
        index_n[b] = regs_ix[b].index_ids()
        index_s[b] = time.perf_counter() - t0
    index_mb = common.memory()["rss_anon_mb"]
    kinds = [f"{b}:{k}" for b in backends for k in PER_BACKEND] + list(SHARED)
    t: dict[str, list[int]] = {k: [] for k in kinds}
    e_sizes, p_sizes = [], []
    agree = disagree = allowed_n = differ_backends = 0
    disagree_ref: list = []
    mismatches = []
    reg = regs[backends[0]]
    # Blocks of requests, each measured by every contender in turn: side by side in one run
    # (machine drift hits all alike) without one contender evicting the other's caches per call.
    for start in range(0, len(reqs), a.block):
        block = reqs[start:start + a.block]
        keep = start >= a.warmup
        lap: dict[str, list[int]] = {k: [] for k in kinds}
        decisions: dict[str, list] = {}
        for b in backends:
            r, rx, got = regs[b], regs_ix[b], []
            for asset, uses in block:
                t0 = perf()
                d = r.check(asset, uses)
                lap[f"{b}:check_cold"].append(perf() - t0)
                got.append(d)
            decisions[b] = got
            for asset, uses in block:
                t0 = perf()
                rx.check(asset, uses)
                lap[f"{b}:cold_indexed"].append(perf() - t0)
            for asset, uses in block:
                t0 = perf()
                r.check(asset, uses)
                lap[f"{b}:check_warm"].append(perf() - t0)
            # right after check_warm, like it (the reasons and reference loops below touch every lineage: caches cold)
            for asset, uses in block:
                t0 = perf()
                r.can(asset, uses)
                lap[f"{b}:can"].append(perf() - t0)
        for b in backends[1:]:
            differ_backends += sum(x != y for x, y in zip(decisions[b], decisions[backends[0]]))
        warm = [reg.check(asset, uses) for asset, uses in block]
        for d in warm:
            if not d.allowed:
                t0 = perf()
                d.reasons
                lap["reasons"].append(perf() - t0)
        for asset, uses in block:
            lin = reg.lineage(asset)  # read and cached before the timer (the old warm path had it cached)
            req, props = Request(asset, reg.check_uses(uses)), reg._properties_if_required(asset, lin)
            t0 = perf()
            ref = decide(req, lin, reg.taxonomy, reg.licenses, props)
            lap["reference"].append(perf() - t0)
            if ref != reg.check(asset, uses):
                disagree_ref.append((asset, uses))
        slices = [cedar_slice(side, reg, wd, asset, uses) for asset, uses in block]  # not timed
        results = []
        for ents, pol, creqs in slices:
            t0 = perf()
            res = cedarpy.is_authorized_batch(creqs, pol, ents)
            lap["cedar_text"].append(perf() - t0)
            results.append(res)
        handles = [(cedarpy.Entities.from_json_str(e), cedarpy.PolicySet.from_str(p), r) for e, p, r in slices]  # not timed
        for e_h, p_h, creqs in handles:
            t0 = perf()
            cedarpy.is_authorized_batch(creqs, p_h, e_h)
            lap["cedar_parsed"].append(perf() - t0)
        for (asset, uses), d, res, (ents, pol, _) in zip(block, decisions[backends[0]], results, slices):
            c_denied = {u for u, r in zip(uses, res) if not r.allowed}
            o_denied = our_denied(d)
            if (not c_denied) == d.allowed and c_denied == o_denied:
                agree += 1
            else:
                disagree += 1
                if len(mismatches) < 5:
                    mismatches.append({"asset": asset, "uses": uses, "ours": sorted(o_denied), "cedar": sorted(c_denied),
                                       "reasons": [r.to_json() for r in d.reasons], "policies": pol})
            allowed_n += d.allowed
            if keep:
                e_sizes.append(len(json.loads(ents)))
                p_sizes.append(pol.count(";"))
        if keep:
            for k in kinds:
                t[k] += lap[k]
    us = lambda ns: round(ns / 1000, 1)
    stats = {k: {"p50_us": us(common.pct(v, 50)), "p99_us": us(common.pct(v, 99)), "mean_us": us(sum(v) / len(v))} for k, v in t.items()}
    c50 = stats["cedar_parsed"]["p50_us"]
    c99 = stats["cedar_parsed"]["p99_us"]
    first = backends[0]

    def vs_first(k: str) -> str:  # this backend's p50 / p99 over the first backend's, same measure
        b, _, m = k.partition(":")
        if not m or b == first:
            return ""
        f = stats[f"{first}:{m}"]
        return f"{stats[k]['p50_us'] / f['p50_us']:.2f}x / {stats[k]['p99_us'] / f['p99_us']:.2f}x"

    rows = [(k, stats[k]["p50_us"], stats[k]["p99_us"], stats[k]["mean_us"], f"{c50 / stats[k]['p50_us']:.1f}x",
             f"{c99 / stats[k]['p99_us']:.1f}x", vs_first(k)) for k in t]
    n_timed = len(t["cedar_parsed"])
    print(f"\nDecision latency, {a.assets:,} assets, {n_timed:,} timed requests (+{len(reqs) - n_timed} warm-up) in blocks of {a.block}, "
          f"uses/request avg {sum(len(u) for _, u in reqs) / len(reqs):.2f}, "
          f"cedar slice avg {sum(e_sizes) / len(e_sizes):.1f} entities / {sum(p_sizes) / len(p_sizes):.1f} policies; backends {', '.join(backends)}")
    print(common.table(rows, ("what", "p50 µs", "p99 µs", "mean µs", "cedar(parsed) p50 / this p50", "cedar(parsed) p99 / this p99",
                              f"this / {first} (p50 / p99)")))
    print(f"fast path vs the reference decide() on the same requests: {len(reqs) - len(disagree_ref):,} equal, "
          f"{len(disagree_ref)} different (decision and reasons); decisions differing between backends: {differ_backends}")
    print(f"cross-check: {agree:,} agree, {disagree} disagree (request allowed/denied and denied uses; "
          f"all rules modelled incl. withdrawals); {allowed_n:,} of {len(reqs):,} requests allowed")
    for m in mismatches:
        print("MISMATCH", json.dumps(m, indent=1))
    ok_x = disagree == 0 and not disagree_ref and differ_backends == 0
    per: dict[str, dict] = {}
    for b in backends:
        st = lambda m: stats[f"{b}:{m}"]
        r_warm, r_cold = c50 / st("check_warm")["p50_us"], c50 / st("cold_indexed")["p50_us"]
        r99_warm, r99_cold = c99 / st("check_warm")["p99_us"], c99 / st("cold_indexed")["p99_us"]
        per[b] = {"ratio_cedar_parsed_over_check_warm": round(r_warm, 2), "ratio_cedar_parsed_over_check_cold": round(r_cold, 2),
                  "ratio_cedar_parsed_over_check_cold_store": round(c50 / st("check_cold")["p50_us"], 2),
                  "ratio_cedar_parsed_p99_over_check_warm_p99": round(r99_warm, 2), "ratio_cedar_parsed_p99_over_check_cold_p99": round(r99_cold, 2),
                  "ratio_cedar_parsed_over_can": round(c50 / st("can")["p50_us"], 3),
                  "warm_over_first": round(st("check_warm")["p50_us"] / stats[f"{first}:check_warm"]["p50_us"], 2),
                  "pass_warm": r_warm >= TARGET_WARM and ok_x, "pass_cold": r_cold >= TARGET_COLD and ok_x,
                  "pass_p99": min(r99_warm, r99_cold) >= TARGET_P99 and ok_x,
                  "index_ids_s": round(index_s[b], 3), "index_ids": index_n[b]}
        print(f"[{b}] ratios (cedar parsed / ours): p50 warm {r_warm:.1f}x (target {TARGET_WARM:.0f}x), cold {r_cold:.1f}x (target {TARGET_COLD:.0f}x), "
              f"p99 warm {r99_warm:.1f}x / cold {r99_cold:.1f}x (target {TARGET_P99:.0f}x); Registry.index_ids {index_n[b]:,} ids in {index_s[b]:.2f} s")
    r_text = stats["cedar_text"]["p50_us"] / stats[f"{first}:check_warm"]["p50_us"]
    r_ref = stats["reference"]["p50_us"] / stats[f"{first}:check_warm"]["p50_us"]
    print(f"cedar text / warm check {r_text:.1f}x; reference decide() / warm check {r_ref:.1f}x ({first}); "
          f"process anonymous memory {index_mb:,.0f} MB after the indexes")
    for r in (*regs.values(), *regs_ix.values()):
        r.close()
    side.close()
    batch = {b: batch_bench(t, a) for b, t in targets.items()}
    orc = None
    if a.oracle:
        t0 = time.perf_counter()
        rep = oracle.run(a.oracle, seed=a.seed)
        orc = {"requests": rep.requests, "worlds": rep.worlds, "listings": rep.listings, "allowed": rep.allowed, "fast": rep.fast,
               "disagreements": len(rep.disagreements), "examples": [d for d in rep.disagreements if d][:5],
               "seconds": round(time.perf_counter() - t0, 1)}
        print(f"oracle: {rep.requests:,} requests over {rep.worlds:,} random worlds (+{rep.listings:,} listings): {len(rep.disagreements)} disagreements "
              f"in decision or reasons; {rep.allowed:,} allowed, {rep.fast:,} decided by the fold alone ({orc['seconds']} s)")
        for d in orc["examples"]:
            print("DISAGREE", json.dumps(d))
    load = os.getloadavg()
    pg_ok = None
    if "postgres" in per and "sqlite" in per:
        pg_over = stats["postgres:check_warm"]["p50_us"] / stats["sqlite:check_warm"]["p50_us"]
        pg_ok = pg_over <= 2.0
        print(f"PostgreSQL / SQLite, warm decision p50: {pg_over:.2f}x (target <= 2x) {'PASS' if pg_ok else 'FAIL'}; "
              f"p99 {stats['postgres:check_warm']['p99_us'] / stats['sqlite:check_warm']['p99_us']:.2f}x")
    result = {
        "assets": a.assets, "seed": a.seed, "requests": n_timed, "block": a.block, "backends": backends, "stats": stats, "loadavg": load,
        "per_backend": per, "ratio_cedar_text_over_check_warm": round(r_text, 2), "ratio_reference_over_check_warm": round(r_ref, 2),
        "targets": {"warm": TARGET_WARM, "cold": TARGET_COLD, "p99": TARGET_P99, "postgres_over_sqlite_warm": 2.0},
        "pass_postgres_within_2x": pg_ok, "agree": agree, "disagree": disagree, "differ_backends": differ_backends,
        "disagree_reference": len(disagree_ref), "mismatches": mismatches, "batch": batch, "oracle": orc,
        "rss_anon_mb_after_index": index_mb, **common.memory(), "registry": metas,
    }
    common.write_result("decide", result)
    print(common.memory_line() + f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    verdict = lambda ok: "PASS" if ok else "FAIL"
    ok_orc = orc is None or orc["disagreements"] == 0
    for b in backends:
        st, p, bb = (lambda m: stats[f"{b}:{m}"]), per[b], batch[b]
        ok_batch = bb["can_many_s"] < 1 and bb["ls_s"] < 1
        print(f"RESULT decide[{b}]: cedar parsed p50 {c50} µs / p99 {c99} µs vs check p50 warm {st('check_warm')['p50_us']} µs "
              f"({p['ratio_cedar_parsed_over_check_warm']:.0f}x, {verdict(p['pass_warm'])}) / cold (indexed) {st('cold_indexed')['p50_us']} µs "
              f"({p['ratio_cedar_parsed_over_check_cold']:.0f}x, {verdict(p['pass_cold'])}), p99 warm {p['ratio_cedar_parsed_p99_over_check_warm_p99']:.0f}x / "
              f"cold {p['ratio_cedar_parsed_p99_over_check_cold_p99']:.0f}x ({verdict(p['pass_p99'])}); can_many {a.pairs:,} pairs {bb['can_many_s']:.2f} s, "
              f"ls --allowed {bb['ls_s']:.2f} s ({verdict(ok_batch)})"
              + (f"; oracle {orc['requests']:,} requests, {orc['disagreements']} disagreements ({verdict(ok_orc)})" if orc else "")
              + (f"; warm p50 {p['warm_over_first']:.2f}x {first}'s (target <= 2x, {verdict(pg_ok)})" if b == "postgres" and pg_ok is not None else ""))


def batch_bench(path: str, a) -> dict:
    """Batch decisions in fresh Registry objects (nothing cached): can_many over random pairs, and the
    filter of `charter ls --allowed` over every asset; each twice (cold, then warm)."""
    out: dict = {}
    side = open_store(path, create=False)
    ids = common.all_ids(side)
    pairs = common.synth.requests(ids, a.pairs, seed=a.seed + 11)
    del ids
    side.close()
    reg = Registry(open_store(path, create=False))
    t0 = time.perf_counter()
    reg.check(pairs[0][0], pairs[0][1])  # the process's first decision folds every distinct terms key (Registry.PRELOAD_TERMS)
    out["first_check_s"] = round(time.perf_counter() - t0, 3)
    out["terms_keys"] = len(reg._by_tid)
    reg.close()
    reg = Registry(open_store(path, create=False))
    t0 = time.perf_counter()
    ds = reg.can_many(pairs, log=False)
    out["can_many_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    reg.can_many(pairs, log=False)
    out["can_many_warm_s"] = round(time.perf_counter() - t0, 3)
    out["can_many_allowed"] = sum(d.allowed for d in ds)
    t0 = time.perf_counter()
    n_reasons = sum(len(d.reasons) for d in ds)
    out["can_many_reasons_s"] = round(time.perf_counter() - t0, 3)
    out["can_many_reasons"] = n_reasons
    del ds
    t0 = time.perf_counter()
    reg.can_many(pairs)  # decisions (warm) + their reasons + one write of the event log
    out["can_many_logged_s"] = round(time.perf_counter() - t0, 3)
    reg.close()
    uses = ("fine-tuning", "commercial")
    reg = Registry(open_store(path, create=False))
    t0 = time.perf_counter()
    allowed = reg.allowed_ids(uses)
    out["allowed_ids_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    reg.allowed_ids(uses)
    out["allowed_ids_warm_s"] = round(time.perf_counter() - t0, 3)
    out["allowed_ids"] = len(allowed)
    out["allowed_uses"] = list(uses)
    reg.close()
    reg = Registry(open_store(path, create=False))
    t0 = time.perf_counter()
    rows = reg.summaries(allowed=list(uses))  # what `charter ls --allowed` reads: the filter, then the listed columns
    out["ls_s"] = round(time.perf_counter() - t0, 3)
    assert [x[0] for x in rows] == allowed
    reg.close()
    print(f"[{common.backend_of(path)}] first decision in a process: {out['first_check_s']:.2f} s (folds all {out['terms_keys']:,} distinct terms keys, once)")
    print(f"batch (fresh registries): can_many {a.pairs:,} pairs {out['can_many_s']:.2f} s cold / {out['can_many_warm_s']:.2f} s warm "
          f"({out['can_many_allowed']:,} allowed); reading every denial's reasons {out['can_many_reasons_s']:.2f} s; "
          f"can_many with the event log (reasons + one write) {out['can_many_logged_s']:.2f} s")
    print(f"ls --allowed {','.join(uses)}: filter (Registry.allowed_ids) {out['allowed_ids_s']:.2f} s cold / {out['allowed_ids_warm_s']:.2f} s warm, "
          f"{out['allowed_ids']:,} assets allowed; with the listing's columns (Registry.summaries, what `charter ls` prints) {out['ls_s']:.2f} s cold")
    return out


if __name__ == "__main__":
    main()
