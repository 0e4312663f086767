"""Importers of real metadata: pure functions from files to assets plus a report.

    dpi.load(root, licenses)                    Data Provenance Initiative summaries
    ecosystem_graphs.load(root, licenses, tax)  CRFM Ecosystem Graphs asset files
    hf_card.load(path, licenses)                a Hugging Face model card (README.md)
    cyclonedx | spdx3 | croissant | odrl .load(path, licenses, taxonomy, known)
                                                standard documents (docs/exports.md); shared: standards.py

Each returns an :class:`Import`: the assets, where each one
came from (``file:line``, for error messages) and a :class:`Report` of what was skipped,
what dangles and what was guessed. Nothing is written: the caller registers
``Import.assets`` in one atomic ``Registry.add``. Assets are a pure function of the
input files (no clock, no absolute paths in notes), so importing twice is a no-op.
Input that cannot be read raises ``InvalidInput`` naming the file (and line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from charter.core.assets import Asset

Resolver = Callable[[str, str], "str | None"]
"""``resolve(kind, name)`` -> the id of a registered asset of that kind and name (its latest
version), or None. Importers use it to link to assets registered earlier."""


@dataclass
class Report:
    """What an importer did besides producing assets. ``to_json`` is the schema in docs/importers.md."""

    importer: str
    input: str
    files: int = 0
    skipped: list[dict] = field(default_factory=list)  # {"item", "where", "reason"}
    dangling: list[dict] = field(default_factory=list)  # {"asset", "dependency", "where", "reason"}
    placeholders: list[dict] = field(default_factory=list)  # {"asset", "reason"}
    renamed: list[dict] = field(default_factory=list)  # {"item", "asset", "reason"}
    unmapped_licenses: dict[str, list[str]] = field(default_factory=dict)  # licence text -> assets
    stats: dict = field(default_factory=dict)

    def skip(self, item: str, where: str, reason: str) -> None:
        self.skipped.append({"item": item, "where": where, "reason": reason})

    def dangle(self, asset: str, dependency: str, where: str, reason: str) -> None:
        self.dangling.append({"asset": asset, "dependency": dependency, "where": where, "reason": reason})

    def unmapped(self, license: str, asset: str) -> None:
        self.unmapped_licenses.setdefault(license, []).append(asset)

    def to_json(self, assets: Iterable[Asset] = ()) -> dict:
        kinds: dict[str, int] = {}
        for a in assets:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        return {
            "importer": self.importer,
            "input": self.input,
            "files": self.files,
            "assets": kinds,
            "skipped": self.skipped,
            "dangling": self.dangling,
            "placeholders": self.placeholders,
            "renamed": self.renamed,
            "unmapped_licenses": [
                {"license": k, "count": len(v), "assets": v} for k, v in sorted(self.unmapped_licenses.items())
            ],
            "stats": self.stats,
        }


@dataclass(frozen=True)
class Import:
    assets: list[Asset]
    sources: dict[str, str]  # asset id -> file[:line]
    report: Report

    def to_json(self) -> dict:
        return self.report.to_json(self.assets)


def break_cycles(assets: list[Asset], report: Report, sources: dict[str, str]) -> list[Asset]:
    """Drop lineage edges that would close a cycle inside the batch (reported as dangling).

    Metadata collections sometimes say A depends on B and B on A; a registry cannot hold
    that, so the edge found last by a depth-first walk in input order is dropped.
    """
    by_id = {a.id: a for a in assets}
    state: dict[str, int] = {}
    drop: dict[str, set[tuple[str, str]]] = {}

    for root, asset in by_id.items():
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(asset.derived_from))]
        while stack:
            node, it = stack[-1]
            edge = next(it, None)
            if edge is None:
                state[node] = 2
                stack.pop()
                continue
            p = edge.parent
            if p not in by_id or state.get(p) == 2:
                continue
            if state.get(p) == 1:
                drop.setdefault(node, set()).add((p, edge.relation))
                report.dangle(node, p, sources.get(node, ""), f"dropped {edge.relation} edge: it would close a lineage cycle")
                continue
            state[p] = 1
            stack.append((p, iter(by_id[p].derived_from)))
    if not drop:
        return assets
    out = []
    for a in assets:
        gone = drop.get(a.id)
        if gone:
            a = replace(a, derived_from=tuple(e for e in a.derived_from if (e.parent, e.relation) not in gone))
        out.append(a)
    return out


def plain(value):
    """YAML/JSON values as plain JSON data (dates as ISO strings), for notes."""
    import datetime as _dt

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


__all__ = ["Import", "Report", "Resolver", "break_cycles", "plain"]
