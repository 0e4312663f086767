"""Decision latency: Registry.check / Registry.can next to cedarpy on the same requests.

Requests are random (uniform over all assets; 1 activity, 0-2 purposes, usually a context,
e.g. [fine-tuning, machine-translation, commercial]). They are processed in blocks (default
100); within a block each contender runs over the whole block in turn, so all are measured
side by side in one run while none evicts the others' caches on every call:
  check_cold    Registry.check, first time this process sees the asset (its compiled
                lineage read from SQLite in one primary-key lookup and decoded)
  check_warm    the same call again (lineage cached in the Registry)
  can           Registry.can (lineage cached), which also appends the decision to the event log
  cedar_text    cedarpy.is_authorized_batch, one Cedar request per use, given the request's
                slice (the asset and its ancestors, the requested uses and their ancestors,
                and only those assets' policies) as entity JSON and policy text
  cedar_parsed  the same with the slice pre-parsed into Entities/PolicySet handles
                (evaluation only: the most generous setting for cedar)
Building the cedar slice (reading E from the registry, writing entities and policies) is not
timed. The target (ours p50 <= cedar p50 / 10) is judged twice against cedar_text: for
check_cold and for check_warm; the final line says which pass.

Cedar model: Asset entities with parents = their propagating parents; Action entities with
the taxonomy's parents; `permit(principal, action, resource);` plus, for each asset X in
the slice:
  deny d (own or licence):  forbid(.., resource in Asset::"X") when { action in Action::"d"
                            || action == Action::"<each strict ancestor of d>" }   (overlap both ways)
  allow list, facet f:      forbid(principal, action in Action::"f", resource in Asset::"X")
                            unless { action in Action::"<entry>" || ... }          (allow-only)
                            forbid(.., resource in Asset::"X") unless { context.facets.contains("f") }
                                                                                    (undeclared-facet)
  withdrawn:                forbid(principal, action, resource in Asset::"X");
so every rule is modelled and cross-checked: the request-level allowed/denied and the set of
denied uses must agree for every sampled request.
"""

from __future__ import annotations

import json
import time

import cedarpy
import common

from charter.registry import Registry
from charter.store.sqlite import SQLiteStore

TARGET = 10.0  # ours p50 <= cedar p50 / 10


def cedar_slice(store: SQLiteStore, reg: Registry, wd: dict, asset: str, uses: tuple[str, ...]):
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
        denies = list(dict.fromkeys([*a.deny, *(d for li in lics for d in li.deny)]))
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
    return {r.use for r in d.reasons if r.rule in ("deny", "allow-only")}


def main() -> None:
    a = common.args(__doc__.splitlines()[0], lambda ap: (ap.add_argument("--requests", type=int, default=5000),
                                                         ap.add_argument("--warmup", type=int, default=200),
                                                         ap.add_argument("--block", type=int, default=100)))
    path, meta = common.ensure(a.assets, a.seed, a.rebuild)
    # a throwaway copy of the event log is not needed: `can` only appends decision events
    reg = Registry(SQLiteStore(path, create=False))
    side = SQLiteStore(path, create=False)  # a second connection for building cedar slices
    wd = side.withdrawals()
    ids = common.all_ids(side)
    reqs = common.synth.requests(ids, a.warmup + a.requests, seed=a.seed + 7)
    del ids
    perf = time.perf_counter_ns
    kinds = ("check_cold", "check_warm", "can", "cedar_text", "cedar_parsed")
    t: dict[str, list[int]] = {k: [] for k in kinds}
    e_sizes, p_sizes = [], []
    agree = disagree = allowed_n = 0
    mismatches = []
    # Blocks of requests, each measured by every contender in turn: side by side in one run
    # (machine drift hits all alike) without one contender evicting the other's caches per call.
    for start in range(0, len(reqs), a.block):
        block = reqs[start:start + a.block]
        keep = start >= a.warmup
        lap: dict[str, list[int]] = {k: [] for k in kinds}
        decisions = []
        for asset, uses in block:
            t0 = perf()
            d = reg.check(asset, uses)
            lap["check_cold"].append(perf() - t0)
            decisions.append(d)
        for asset, uses in block:
            t0 = perf()
            reg.check(asset, uses)
            lap["check_warm"].append(perf() - t0)
        for asset, uses in block:
            t0 = perf()
            reg.can(asset, uses)
            lap["can"].append(perf() - t0)
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
        for (asset, uses), d, res, (ents, pol, _) in zip(block, decisions, results, slices):
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
    c50 = stats["cedar_text"]["p50_us"]
    rows = [(k, stats[k]["p50_us"], stats[k]["p99_us"], stats[k]["mean_us"], f"{c50 / stats[k]['p50_us']:.1f}x") for k in t]
    n_timed = len(t["check_cold"])
    print(f"\nDecision latency, {a.assets:,} assets, {n_timed:,} timed requests (+{len(reqs) - n_timed} warm-up) in blocks of {a.block}, "
          f"uses/request avg {sum(len(u) for _, u in reqs) / len(reqs):.2f}, "
          f"cedar slice avg {sum(e_sizes) / len(e_sizes):.1f} entities / {sum(p_sizes) / len(p_sizes):.1f} policies")
    print(common.table(rows, ("what", "p50 µs", "p99 µs", "mean µs", "cedar(text) p50 / this p50")))
    print(f"cross-check: {agree:,} agree, {disagree} disagree (request allowed/denied and denied uses; "
          f"all rules modelled incl. withdrawals); {allowed_n:,} of {len(reqs):,} requests allowed")
    for m in mismatches:
        print("MISMATCH", json.dumps(m, indent=1))
    r_cold = c50 / stats["check_cold"]["p50_us"]
    r_warm = c50 / stats["check_warm"]["p50_us"]
    r_can = c50 / stats["can"]["p50_us"]
    r_parsed = stats["cedar_parsed"]["p50_us"] / stats["check_warm"]["p50_us"]
    ok_cold, ok_warm = r_cold >= TARGET and disagree == 0, r_warm >= TARGET and disagree == 0
    result = {
        "assets": a.assets, "seed": a.seed, "requests": n_timed, "block": a.block, "stats": stats,
        "ratio_cedar_text_over_check_cold": round(r_cold, 2),
        "ratio_cedar_text_over_check_warm": round(r_warm, 2),
        "ratio_cedar_text_over_can": round(r_can, 2),
        "ratio_cedar_parsed_over_check_warm": round(r_parsed, 2),
        "target": TARGET, "pass_cold": ok_cold, "pass_warm": ok_warm, "agree": agree, "disagree": disagree,
        "mismatches": mismatches, **common.memory(), "registry": meta,
    }
    common.write_result("decide", result)
    print(f"ratios (cedar p50 / ours p50): cold check {r_cold:.1f}x, warm check {r_warm:.1f}x, can {r_can:.1f}x; "
          f"pre-parsed cedar / warm check {r_parsed:.1f}x")
    print(common.memory_line())
    verdict = lambda ok: "PASS" if ok else "FAIL"
    print(f"RESULT decide: cedar p50 {c50} µs vs ours check p50 cold {stats['check_cold']['p50_us']} µs ({r_cold:.1f}x, {verdict(ok_cold)}) / "
          f"warm {stats['check_warm']['p50_us']} µs ({r_warm:.1f}x, {verdict(ok_warm)}); target >= {TARGET:.0f}x")


if __name__ == "__main__":
    main()
