"""The decision rule. Pure: no I/O, no clock; the registry gathers the lineage and calls it.

E = the asked asset and every asset upstream of it along propagating relations.
Denied if some e in E
  - is withdrawn                                                     (rule ``withdrawn``)
  - denies d (its own deny or its licence's) overlapping a requested use   (``deny``)
  - allows only some uses of facet f (own allow list, or a licence's) and the
    request declares no use in f                                     (``undeclared-facet``)
    or declares a use in f that none of those allow entries covers   (``allow-only``)
  - has a licence that permits a use overlapping a requested one only under a condition
    (Llama's monthly-active-user threshold) that the request does not attest (``condition``)
  - requires a property for a use overlapping a requested one, and the asked asset
    has no evaluation of it                                          (``property-missing``)
    or its latest evaluation lies outside the bounds                 (``property-unmet``)
Restrictions added after registration count as deny lists (source ``restriction``).
Otherwise allowed. Every reason is listed, each with the path from the asked asset; a reason
from a licence clause carries its citation (``cite``). Attested conditions that applied are
listed on the decision, so what the permission rests on is recorded with it. The request's
attestations are its own and the asked asset's (an application's charter may ``attest:``).
An asset's own allow list and each of its licences constrain separately, so the most
restrictive wins. A kind that carries no licence (compute) has no licence terms when it names
none; its own allow and deny lists still count, and reach a model along ``trained-with``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from charter.core.assets import Property, licence_free
from charter.core.lineage import Upstream
from charter.core.uses import Taxonomy
from charter.policy.licenses import LicenseTable

RULES = ("withdrawn", "deny", "undeclared-facet", "allow-only", "condition", "property-missing", "property-unmet")


@dataclass(frozen=True)
class Request:
    asset: str
    uses: tuple[str, ...]
    attest: tuple[str, ...] = ()  # condition ids the requester attests (licences' conditions)


@dataclass(frozen=True)
class Reason:
    asset: str  # the asset that imposes the rule
    rule: str  # one of RULES
    use: str | None  # the requested use it blocks (a facet id for undeclared-facet; None for withdrawn)
    source: str  # "uses.deny", "uses.allow", "license:<id>", "withdrawal", "restriction" or "requires"
    path: tuple[str, ...]  # asked asset ... imposing asset
    entries: tuple[str, ...] = ()  # the deny entry, or the allow entries of the facet
    detail: str = ""  # human sentence
    cite: str = ""  # the licence clause the rule comes from, when the table cites one

    def to_json(self) -> dict:
        return {
            "asset": self.asset,
            "rule": self.rule,
            "use": self.use,
            "source": self.source,
            "path": list(self.path),
            "entries": list(self.entries),
            "detail": self.detail,
        } | ({"cite": self.cite} if self.cite else {})  # absent when empty: stored decisions keep their shape

    @classmethod
    def from_json(cls, d) -> "Reason":
        """A reason as ``to_json`` wrote it (a stored decision, an audit record)."""
        return cls(d["asset"], d["rule"], d.get("use"), d.get("source") or "", tuple(d.get("path") or ()),
                   tuple(d.get("entries") or ()), d.get("detail") or "", d.get("cite") or "")

    def _replace_detail(self, detail: str) -> "Reason":
        from dataclasses import replace

        return replace(self, detail=detail)


@dataclass(frozen=True)
class Met:
    """A licence condition that a permission rests on, attested by the requester."""

    asset: str  # the asset whose licence sets it
    license: str
    condition: str  # its id
    use: str  # the requested use it applied to
    text: str
    cite: str
    path: tuple[str, ...]

    def to_json(self) -> dict:
        return {"asset": self.asset, "license": self.license, "condition": self.condition, "use": self.use,
                "text": self.text, "cite": self.cite, "path": list(self.path)}


@dataclass(frozen=True)
class Decision:
    asset: str
    uses: tuple[str, ...]
    allowed: bool
    reasons: tuple[Reason, ...] = field(default=())
    conditions: tuple[Met, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "asset": self.asset,
            "uses": list(self.uses),
            "allowed": self.allowed,
            "reasons": [r.to_json() for r in self.reasons],
        } | ({"conditions": [c.to_json() for c in self.conditions]} if self.conditions else {})


def decide(request: Request, lineage: Sequence[Upstream], taxonomy: Taxonomy, licenses: LicenseTable,
           properties: Mapping[tuple[str, str], Property] | None = None) -> Decision:
    """Decide ``request`` given E (``lineage``, the asked asset first) and the asked asset's latest
    evaluated properties by (benchmark, metric). Pure."""
    uses = tuple(dict.fromkeys(request.uses))
    reasons: list[Reason] = []
    met: list[Met] = []
    attested = frozenset(request.attest) | (frozenset(lineage[0].asset.attest) if lineage else frozenset())
    for up in lineage:
        a = up.asset
        if up.withdrawal is not None:
            reasons.append(Reason(a.id, "withdrawn", None, "withdrawal", up.path, (), f"withdrawn: {up.withdrawal.reason}"))
        lics = licenses.for_asset(a.licenses) if a.licenses or not licence_free(a.id) else ()  # compute: no licence, no terms
        # reach() is every use some entry overlaps: one set test clears most members
        if a.deny and not taxonomy.reach(a.deny).isdisjoint(uses):
            _deny(reasons, up, "uses.deny", a.deny, uses, taxonomy)
        for lic in lics:
            if lic.alternatives:
                _choice(reasons, met, up, lic, uses, taxonomy, attested)
            else:
                _licence_denials(reasons, met, up, lic, uses, taxonomy, attested)
        if a.allow:
            _allow_only(reasons, up, "uses.allow", a.allow, uses, taxonomy)
        for lic in lics:
            if lic.allow and not lic.alternatives:
                _allow_only(reasons, up, lic.source, lic.allow, uses, taxonomy, lic.cites)
        for r in up.restrictions:
            if not taxonomy.reach(r.deny).isdisjoint(uses):
                _deny(reasons, up, "restriction", r.deny, uses, taxonomy, f": {r.reason}")
        if a.requires:
            _requires(reasons, up, uses, taxonomy, properties or {})
    return Decision(request.asset, uses, not reasons, tuple(reasons), tuple(met))


def _deny(out: list[Reason], up: Upstream, source: str, denies: tuple[str, ...], uses: tuple[str, ...], tax: Taxonomy, why: str = "",
          unknown: str | None = None, lic=None) -> None:
    aid = up.asset.id
    # A use that an entry denies whole (military denies a military request) is reported by the closest such
    # entry alone: narrower entries under it (weapons-development) and broader ones above would only repeat it.
    whole = {}
    for u in uses:
        cover = [d for d in denies if d in tax.ancestors[u]]
        whole[u] = [d for d in cover if not any(d != e and d in tax.ancestors[e] for e in cover)]
    for d in denies:
        hits = tax.overlapping[d]
        cite = lic.cite(d) if lic is not None else ""
        for u in uses:
            if u in hits and (not whole[u] or d in whole[u]):
                # a licence charter does not know is not a licence that forbids: say which it is
                if unknown is not None:
                    detail = (f"{aid}'s licence {unknown!r} is not in the licence table: {d} use is not permitted until it is mapped"
                              " (fix: add it with --licenses FILE)")
                else:
                    detail = f"{aid} denies {d} ({source}{why}{'; ' + cite if cite else ''})"
                out.append(Reason(aid, "deny", u, source, up.path, (d,), detail, cite))


def _one_licence(out: list[Reason], met: list, up: Upstream, lic, uses: tuple[str, ...], tax: Taxonomy, attested: frozenset) -> None:
    """Every rule of one licence (an AND's parts each; an OR's chosen alternative)."""
    if lic.alternatives:
        _choice(out, met, up, lic, uses, tax, attested)
        return
    if lic.parts:
        for p in lic.parts:
            _one_licence(out, met, up, p, uses, tax, attested)
        return
    _licence_denials(out, met, up, lic, uses, tax, attested)
    if lic.allow:
        _allow_only(out, up, lic.source, lic.allow, uses, tax, lic.cites)


def _licence_denials(out: list[Reason], met: list, up: Upstream, lic, uses: tuple[str, ...], tax: Taxonomy, attested: frozenset) -> None:
    """A single licence's deny entries and conditions (its allow-only entries are judged after the asset's own)."""
    if lic.deny and not tax.reach(lic.deny).isdisjoint(uses):
        _deny(out, up, lic.source, lic.deny, uses, tax, unknown=None if lic.known else lic.id, lic=lic)
    if lic.conditions:
        _conditions(out, met, up, lic, uses, tax, attested)


def _choice(out: list[Reason], met: list, up: Upstream, lic, uses: tuple[str, ...], tax: Taxonomy, attested: frozenset) -> None:
    """``A OR B``: the chooser may take whichever alternative permits the request; denied only when
    none does, with every alternative's reasons."""
    tried = []
    for alt in lic.alternatives:
        r: list[Reason] = []
        m: list = []
        _one_licence(r, m, up, alt, uses, tax, attested)
        if not r:
            met.extend(m)
            return
        tried.append(r)
    pre = f"no alternative of {lic.id!r} permits it: "
    out.extend(x._replace_detail(pre + x.detail) for r in tried for x in r)


