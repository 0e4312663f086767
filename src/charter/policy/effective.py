"""Effective terms: an asset's lineage E folded into a few integers, so a decision is a lookup.

Every use of the taxonomy gets a bit. For one lineage (with its current withdrawals and
restrictions) the terms are
  - ``withdrawn``: some member is withdrawn;
  - ``deny``: the uses that overlap some deny entry (own, a single licence's, a restriction):
    a request is denied by rule ``deny`` exactly when it asks one of them;
  - ``allow``: one ``(facet mask, covered mask)`` per allow list and facet (own or a licence's):
    denied when the request asks no use of the facet (``undeclared-facet``) or one that no entry
    covers (``allow-only``);
  - ``cond``: one ``(reach mask, condition id)`` per licence condition: denied when the request
    asks an overlapping use and does not attest it; when it does attest it the permission rests on
    it (``Decision.conditions``), which the reference builds;
  - ``slow``: terms the fold does not model exactly (OR alternatives of a licence expression,
    property requirements): such a lineage is always decided by the reference ``decide()``.

These are exactly the rules of ``charter.policy.decide`` (see there) minus the reasons: a request
is allowed by the fold iff ``decide`` finds no reason. On a denial the reasons come from ``decide``
itself, built lazily (:class:`LazyDecision`) or at once, so they are never re-implemented here.
``tests/policy/test_fast.py`` and ``bench/bench_decide.py --oracle`` hold the two against each
other on random worlds.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

from charter.core.assets import licence_free
from charter.core.lineage import Upstream
from charter.core.uses import Taxonomy
from charter.policy.decide import Decision, Request, decide
from charter.policy.licenses import LicenseTable


class Effective(NamedTuple):
    slow: bool
    req: bool  # some member requires a property (the verdict then depends on the asked asset's evaluations)
    withdrawn: bool
    deny: int
    allow: tuple[tuple[int, int], ...]
    cond: tuple[tuple[int, str], ...]
    cond_any: int  # union of the conditions' reach masks




class Bits:
    """Use <-> bit for one taxonomy, and the masks the fold needs (memoised per entry tuple)."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.bit = {u: 1 << i for i, u in enumerate(taxonomy.uses)}
        bit = self.bit
        self.overlap = {u: _mask(bit, taxonomy.overlapping[u]) for u in taxonomy.uses}
        self.down = {u: _mask(bit, taxonomy.descendants[u]) for u in taxonomy.uses}
        facets: dict[str, int] = {}
        for u, f in taxonomy.facet.items():
            facets[f] = facets.get(f, 0) | bit[u]
        self.facet_mask = facets
        self._reach: dict[tuple[str, ...], int] = {}
        self._allow: dict[tuple[str, ...], tuple[tuple[int, int], ...]] = {}
        self._masks: dict[tuple[str, ...], int] = {}
        self._member: dict[tuple, Effective] = {}

    def mask(self, uses: tuple[str, ...]) -> int:
        m = self._masks.get(uses)
        if m is None:
            m = _mask(self.bit, uses)
            if len(self._masks) >= 65536:
                self._masks.clear()
            self._masks[uses] = m
        return m

    def reach(self, entries: tuple[str, ...]) -> int:
        m = self._reach.get(entries)
        if m is None:
            m = 0
            for e in entries:
                m |= self.overlap[e]
            self._reach[entries] = m
        return m

    def allow(self, entries: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
        got = self._allow.get(entries)
        if got is None:
            by_facet: dict[str, int] = {}
            for x in entries:
                f = self.taxonomy.facet[x]
                by_facet[f] = by_facet.get(f, 0) | self.down[x]
            got = self._allow[entries] = tuple((self.facet_mask[f], ok) for f, ok in by_facet.items())
        return got


def _mask(bit: dict[str, int], uses: Iterable[str]) -> int:
    m = 0
    for u in uses:
        m |= bit[u]
    return m


def _member(bits: Bits, licenses: LicenseTable, up: Upstream) -> Effective:
    """One member's own terms (no withdrawal, no restriction), memoised by what they depend on."""
    a = up.asset
    return _row(bits, licenses, (a.licenses, a.allow, a.deny, bool(a.requires), licence_free(a.id, a.licenses)))


def _row(bits: Bits, licenses: LicenseTable, key: tuple) -> Effective:
    """(licences, allow, deny, has requirements, licence-free kind): a row of core/lineage.terms_key."""
    got = bits._member.get(key)
    if got is not None:
        return got
    lic_names, own_allow, own_deny, req, free = key
    slow = req
    deny = bits.reach(own_deny) if own_deny else 0
    allow = list(bits.allow(own_allow)) if own_allow else []
    cond: list[tuple[int, str]] = []
    for lic in (() if free else licenses.for_asset(lic_names)):
        if lic.alternatives or lic.parts:
            slow = True
            continue
        if lic.deny:
            deny |= bits.reach(lic.deny)
        if lic.allow:
            allow += bits.allow(lic.allow)
        for c in lic.conditions:
            cond.append((bits.overlap[c.use], c.id))
    got = Effective(slow, req, False, deny, tuple(dict.fromkeys(allow)), tuple(dict.fromkeys(cond)), _union(m for m, _ in cond))
    if len(bits._member) < 65536:
        bits._member[key] = got
    return got


def _union(masks: Iterable[int]) -> int:
    m = 0
    for x in masks:
        m |= x
    return m


def terms(lineage: Sequence[Upstream], bits: Bits, licenses: LicenseTable) -> Effective:
    """The effective terms of a lineage (the asked asset first), its withdrawals and restrictions included."""
    return _fold(((_member(bits, licenses, up), up) for up in lineage), bits)


def from_key(key: str, bits: Bits, licenses: LicenseTable) -> tuple[Effective, tuple[str, ...]]:
    """(effective terms, the asked asset's attestations) from a stored terms key (core/lineage.terms_key):
    the same fold as :func:`terms` for a lineage with no withdrawn or restricted member."""
    import json

    doc = json.loads(key)
    rows = [(tuple(lic), tuple(al), tuple(de), req, free) for lic, al, de, req, free in doc["m"]]
    return _fold(((_row(bits, licenses, r), None) for r in rows), bits), tuple(doc["a"])


def _fold(members, bits: Bits) -> Effective:
    slow = req = withdrawn = False
    deny = cond_any = 0
    allow: dict[tuple[int, int], None] = {}
    cond: dict[tuple[int, str], None] = {}
    for t, up in members:
        if t.slow:
            slow = True
            req = req or t.req
        deny |= t.deny
        if t.allow:
            allow.update(dict.fromkeys(t.allow))
        if t.cond:
            cond.update(dict.fromkeys(t.cond))
            cond_any |= t.cond_any
        if up is None:
            continue
        if up.withdrawal is not None:
            withdrawn = True
        for r in up.restrictions:
            deny |= bits.reach(r.deny)
    return Effective(slow, req, withdrawn, deny, tuple(allow), tuple(cond), cond_any)


# verdicts of the fold
ALLOW, DENY, REFERENCE = 1, 0, -1


def verdict(e: Effective, mask: int, attested: frozenset | tuple = ()) -> int:
    """ALLOW or DENY exactly as ``decide`` would, or REFERENCE where only ``decide`` can say (OR
    alternatives, requirements, an attested condition the permission then rests on)."""
    if e.slow:
        return REFERENCE
    if e.withdrawn or e.deny & mask:
        return DENY
    for fm, ok in e.allow:
        m = mask & fm
        if not m or m & ~ok:
            return DENY
    if e.cond_any & mask:
        for m, cid in e.cond:
            if m & mask and cid not in attested:
                return DENY
        return REFERENCE  # allowed, resting on attested conditions: decide() lists them
    return ALLOW


class LazyDecision(Decision):
    """A denial whose reasons (and conditions) the reference ``decide()`` builds on first access.
    Equal to, and serialised like, the reference decision."""

    def __init__(self, asset: str, uses: tuple[str, ...], attest: tuple[str, ...], lineage, taxonomy, licenses, properties=None) -> None:
        d = self.__dict__
        d["asset"], d["uses"], d["allowed"] = asset, uses, False
        d["_args"] = (attest, lineage, taxonomy, licenses, properties)

    def _full(self) -> Decision:
        full = self.__dict__.get("_decision")
        if full is None:
            attest, lineage, *rest = self.__dict__["_args"]
            if callable(lineage):  # the compiled lineage, read when the reasons are
                lineage = lineage()
            full = self.__dict__["_decision"] = decide(Request(self.asset, self.uses, attest), lineage, *rest)
        return full

    @property
    def reasons(self):  # type: ignore[override]
        return self._full().reasons

    @property
    def conditions(self):  # type: ignore[override]
        return self._full().conditions

    def __eq__(self, other):
        if isinstance(other, Decision):
            return (self.asset, self.uses, self.allowed, self.reasons, self.conditions) == \
                   (other.asset, other.uses, other.allowed, other.reasons, other.conditions)
        return NotImplemented

    def __hash__(self):
        return hash((self.asset, self.uses, self.allowed, self.reasons, self.conditions))

    def __repr__(self) -> str:
        return repr(self._full())

    def __reduce__(self):
        return (Decision, (self.asset, self.uses, self.allowed, self.reasons, self.conditions))


def allowed_decision(asset: str, uses: tuple[str, ...], _new=object.__new__, _cls=Decision) -> Decision:
    """``Decision(asset, uses, True)`` without the frozen dataclass's per-field setattr (about half the cost)."""
    d = _new(_cls)
    d.__dict__.update(asset=asset, uses=uses, allowed=True, reasons=(), conditions=())
    return d
