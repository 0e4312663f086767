"""The use taxonomy: a DAG of use ids, each in exactly one facet (its top-level node).

``covers(a, u)``: u == a or a is an ancestor of u.  ``overlap(a, u)``: either covers the other.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Mapping

from charter.errors import TaxonomyError, UnknownUse, UsageError

USE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Use:
    id: str
    parents: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Taxonomy:
    """An immutable, validated use DAG. Build with :func:`build` or :func:`load`."""

    uses: Mapping[str, Use]
    ancestors: Mapping[str, frozenset[str]]  # reflexive: ancestors[u] includes u
    facet: Mapping[str, str]
    order: tuple[str, ...] = field(default=())  # file order, for printing
    _parsed: dict = field(default_factory=dict, compare=False, repr=False)  # parse_uses memo
    _reach: dict = field(default_factory=dict, compare=False, repr=False)  # reach memo

    def __contains__(self, use: str) -> bool:
        return use in self.uses

    def covers(self, a: str, u: str) -> bool:
        return a in self.ancestors[u]

    def overlap(self, a: str, u: str) -> bool:
        return a in self.ancestors[u] or u in self.ancestors[a]

    @cached_property
    def descendants(self) -> Mapping[str, frozenset[str]]:
        """Reflexive descendants of each use."""
        down: dict[str, set[str]] = {u: set() for u in self.uses}
        for u, anc in self.ancestors.items():
            for a in anc:
                down[a].add(u)
        return {u: frozenset(s) for u, s in down.items()}

    @cached_property
    def overlapping(self) -> Mapping[str, frozenset[str]]:
        """For each use, every use it overlaps (ancestors and descendants)."""
        return {u: self.ancestors[u] | self.descendants[u] for u in self.uses}

    def reach(self, entries: tuple[str, ...]) -> frozenset[str]:
        """Every use that overlaps some entry (memoised: deny lists repeat across assets)."""
        hit = self._reach.get(entries)
        if hit is None:
            hit = frozenset().union(*(self.overlapping[e] for e in entries))
            if len(self._reach) < 65536:
                self._reach[entries] = hit
        return hit

    @cached_property
    def facets(self) -> tuple[str, ...]:
        return tuple(u for u in self.order if not self.uses[u].parents)

    def children(self, use: str) -> tuple[str, ...]:
        return tuple(u for u in self.order if use in self.uses[u].parents)

    def check(self, use: str, *, where: str = "", field: str = "") -> str:
        """Return ``use`` if known, else raise UnknownUse with a did-you-mean hint."""
        if use in self.uses:
            return use
        close = difflib.get_close_matches(str(use), list(self.uses), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "run `charter uses` to list known uses"
        raise UnknownUse(f"unknown use {use!r}", hint=hint, where=where, field=field)

    def parse_uses(self, uses: tuple[str, ...]) -> tuple[str, ...]:
        """Requested uses, validated and de-duplicated (commas also separate). Memoised."""
        hit = self._parsed.get(uses)
        if hit is not None:
            return hit
        out = [self.check(p.strip(), field="uses") for u in uses for p in u.split(",") if p.strip()]
        if not out:
            raise UsageError("no uses given", hint="name at least one use, e.g. fine-tuning commercial")
        if len(self._parsed) >= 65536:  # requests combine a few uses each: 4,096 combinations thrashed at scale
            self._parsed.clear()
        hit = self._parsed[uses] = tuple(dict.fromkeys(out))
        return hit

    def to_json(self) -> list[dict]:
        return [
            {"id": u, "facet": self.facet[u], "parents": list(self.uses[u].parents)}
            for u in self.order
        ]


def build(uses: Iterable[Use], *, where: str = "") -> Taxonomy:
    """Validate and close a set of uses: ids well formed, parents known, no cycle, one facet each."""
    table: dict[str, Use] = {}
    for use in uses:
        if not USE_ID.fullmatch(use.id):
            raise TaxonomyError(
                f"use id {use.id!r} is not kebab-case", hint="use lowercase words joined by '-'",
                where=where,
            )
        if use.id in table:
            raise TaxonomyError(f"use {use.id!r} is defined twice", hint="keep one definition", where=where)
        table[use.id] = use
    for use in table.values():
        for p in use.parents:
            if p not in table:
                close = difflib.get_close_matches(p, list(table), n=1)
                raise TaxonomyError(
                    f"use {use.id!r} has unknown parent {p!r}",
                    hint=f"did you mean {close[0]!r}?" if close else "define the parent first",
                    where=where,
                )
    ancestors = _close(table, where)
    facet: dict[str, str] = {}
    for u, anc in ancestors.items():
        roots = sorted(a for a in anc if not table[a].parents)
        if len(roots) != 1:
            raise TaxonomyError(
                f"use {u!r} lies under several facets ({', '.join(roots)})",
                hint="give each use parents within a single facet",
                where=where,
            )
        facet[u] = roots[0]
    return Taxonomy(uses=table, ancestors=ancestors, facet=facet, order=tuple(table))


def _close(table: Mapping[str, Use], where: str) -> dict[str, frozenset[str]]:
    """Reflexive ancestor sets by depth-first search; a back edge is a cycle."""
    done: dict[str, frozenset[str]] = {}
    visiting: list[str] = []

    def visit(u: str) -> frozenset[str]:
        if u in done:
            return done[u]
        if u in visiting:
            cycle = visiting[visiting.index(u):] + [u]
            raise TaxonomyError(
                f"cycle in taxonomy: {' -> '.join(cycle)}", hint="remove one of these parent links",
                where=where,
            )
        visiting.append(u)
        acc = {u}
        for p in table[u].parents:
            acc |= visit(p)
        visiting.pop()
        done[u] = frozenset(acc)
        return done[u]

    for u in table:
        visit(u)
    return done


def parse(doc: object, *, where: str) -> list[Use]:
    """Turn a loaded taxonomy document (``{uses: [{id, parents, description}]}``) into Uses."""
    if not isinstance(doc, dict) or not isinstance(doc.get("uses"), list):
        raise TaxonomyError("a taxonomy file must be a mapping with a 'uses' list", hint="see charter/resources/taxonomy.yaml", where=where)
    out = []
    for i, item in enumerate(doc["uses"]):
        line = getattr(item, "line_of", lambda k: None)("id")
        here = f"{where}:{line}" if line else where
        if not isinstance(item, dict) or "id" not in item:
            raise TaxonomyError("each use needs an 'id'", hint="write - {id: my-use, parents: [purpose]}", where=here, field=f"uses[{i}]")
        unknown = set(item) - {"id", "parents", "description"}
        if unknown:
            raise TaxonomyError(f"unknown field {sorted(unknown)[0]!r}", hint="allowed fields: id, parents, description", where=here, field=f"uses[{i}]")
        parents = item.get("parents") or []
        if isinstance(parents, str):
            parents = [parents]
        # found by bench/fuzz.py: a list or mapping as an id or parent crashed the taxonomy build
        if not isinstance(item["id"], (str, int, float)) or not isinstance(parents, list) or not all(isinstance(p, (str, int, float)) for p in parents):
            raise TaxonomyError("a use's id and parents must be plain names", hint="write - {id: my-use, parents: [purpose]}", where=here, field=f"uses[{i}]")
        if not isinstance(item.get("description") or "", (str, int, float)):
            raise TaxonomyError("a use's description must be text", hint="quote the description", where=here, field=f"uses[{i}].description")
        out.append(Use(id=str(item["id"]), parents=tuple(str(p) for p in parents), description=str(item.get("description") or "")))
    return out


def load(*extra: Path) -> Taxonomy:
    """The shipped taxonomy, extended by the user's taxonomy files (which may only add uses)."""
    from charter.core.files import load_document, resource

    base_path = resource("taxonomy.yaml")
    uses = parse(load_document(base_path), where=str(base_path))
    for path in extra:
        uses += parse(load_document(Path(path)), where=str(path))
    return build(uses, where=", ".join(str(p) for p in extra) or str(base_path))
