"""Compiled lineage: E (an asset and everything upstream of it) with the shortest path to each
member, computed once when the asset is registered.

Registered versions are immutable and may only derive from registered assets, so an asset's
E never changes: it is composed from its parents' compiled lineages at registration, and a
decision reads it back in one lookup. Withdrawals, the only thing that changes, are applied
at decision time.
"""

from __future__ import annotations

import json
from typing import Mapping, NamedTuple, Sequence

from charter.core.assets import Asset, Requirement, Restriction, Withdrawal


class Terms(NamedTuple):
    """The part of a charter the decision reads.

    Terms and Upstream are named tuples rather than frozen dataclasses: a decision builds
    one of each per member of E, and tuples are built in C (measured ~9 -> ~4 us per decode
    of a typical lineage).
    """

    id: str
    licenses: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    duties: tuple[str, ...] = ()
    requires: tuple[Requirement, ...] = ()
    attest: tuple[str, ...] = ()  # licence conditions its charter attests (read when it is the asked asset)

    @classmethod
    def of(cls, a: Asset) -> "Terms":
        return cls(a.id, a.licenses, a.allow, a.deny, a.duties, a.requires, a.attest)


class Upstream(NamedTuple):
    """One member of E: its terms, the path from the asked asset to it, its withdrawal and the
    restrictions added since its registration (both applied at decision time)."""

    asset: Terms | Asset
    path: tuple[str, ...]
    withdrawal: Withdrawal | None = None
    restrictions: tuple[Restriction, ...] = ()


Lineage = tuple[Upstream, ...]


def compile_lineage(a: Asset, parents: Mapping[str, Lineage]) -> Lineage:
    """E for a new asset from its propagating parents' compiled lineages.

    Each member gets its shortest path; ties go to the earliest parent in ``derived_from``
    order, recursively — the path a breadth-first search over ordered parents finds.
    Members are ordered by path length, then id.
    """
    best: dict[str, Upstream] = {}
    for p in dict.fromkeys(a.parents):
        for up in parents[p]:
            cur = best.get(up.asset.id)
            if cur is None or len(up.path) + 1 < len(cur.path):
                best[up.asset.id] = Upstream(up.asset, (a.id, *up.path))
    members = sorted(best.values(), key=lambda u: (len(u.path), u.asset.id))
    return (Upstream(Terms.of(a), (a.id,)), *members)


def closure(lineage: Lineage) -> dict[str, int]:
    """{ancestor: shortest distance}, excluding the asset itself."""
    return {u.asset.id: len(u.path) - 1 for u in lineage[1:]}


def dumps(lineage: Lineage) -> str:
    """Compact JSON: one row per member, its path as the index of its predecessor."""
    index = {u.asset.id: i for i, u in enumerate(lineage)}
    rows = []
    for u in lineage:
        t = u.asset
        prev = index[u.path[-2]] if len(u.path) > 1 else -1
        row = [t.id, prev, list(t.licenses), list(t.allow), list(t.deny), list(t.duties)]
        if t.requires or t.attest:  # a seventh (eighth) column only when present, so older registries load unchanged
            row.append([r.to_json() for r in t.requires])
        if t.attest:
            row.append(list(t.attest))
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Lineage:
    out: list[Upstream] = []
    paths: list[tuple[str, ...]] = []
    for aid, prev, lic, allow, deny, duties, *rest in json.loads(text):
        path = (*paths[prev], aid) if prev >= 0 else (aid,)
        paths.append(path)
        requires = tuple(Requirement.from_json(r) for r in rest[0]) if rest else ()
        attest = tuple(rest[1]) if len(rest) > 1 else ()
        out.append(Upstream(Terms(aid, tuple(lic), tuple(allow), tuple(deny), tuple(duties), requires, attest), path, None))
    return tuple(out)


def terms_key(lineage: Lineage) -> str:
    """What a decision over E reads, without ids and paths: the distinct (licences, allow, deny, has
    requirements, licence-free kind) of its members and the asked asset's attestations, as canonical
    JSON. Assets whose keys are equal are decided alike by the fold (policy/effective.py) while no
    member is withdrawn or restricted; registries store it at registration, interned."""
    from charter.core.assets import licence_free

    rows = sorted({(t.licenses, t.allow, t.deny, bool(t.requires), licence_free(t.id, t.licenses))
                   for t in (u.asset for u in lineage)})
    return json.dumps({"m": rows, "a": list(lineage[0].asset.attest) if lineage else []}, separators=(",", ":"), ensure_ascii=False)


def members(lineage: Sequence[Upstream]) -> list[str]:
    return [u.asset.id for u in lineage]
