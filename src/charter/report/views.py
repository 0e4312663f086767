"""The JSON objects of the read commands (docs/cli-json.md), built in one place: `charter show|ls|can|trace --json`
print them, and the web view's `/api/` returns them."""

from __future__ import annotations

from charter.registry import Registry


def hops(rows) -> list[dict]:
    return [{"id": h.asset, "depth": h.depth} for h in rows]


def show(reg: Registry, ref: str, limit: int | None = None) -> dict:
    """`charter show REF --json`; with ``limit``, the nearest ``limit`` assets of ``upstream`` and ``downstream``
    and their counts in ``upstream_total`` and ``downstream_total`` (the web view's card needs no list of
    100,000 descendants)."""
    from charter.data.owners import withdrawn_records

    a = reg.get(ref)
    w = reg.withdrawals().get(a.id)
    up, down = reg.trace(a.id, down=False), reg.trace(a.id, down=True)
    totals = {} if limit is None else {"upstream_total": len(up), "downstream_total": len(down)}
    return {**totals,
        "asset": a.to_json(),
        "hash": a.content_hash,
        "withdrawn": {"reason": w.reason, "time": w.time} if w else None,
        "withdrawn_records": withdrawn_records(reg, a.id),
        "effective": reg.effective(a.id),
        "upstream": hops(up[:limit]),
        "downstream": hops(down[:limit]),
        "events": [e.to_json() for e in reg.store.events(asset=a.id) if e.type != "decision"],
        "properties": [p.to_json() for p in reg.store.properties(a.id)],
        "contributors": reg.contributors(a.id),
    }


def ls_rows(reg: Registry, rows) -> list[dict]:
    """`charter ls --json`: rows from ``Registry.summaries``."""
    withdrawn = reg.withdrawals()
    return [{"id": i, "kind": k, "name": n, "version": v, "licenses": list(lic), "withdrawn": i in withdrawn} for i, k, n, v, lic in rows]


def can(reg: Registry, d) -> dict:
    """`charter can --json`: the decision and the records of withdrawn owners in its lineage."""
    from charter.data.owners import withdrawn_records

    return {**d.to_json(), "withdrawn_records": withdrawn_records(reg, d.asset)}


def trace(root: str, down: bool, depth: int | None, rows) -> dict:
    """`charter trace --json`."""
    return {"asset": root, "direction": "down" if down else "up", "depth": depth, "assets": hops(rows)}