def _conditions(out: list[Reason], met: list[Met], up: Upstream, lic, uses: tuple[str, ...], tax: Taxonomy, attested: frozenset) -> None:
    aid = up.asset.id
    for c in lic.conditions:
        hits = tax.overlapping[c.use]
        for u in uses:
            if u not in hits:
                continue
            if c.id in attested:
                met.append(Met(aid, lic.id, c.id, u, c.text, c.cite, up.path))
            else:
                out.append(Reason(aid, "condition", u, lic.source, up.path, (c.id,),
                                  f"{aid}'s licence {lic.id} permits {c.use} only if {c.text}"
                                  f"{' (' + c.cite + ')' if c.cite else ''}; attest it with --attest {c.id}", c.cite))


def _requires(out: list[Reason], up: Upstream, uses: tuple[str, ...], tax: Taxonomy, props: Mapping[tuple[str, str], Property]) -> None:
    aid, asked = up.asset.id, up.path[0]
    for req in up.asset.requires:
        hits = tax.overlapping[req.use]
        for u in uses:
            if u not in hits:
                continue
            p = props.get((req.benchmark, req.metric))
            if p is None:
                out.append(Reason(aid, "property-missing", u, "requires", up.path, (req.text(),),
                                  f"{aid} requires {req.text()}; {asked} has no {req.benchmark} evaluation of {req.metric}"))
            elif why := req.unmet(p):
                extra = "".join(f"; {w}" for w in why if not w.startswith(f"{req.metric} = "))  # n / CI, when those fail
                out.append(Reason(aid, "property-unmet", u, "requires", up.path, (req.text(),),
                                  f"{aid} requires {req.text()}; {p.asset} has {req.metric} = {p.value:.4g} ({p.version}, {p.time[:10]}){extra}"))


def _allow_only(out: list[Reason], up: Upstream, source: str, allowed: tuple[str, ...], uses: tuple[str, ...], tax: Taxonomy,
                cites: Mapping[str, str] | None = None) -> None:
    aid, path = up.asset.id, up.path
    by_facet: dict[str, list[str]] = {}
    for x in allowed:
        by_facet.setdefault(tax.facet[x], []).append(x)
    for f, entries in by_facet.items():
        asked = [u for u in uses if tax.facet[u] == f]
        cite = "; ".join(dict.fromkeys(c for c in map(cites.get, entries) if c)) if cites else ""
        if not asked:
            out.append(Reason(aid, "undeclared-facet", f, source, path, tuple(entries),
                              f"{aid} permits only {', '.join(entries)} in {f}; declare a {f} use", cite))
        for u in asked:
            anc = tax.ancestors[u]
            if not any(x in anc for x in entries):
                out.append(Reason(aid, "allow-only", u, source, path, tuple(entries),
                                  f"{aid} permits only {', '.join(entries)} in {f}{' (' + cite + ')' if cite else ''}", cite))
