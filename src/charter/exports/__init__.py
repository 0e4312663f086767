"""Exports: views of the registry in the field's standard formats, each built with its own library.

    cyclonedx   CycloneDX 1.6 ML-BOM (cyclonedx-python-lib)           exports/cyclonedx.py
    spdx3       SPDX 3.0.1 AI and Dataset profiles (spdx-python-model)  exports/spdx3.py
    croissant   Croissant 1.1 + RAI, datasets only (mlcroissant loads it) exports/croissant.py
    odrl        ODRL 2.2 JSON-LD policies (rdflib parses them)          exports/odrl.py
    prov        W3C PROV-JSON of the lineage (prov)                     exports/prov.py
    hf-card     a Hugging Face README.md (huggingface_hub's ModelCard)  exports/hf_card.py

``export(reg, ref, fmt, lineage=False)`` returns the document as text. Without ``lineage`` the
document describes the asset alone (its upstream named by id); with it, the asset and everything
upstream of it along every relation (``evaluated-on`` included), so a fresh registry can import it
whole. What each format carries and what it cannot: docs/exports.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from charter.core.assets import Asset, Property
from charter.errors import UsageError

FORMATS = ("cyclonedx", "spdx3", "croissant", "odrl", "prov", "hf-card")
SUFFIX = {"cyclonedx": ".cdx.json", "spdx3": ".spdx3.json", "croissant": ".croissant.json", "odrl": ".odrl.jsonld",
          "prov": ".prov.json", "hf-card": ".md"}


@dataclass(frozen=True)
class Item:
    """One asset of an export: its charter, its latest evaluations, and what it inherits
    (``Registry.effective``; computed for the asked asset only: each upstream asset's is implied by
    its own terms and its own upstream, and computing all of them is quadratic in a long lineage)."""

    asset: Asset
    properties: tuple[Property, ...]
    effective: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """What an exporter is given: the asked asset first, then its upstream (when ``lineage``) in breadth-first order."""

    items: tuple[Item, ...]
    lineage: bool

    @property
    def root(self) -> Item:
        return self.items[0]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(i.asset.id for i in self.items)


def collect(reg, ref: str, lineage: bool = False) -> Export:
    root = reg.resolve(ref)
    order, seen = [root], {root}
    if lineage:
        i = 0
        while i < len(order):
            for e in reg.get(order[i]).derived_from:
                if e.parent not in seen:
                    seen.add(e.parent)
                    order.append(e.parent)
            i += 1
    items = []
    for aid in order:
        a = reg.get(aid)
        own = tuple(p for p in reg.store.properties(aid))
        latest = {(p.benchmark, p.metric): p for p in own}  # the latest of each, in attach order
        items.append(Item(a, tuple(latest[k] for k in sorted(latest)), reg.effective(aid) if aid == root else {}))
    return Export(tuple(items), lineage)


def export(reg, ref: str, fmt: str, lineage: bool = False) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}", field="--format")
    ex = collect(reg, ref, lineage)
    if fmt == "cyclonedx":
        from charter.exports import cyclonedx as m
    elif fmt == "spdx3":
        from charter.exports import spdx3 as m
    elif fmt == "croissant":
        from charter.exports import croissant as m
    elif fmt == "odrl":
        from charter.exports import odrl as m
    elif fmt == "prov":
        from charter.exports import prov as m
    else:
        from charter.exports import hf_card as m
    return m.build(ex, reg)


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def evaluation_json(p: Property) -> dict:
    """The part of a property a decision reads (and a reader needs), without run folders or per-group detail."""
    return {"benchmark": p.benchmark, "version": p.version, "metric": p.metric, "value": p.value,
            "ci": list(p.ci) if p.ci else None, "n": p.n, "time": p.time}


def effective_lines(item: Item, key: str) -> list[str]:
    """``use <- asset (source)`` for each inherited allow or deny entry (informational properties)."""
    out = []
    for x in item.effective.get(key, ()):
        out.append(f"{x['use']} <- {x['asset']} ({x['source']})")
    return sorted(set(out))


def spdx_expression(name: str) -> str | None:
    """``name`` as an SPDX licence expression when every symbol in it is on SPDX's list, else None."""
    lic = _licensing()
    try:
        parsed = lic.parse(name, validate=True, strict=False)
    except Exception:  # ExpressionError and its kin: not an SPDX expression
        return None
    if parsed is None or lic.unknown_license_keys(parsed):
        return None
    return str(parsed)


_LIC = []


def _licensing():
    if not _LIC:
        from license_expression import get_spdx_licensing

        _LIC.append(get_spdx_licensing())
    return _LIC[0]


__all__ = ["FORMATS", "SUFFIX", "Export", "Item", "collect", "export", "evaluation_json", "effective_lines", "spdx_expression"]
