"""Consent withdrawal at record level: which sources, curated datasets and downstream assets
hold records of owners who withdrew.

Counting reads each dataset's owner column with DuckDB when asked (``charter can``, ``show``,
``card``, ``withdraw-records``), and only when some owner has withdrawn: nothing is stored at
registration, so a count is always against the current withdrawals and the files as they are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from charter.core.assets import Asset
from charter.errors import CharterError, InvalidInput
from charter.registry import Hop, Registry
from charter.store.base import check_owner_withdrawal, withdraw_owners

if TYPE_CHECKING:
    import duckdb

# Every stage that reads records drops those of withdrawn owners (data/curate.py, training/data.py).
EXCLUDED_BY = ("curate", "adapt", "train")


@dataclass(frozen=True)
class Holding:
    asset: str
    records: int
    curated: bool  # made by `charter curate`
    owners: int = 0  # how many of the asked owners hold them


def _count(con: duckdb.DuckDBPyConnection, a: Asset, wanted: list[str]) -> tuple[int, set[str]]:
    """Records of ``a`` whose owner is one of ``wanted``, and which of them hold records."""
    from charter.data.source import FORMATS, Shard, fields_of, files_of, open_shard

    n, found = 0, set()
    for path in map(Path, files_of(a)):
        if path.suffix not in FORMATS:  # charter files refuse these; an asset built in code may not
            raise InvalidInput(f"unsupported file type {path.suffix!r}", hint=f"use {', '.join(FORMATS)}", where=str(path))
        shard = open_shard(con, Shard(a.id, path, FORMATS[path.suffix]), fields_of(a), on_error="skip")
        q = f"SELECT charter_owner, count(*) FROM {shard.view} WHERE charter_owner IN (SELECT unnest(?)) GROUP BY 1"
        for owner, k in con.execute(q, [wanted]).fetchall():
            n += k
            found.add(owner)
    return n, found


def _scan(assets: Iterable[Asset], owners: Iterable[str]) -> tuple[list[tuple[Asset, int, set[str]]], list[dict]]:
    """Count the owners' records in each dataset with data files: (found, unreadable). A dataset
    whose files cannot be read is reported, never fatal: the count is then a lower bound."""
    import duckdb  # here, not at import: `charter can` and `show` load this module on every call

    con = duckdb.connect()
    wanted = sorted(set(owners))
    found, unreadable = [], []
    for a in assets:
        if a.kind != "dataset" or not a.data:
            continue
        try:
            n, who = _count(con, a, wanted)
        except (CharterError, duckdb.Error, OSError) as e:
            unreadable.append({"asset": a.id, "error": getattr(e, "message", None) or str(e).splitlines()[0]})
            continue
        if n:
            found.append((a, n, who))
    return found, unreadable


def holdings(reg: Registry, owners: list[str], unreadable: list[dict] | None = None) -> list[Holding]:
    """Every registered dataset with data files that holds records of these owners (datasets that
    cannot be read are appended to ``unreadable`` when given)."""
    found, bad = _scan(reg.store.find(kind="dataset"), owners)
    if unreadable is not None:
        unreadable += bad
    return [Holding(a.id, n, "curation" in a.notes, len(who)) for a, n, who in found]


def withdrawn_records(reg: Registry, asset_id: str) -> dict:
    """Records whose owners have withdrawn consent in the asset's datasets: the asset itself when
    it is a dataset, and every dataset in its lineage (what a model was trained on). ``records``
    sums the datasets' counts (a record in a source and in a dataset curated from it counts in
    both); ``owners`` counts distinct owners. Cost: one DuckDB scan of each dataset's owner column,
    and nothing at all while no owner has withdrawn or the lineage holds no data files."""
    out = {"records": 0, "owners": 0, "datasets": [], "unreadable": [], "excluded_by": list(EXCLUDED_BY)}
    ids = [u.asset.id for u in reg.lineage(asset_id) if u.asset.id.startswith("dataset/")]
    withdrawn = reg.store.owner_withdrawals() if ids else None
    if not withdrawn:
        return out
    found_assets = reg.store.get_many(ids)
    data = [found_assets[i] for i in ids if i in found_assets and found_assets[i].data]
    found, out["unreadable"] = _scan(data, withdrawn)
    everyone: set[str] = set()
    for a, n, who in found:
        out["datasets"].append({"asset": a.id, "records": n, "owners": len(who), "curated": "curation" in a.notes})
        everyone |= who
    out["records"] = sum(d["records"] for d in out["datasets"])
    out["owners"] = len(everyone)
    return out


def withdrawn_note(held: dict) -> str | None:
    """One plain-text line for `can` and `show` (None when there is nothing to say)."""
    parts = []
    if held["datasets"]:
        where = ", ".join(f"{d['records']:,} in {d['asset']}" for d in held["datasets"])
        owners = f"{held['owners']:,} owner{'s' * (held['owners'] != 1)}"
        parts.append(f"records of {owners} who withdrew consent: {where}; {', '.join(EXCLUDED_BY[:-1])} and {EXCLUDED_BY[-1]} exclude them from now on")
    if held["unreadable"]:
        parts.append("not counted (unreadable): " + ", ".join(d["asset"] for d in held["unreadable"]))
    return "; ".join(parts) or None


def withdraw_records(reg: Registry, owners: Sequence[str], reason: str, token: str | None = None) -> dict:
    """Record the owners' withdrawal; list where their records are and what is affected downstream.
    ``token``: a consent token (``Registry.consent_token``) for the one owner, in place of the actor's rights.

    Everything is checked first (ids, reason), then every dataset is scanned, and only then is the
    withdrawal written, in one short transaction: a failure before the write leaves nothing recorded,
    and no scan holds the registry's write lock."""
    owners, reason = check_owner_withdrawal(owners, reason)
    unreadable: list[dict] = []
    # who may: a curator or an admin, or the owner itself with its consent token (checked before any scan;
    # recorded either way, the allowed write in its own transaction)
    allowed = (reg.consent_guarded(owners, token, {"reason": reason}) if token is not None
               else reg.guarded("withdraw-records", [], {"owners": list(owners), "reason": reason}))
    with allowed:
        held = holdings(reg, owners, unreadable)
        new, already = withdraw_owners(reg.store, owners, reason)
    affected: dict[str, int] = {}
    for h in held:
        if h.curated:
            for hop in reg.trace(h.asset, down=True):
                affected[hop.asset] = min(affected.get(hop.asset, hop.depth), hop.depth)
    return {
        "owners": [w.asset for w in new],
        "already_withdrawn": already,
        "reason": reason,
        "sources": [{"asset": h.asset, "records": h.records} for h in held if not h.curated],
        "curated": [{"asset": h.asset, "records": h.records} for h in held if h.curated],
        "affected": [{"id": a, "depth": d} for a, d in sorted(affected.items(), key=lambda x: (x[1], x[0]))],
        "unreadable": unreadable,
    }


__all__ = ["EXCLUDED_BY", "Hop", "Holding", "holdings", "withdraw_records", "withdrawn_note", "withdrawn_records"]
