"""What the web view's pages read, beyond the CLI's objects (charter.report.views): a bounded neighbourhood of
the lineage graph, the reach of a withdrawal or restriction, each use's verdict and the search. Read-only:
decisions are made with ``Registry.check`` (decided, not recorded)."""

from __future__ import annotations

from charter.policy.explain import conditions_text, reason_head, reason_path, verdict_line
from charter.registry import Registry
from charter.report import views
from charter.report.views import can as can_json, hops, ls_rows

GRAPH_LIMIT = 150  # nodes one graph response carries at most (plus the paths of the asked decision's reasons)
MAX_LIMIT = 2000
SEARCH_LIMIT = 50


FACET_LICENCES = 12  # licences shown as facets (the most frequent among the matches)


def search(reg: Registry, q: str = "", kind: str | None = None, license: str = "", allowed: list[str] | None = None,
           state: str = "", limit: int = SEARCH_LIMIT, denied: list[str] | None = None) -> dict:
    """Assets whose id contains every word of ``q`` (case-insensitive), of ``kind``, with a licence containing
    ``license``, allowed for ``allowed`` (the rule of `charter ls --allowed`), not allowed for ``denied`` (its
    complement), ``state`` withdrawn or restricted. ``{"total": N, "limit": L, "assets": [LS_ROW], "facets":
    {"kind": {KIND: N}, "license": {LICENCE: N}}}``: the first ``limit`` in registration order, and how many of
    the matches have each kind and each of the most frequent licences (none while nothing is asked: a search of
    the whole registry is not counted)."""
    words = q.lower().split()
    lic = license.lower().strip()
    if not (words or kind or lic or allowed or state or denied):  # nothing asked yet: the first assets and the count, read alone
        return {"total": reg.store.count(), "limit": limit, "assets": ls_rows(reg, reg.store.listing(None, (), limit)), "facets": None}
    wd = reg.withdrawals() if state == "withdrawn" else None
    rs = reg.restrictions() if state == "restricted" else None
    permitted = set(reg.allowed_ids(denied, kind or None)) if denied else None
    rows = []
    total = 0
    kinds: dict[str, int] = {}
    licences: dict[str, int] = {}
    if allowed:
        rows_in = [r for r in reg.summaries(kind=kind or None, allowed=allowed) if all(w in r[0].lower() for w in words)]
    else:
        rows_in = reg.store.listing(kind or None, words)
    for row in rows_in:
        if lic and not any(lic in x.lower() for x in row[4]):
            continue
        if (wd is not None and row[0] not in wd) or (rs is not None and row[0] not in rs):
            continue
        if permitted is not None and row[0] in permitted:
            continue
        total += 1
        kinds[row[1]] = kinds.get(row[1], 0) + 1
        for x in row[4] or ("(none)",):
            licences[x] = licences.get(x, 0) + 1
        if len(rows) < limit:
            rows.append(row)
    top = sorted(licences.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_LICENCES]
    return {"total": total, "limit": limit, "assets": ls_rows(reg, rows),
            "facets": {"kind": dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))), "license": dict(top)}}


def explain(d) -> dict:
    """The decision as the CLI prints it (charter.policy.explain): the verdict line, each reason's line and path."""
    return {"verdict": verdict_line(d), "reasons": [{"text": reason_head(r), "path": reason_path(r)} for r in d.reasons],
            "conditions": [{"text": t, "by": b} for t, b in conditions_text(d)]}


def can(reg: Registry, ref: str, uses: list[str], attest: list[str] | None = None) -> dict:
    """`charter can --json`, decided without recording, with ``explain``: the text the CLI prints."""
    d = reg.check(ref, _split(uses), tuple(_split(attest or [])))
    return {**can_json(reg, d), "explain": explain(d)}


def _split(xs: list[str]) -> list[str]:
    return [u.strip() for x in xs for u in x.split(",") if u.strip()]


def verdicts(reg: Registry, ref: str) -> dict:
    """Each use of the taxonomy judged alone (the card's Uses section): permitted or not, and every rule that
    blocks it with the asset imposing it, its source and the lineage path."""
    from charter.report.card import verdicts as judge

    asset_id = reg.resolve(ref)
    return {"asset": asset_id, "uses": [
        {"use": v.use, "facet": v.facet, "permitted": v.permitted, "conditional": v.conditional,
         "why": [{"asset": a, "source": s, "path": list(p), "rule": r, "entries": list(e), "text": reason_head(x)}
                 for (a, s, p, r, e), x in zip(v.why, v.reasons)]}
        for v in judge(reg, asset_id)]}


