"""The decision rule for records, compiled into one SQL predicate over the tag columns.

For a curation run the declared uses R are fixed, so the record-level part of the rule
(a record is one more member of E, carrying its own allow/deny tags; its owner's consent)
becomes a fixed boolean expression over list columns: no per-record Python. The
expression is a small tree rendered for DuckDB or Spark SQL; both renderings are plain
SQL (``list_has_any`` in DuckDB is ``arrays_overlap`` in Spark).

Columns the predicate reads (data/source.py normalises every source to these names):
``charter_allow`` and ``charter_deny`` (lists of use ids), ``charter_owner`` (text), ``text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from charter.core.uses import Taxonomy

ALLOW, DENY, OWNER, TEXT = "charter_allow", "charter_deny", "charter_owner", "text"
DIALECTS = ("duckdb", "spark")


# --- a tiny expression tree ------------------------------------------------------------
@dataclass(frozen=True)
class HasAny:
    """The list column holds at least one of ``values`` (false for NULL or empty lists)."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class In:
    """The text column is one of ``values`` (false for NULL)."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Shorter:
    """The text column is shorter than ``n`` characters (NULL text counts as empty)."""

    column: str
    n: int


@dataclass(frozen=True)
class Not:
    arg: object


@dataclass(frozen=True)
class All:
    args: tuple


def _lit(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def render(e: object, dialect: str) -> str:
    """SQL text for an expression; every leaf is NULL-safe, so the result is always true/false."""
    if isinstance(e, HasAny):
        vals = ", ".join(map(_lit, e.values))
        if dialect == "duckdb":
            return f"list_has_any(coalesce({e.column}, []::VARCHAR[]), [{vals}])"
        # arrays_overlap is NULL (not false) when a list holds a NULL element and nothing matches
        return f"coalesce(arrays_overlap(coalesce({e.column}, array()), array({vals})), false)"
    if isinstance(e, In):
        return f"coalesce({e.column} IN ({', '.join(map(_lit, e.values))}), false)"
    if isinstance(e, Shorter):
        return f"coalesce(length({e.column}), 0) < {int(e.n)}"
    if isinstance(e, Not):
        return f"NOT ({render(e.arg, dialect)})"
    if isinstance(e, All):
        return "(" + " AND ".join(render(a, dialect) for a in e.args) + ")"
    raise TypeError(f"not an expression: {e!r}")


# --- the compiled rule ---------------------------------------------------------------------
@dataclass(frozen=True)
class Branch:
    """Exclude a record when ``when`` holds, for ``reason`` (a stable machine-readable code)."""

    reason: str
    when: object


@dataclass(frozen=True)
class Predicate:
    uses: tuple[str, ...]
    branches: tuple[Branch, ...]

    def keep(self, dialect: str = "duckdb") -> str:
        """True for records to keep. Top-level tests of one list column are merged into one
        (has any of A, or any of B == has any of A+B), so each list is scanned once."""
        if not self.branches:
            return "true"
        merged: dict[str, set[str]] = {}
        rest = []
        for b in self.branches:
            if isinstance(b.when, HasAny):
                merged.setdefault(b.when.column, set()).update(b.when.values)
            else:
                rest.append(b.when)
        parts = [HasAny(c, tuple(sorted(v))) for c, v in merged.items()] + rest
        return "NOT (" + " OR ".join(render(e, dialect) for e in parts) + ")"

    def reason(self, dialect: str = "duckdb") -> str:
        """The first reason a record is excluded, or NULL when it is kept."""
        if not self.branches:
            return "CAST(NULL AS VARCHAR)" if dialect == "duckdb" else "CAST(NULL AS STRING)"
        whens = " ".join(f"WHEN {render(b.when, dialect)} THEN {_lit(b.reason)}" for b in self.branches)
        return f"CASE {whens} ELSE NULL END"


def compile_predicate(uses: Sequence[str], taxonomy: Taxonomy, withdrawn_owners: Sequence[str] = (), min_chars: int = 0) -> Predicate:
    """The record-level decision for requests R = ``uses``, as exclusion branches in priority order.

    Mirrors policy/decide.py with the record as a member of E: its deny tags block any use
    they overlap; its allow tags in a facet restrict that facet (undeclared-facet /
    allow-only); a withdrawn owner removes the record. Reason codes:
    ``owner-withdrew-consent``, ``record-deny:<use>``, ``record-undeclared-facet:<facet>``,
    ``record-allow-only:<use>``, ``too-short``.
    """
    tax = taxonomy
    uses = tuple(dict.fromkeys(uses))
    branches: list[Branch] = []
    if withdrawn_owners:
        branches.append(Branch("owner-withdrew-consent", In(OWNER, tuple(sorted(set(withdrawn_owners))))))
    for u in uses:
        branches.append(Branch(f"record-deny:{u}", HasAny(DENY, tuple(sorted(tax.overlapping[u])))))
    for f in tax.facets:
        in_facet = tuple(sorted(tax.descendants[f]))
        asked = [u for u in uses if tax.facet[u] == f]
        if not asked:
            branches.append(Branch(f"record-undeclared-facet:{f}", HasAny(ALLOW, in_facet)))
        for u in asked:
            covering = tuple(sorted(tax.ancestors[u]))
            branches.append(Branch(f"record-allow-only:{u}", All((HasAny(ALLOW, in_facet), Not(HasAny(ALLOW, covering))))))
    if min_chars > 0:
        branches.append(Branch("too-short", Shorter(TEXT, min_chars)))
    return Predicate(uses, tuple(branches))
