"""Consent withdrawal at record level: which sources, curated datasets and downstream assets
hold records of owners who withdrew."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from charter.data.source import Shard, fields_of, files_of, open_shard, FORMATS
from charter.errors import CharterError
from charter.registry import Hop, Registry
from charter.store.base import withdraw_owners


@dataclass(frozen=True)
class Holding:
    asset: str
    records: int
    curated: bool  # made by `charter curate`


def holdings(reg: Registry, owners: list[str]) -> list[Holding]:
    """Every registered dataset with data files that holds records of these owners."""
    con = duckdb.connect()
    out = []
    wanted = sorted(set(owners))
    for a in reg.store.find(kind="dataset"):
        if not a.data:
            continue
        n = 0
        try:
            files = files_of(a)
        except CharterError:
            continue  # files gone: nothing to count (`charter curate` would report it)
        for path in files:
            shard = open_shard(con, Shard(a.id, Path(path), FORMATS[Path(path).suffix]), fields_of(a), on_error="skip")
            n += con.execute(f"SELECT count(*) FROM {shard.view} WHERE charter_owner IN (SELECT unnest(?))", [wanted]).fetchall()[0][0]
        if n:
            out.append(Holding(a.id, n, "curation" in a.notes))
    return out


def withdraw_records(reg: Registry, owners: list[str], reason: str) -> dict:
    """Record the owners' withdrawal; list where their records are and what is affected downstream."""
    new, already = withdraw_owners(reg.store, owners, reason)
    held = holdings(reg, [w.asset for w in new] + already)
    affected: dict[str, int] = {}
    for h in held:
        if h.curated:
            for hop in reg.trace(h.asset, down=True):
                affected[hop.asset] = min(affected.get(hop.asset, hop.depth), hop.depth)
    return {
        "owners": [w.asset for w in new],
        "already_withdrawn": already,
        "reason": reason.strip(),
        "sources": [{"asset": h.asset, "records": h.records} for h in held if not h.curated],
        "curated": [{"asset": h.asset, "records": h.records} for h in held if h.curated],
        "affected": [{"id": a, "depth": d} for a, d in sorted(affected.items(), key=lambda x: (x[1], x[0]))],
    }


__all__ = ["Hop", "Holding", "holdings", "withdraw_records"]