def impact(reg: Registry, ref: str, limit: int | None = None) -> dict:
    """What a withdrawal or restriction of REF reaches: everything downstream (the `withdraw --json` ``affected``;
    with ``limit``, the nearest ``limit`` of them), how many (``total``), and the applications among them with their
    API keys not revoked (those the gateway serves)."""
    root = reg.resolve(ref)
    w = reg.withdrawals().get(root)
    rs = reg.restrictions().get(root, ())
    down = reg.trace(root, down=True)
    apps = []
    for h in down:
        if h.asset.startswith("application/"):
            keys = [k for k in reg.store.api_keys(h.asset) if not k.revoked]
            apps.append({"id": h.asset, "depth": h.depth, "keys": len(keys)})
    return {"asset": root,
            "withdrawn": {"reason": w.reason, "time": w.time} if w else None,
            "restrictions": [{"deny": list(r.deny), "reason": r.reason, "time": r.time} for r in rs],
            "affected": hops(down[:limit] if limit is not None else down), "total": len(down), "applications": apps}


def show(reg: Registry, ref: str, limit: int | None = None) -> dict:
    """`charter show --json` (``views.show``, with ``limit``: the nearest ``limit`` assets each way and their
    counts)."""
    return views.show(reg, ref, limit)


def held(reg: Registry) -> list[dict]:
    """Every withdrawn or restricted asset (not lifted), with the reason and time: the impact page's index."""
    out = [{"id": a, "state": "withdrawn", "reason": w.reason, "time": w.time, "deny": []} for a, w in reg.withdrawals().items()]
    for a, rs in reg.restrictions().items():
        out += [{"id": a, "state": "restricted", "reason": r.reason, "time": r.time, "deny": list(r.deny)} for r in rs]
    return sorted(out, key=lambda x: x["time"], reverse=True)


def graph(reg: Registry, ref: str, up: int = 2, down: int = 2, limit: int = GRAPH_LIMIT, uses: list[str] | None = None) -> dict:
    """The lineage around REF: ``up`` hops upstream and ``down`` downstream (propagating relations; 0 = none), the
    nearest ``limit`` assets, every edge between them labelled by its relation, and for each asset shown how many
    of its neighbours in that direction are left out (``hidden_up``, ``hidden_down``: a collapsed family the page
    expands by asking for the graph around it). With ``uses``, REF's decision for them (as ``can``) and each node's
    own verdict (``denied``); the assets on the decision's reason paths are always included."""
    root = reg.resolve(ref)
    limit = max(1, min(limit, MAX_LIMIT))
    ups = reg.trace(root, down=False, depth=up) if up > 0 else []
    downs = reg.trace(root, down=True, depth=down) if down > 0 else []
    ranked = sorted([(h.depth, 0, h.asset) for h in ups] + [(h.depth, 1, h.asset) for h in downs])
    side: dict[str, str] = {root: "root"}
    layer: dict[str, int] = {root: 0}  # hops from REF, upstream negative: the page lays the graph out in these layers
    for d, s, a in ranked:
        if a not in side and len(side) < limit:
            side[a], layer[a] = ("up", -d) if s == 0 else ("down", d)
    decision = None
    if uses:
        decision = can(reg, root, uses)
        for r in decision["reasons"]:
            for i, a in enumerate(r["path"]):
                side.setdefault(a, "up")
                layer.setdefault(a, -i)
    assets = reg.store.get_many(list(side))
    wd = reg.withdrawals()
    rs = reg.restrictions()
    edges, seen = [], set()
    shown_down: dict[str, int] = {}  # asset -> its propagating edges to children on the page
    for a in assets.values():
        for e in a.derived_from:
            if e.parent in side and (e.parent, a.id, e.relation) not in seen:
                seen.add((e.parent, a.id, e.relation))
                edges.append({"source": e.parent, "target": a.id, "relation": e.relation, "propagates": e.propagates})
                shown_down[e.parent] = shown_down.get(e.parent, 0) + e.propagates
    # one grouped count for every node that may hide children (not a read of each one's children: the base of a
    # large family has tens of thousands)
    below = reg.store.child_counts([i for i, where in side.items() if where in ("root", "down")])
    asked = tuple(_split(uses)) if uses else None
    nodes = []
    for i, where in side.items():
        a = assets.get(i)
        node = {"id": i, "kind": i.split("/", 1)[0], "side": where, "layer": layer[i], "registered": a is not None,
                "licenses": list(a.licenses) if a else [], "withdrawn": i in wd, "restricted": i in rs,
                "hidden_up": 0, "hidden_down": 0}
        if a is not None and where in ("root", "up"):
            node["hidden_up"] = sum(1 for e in a.derived_from if e.propagates and e.parent not in side)
        if where in ("root", "down"):
            node["hidden_down"] = below[i] - shown_down.get(i, 0)
        if asked is not None and a is not None:
            node["denied"] = not reg.check(i, asked).allowed
        nodes.append(node)
    return {"asset": root, "up": up, "down": down, "limit": limit,
            "total": {"up": len(ups), "down": len(downs)}, "nodes": nodes, "edges": edges, "decision": decision}
