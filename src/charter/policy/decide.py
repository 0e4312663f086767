"""The decision rule. Pure: no I/O, no clock; the registry gathers the lineage and calls it.

E = the asked asset and every asset upstream of it along propagating relations.
Denied if some e in E
  - is withdrawn                                                     (rule ``withdrawn``)
  - denies d (its own deny or its licence's) overlapping a requested use   (``deny``)
  - allows only some uses of facet f (own allow list, or a licence's) and the
    request declares no use in f                                     (``undeclared-facet``)
    or declares a use in f that none of those allow entries covers   (``allow-only``)
Otherwise allowed. Every reason is listed, each with the path from the asked asset.
An asset's own allow list and each of its licences constrain separately, so the most
restrictive wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from charter.core.lineage import Upstream
from charter.core.uses import Taxonomy
from charter.policy.licenses import LicenseTable

RULES = ("withdrawn", "deny", "undeclared-facet", "allow-only")


@dataclass(frozen=True)
class Request:
    asset: str
    uses: tuple[str, ...]


@dataclass(frozen=True)
class Reason:
    asset: str  # the asset that imposes the rule
    rule: str  # one of RULES
    use: str | None  # the requested use it blocks (a facet id for undeclared-facet; None for withdrawn)
    source: str  # "uses.deny", "uses.allow", "license:<id>" or "withdrawal"
    path: tuple[str, ...]  # asked asset ... imposing asset
    entries: tuple[str, ...] = ()  # the deny entry, or the allow entries of the facet
    detail: str = ""  # human sentence

    def to_json(self) -> dict:
        return {
            "asset": self.asset,
            "rule": self.rule,
            "use": self.use,
            "source": self.source,
            "path": list(self.path),
            "entries": list(self.entries),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Decision:
    asset: str
    uses: tuple[str, ...]
    allowed: bool
    reasons: tuple[Reason, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "asset": self.asset,
            "uses": list(self.uses),
            "allowed": self.allowed,
            "reasons": [r.to_json() for r in self.reasons],
        }


def decide(request: Request, lineage: Sequence[Upstream], taxonomy: Taxonomy, licenses: LicenseTable) -> Decision:
    """Decide ``request`` given E (``lineage``, the asked asset first). Pure."""
    uses = tuple(dict.fromkeys(request.uses))
    reasons: list[Reason] = []
    for up in lineage:
        reasons.extend(_reasons(up, uses, taxonomy, licenses))
    return Decision(request.asset, uses, not reasons, tuple(reasons))


def _reasons(up: Upstream, uses: tuple[str, ...], tax: Taxonomy, licenses: LicenseTable) -> Iterable[Reason]:
    a, path = up.asset, up.path
    if up.withdrawal is not None:
        yield Reason(a.id, "withdrawn", None, "withdrawal", path, (), f"withdrawn: {up.withdrawal.reason}")
    lics = licenses.for_asset(a.licenses)
    sources = [("uses.deny", a.deny)] + [(lic.source, lic.deny) for lic in lics]
    for source, denies in sources:
        for d in denies:
            hits = tax.overlapping[d]
            for u in uses:
                if u in hits:
                    yield Reason(a.id, "deny", u, source, path, (d,), f"{a.id} denies {d} ({source})")
    allows = [("uses.allow", a.allow)] + [(lic.source, lic.allow) for lic in lics]
    for source, allowed in allows:
        if allowed:
            yield from _allow_only(a.id, path, source, allowed, uses, tax)


def _allow_only(aid: str, path: tuple[str, ...], source: str, allowed: tuple[str, ...], uses: tuple[str, ...], tax: Taxonomy) -> Iterable[Reason]:
    by_facet: dict[str, list[str]] = {}
    for x in allowed:
        by_facet.setdefault(tax.facet[x], []).append(x)
    for f, entries in by_facet.items():
        asked = [u for u in uses if tax.facet[u] == f]
        if not asked:
            yield Reason(aid, "undeclared-facet", f, source, path, tuple(entries),
                         f"{aid} permits only {', '.join(entries)} in {f}; declare a {f} use")
        for u in asked:
            anc = tax.ancestors[u]
            if not any(x in anc for x in entries):
                yield Reason(aid, "allow-only", u, source, path, tuple(entries),
                             f"{aid} permits only {', '.join(entries)} in {f}")
