"""Licence strings as inputs state them, for ``charter licenses coverage``: how many the licence
table knows, how many only ScanCode's LicenseDB categorises, and which are unknown.

Inputs, by suffix: ``.txt`` (one licence per line, ``#`` comments), ``.md`` (a Hugging Face
card's ``license`` / ``license_name``), ``.json`` (Data Provenance Initiative summaries: each
record's ``Licenses[].License`` and the inferred HF / GitHub / PwC licence fields), ``.yaml`` /
``.yml`` (charter files and Ecosystem Graphs assets: every ``license`` value). A folder is read
recursively for ``.json``, ``.yaml``/``.yml`` and model cards (``.md`` with front matter);
``.txt`` lists count only when named, and files starting with ``_`` (DPI's ``_template.json``)
are skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from charter.core.files import load_document
from charter.errors import InvalidInput
from charter.policy.licenses import LicenseTable

SUFFIXES = (".txt", ".md", ".json", ".yaml", ".yml")
FOLDER_SUFFIXES = (".md", ".json", ".yaml", ".yml")
DPI_FIELDS = ("License", "HF Yaml License", "HF Config License", "GitHub License", "PwC License Name")


def read(paths: Iterable[Path]) -> tuple[Counter, int]:
    """(licence string -> occurrences, files read)."""
    found: Counter = Counter()
    files = 0
    for p in paths:
        p = Path(p)
        if p.is_dir():
            members = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in FOLDER_SUFFIXES and not f.name.startswith("_")
                             and (f.suffix != ".md" or _has_front_matter(f)))
        elif p.exists():
            members = [p]
        else:
            raise InvalidInput("file not found", hint="pass licence lists (.txt), model cards (.md), DPI summaries (.json) or charter files (.yaml)", where=str(p))
        for f in members:
            found.update(_one(f))
            files += 1
    return found, files


def _has_front_matter(f: Path) -> bool:
    try:
        with f.open(encoding="utf-8") as fh:
            return fh.readline().lstrip("\ufeff").strip() == "---"
    except (OSError, UnicodeDecodeError):
        return False


def _one(f: Path) -> list[str]:
    if f.suffix == ".txt":
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInput(f"cannot read file: {e}", hint="pass a UTF-8 text file, one licence per line", where=str(f)) from None
        return [s for s in (x.split("#", 1)[0].strip() for x in lines) if s]
    if f.suffix == ".md":
        from charter.imports.hf_card import read_card

        meta, _ = read_card(f)
        names = meta.get("license")
        names = [names] if isinstance(names, str) else [x for x in names or () if isinstance(x, str)]
        other = meta.get("license_name")
        return [other.strip() if n.strip().lower() == "other" and isinstance(other, str) and other.strip() else n.strip() for n in names]
    if f.suffix == ".json":
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise InvalidInput(f"cannot read JSON: {e}", hint="pass a Data Provenance Initiative summary file", where=str(f)) from None
        return list(_walk(doc, DPI_FIELDS))
    return list(_walk(load_document(f), ("license", "licenses")))


def _walk(x, keys: tuple[str, ...]):
    if isinstance(x, dict):
        for k, v in x.items():
            if k in keys and isinstance(v, str):
                if v.strip():
                    yield v.strip()
            elif k in keys and isinstance(v, list) and all(isinstance(s, str) for s in v):
                yield from (s.strip() for s in v if s.strip())
            else:
                yield from _walk(v, keys)
    elif isinstance(x, list):
        for v in x:
            yield from _walk(v, keys)


@dataclass(frozen=True)
class Coverage:
    """Distinct licence strings by where their terms come from."""

    occurrences: Counter
    table: dict[str, str] = field(default_factory=dict)  # string -> licence id
    category: dict[str, str] = field(default_factory=dict)  # string -> ScanCode category (or the categories of an expression's parts)
    unknown: dict[str, list[str]] = field(default_factory=dict)  # string -> its unknown names

    @property
    def distinct(self) -> int:
        return len(self.occurrences)

    def share(self, *groups: str) -> float:
        n = sum(len(getattr(self, g)) for g in groups)
        return n / self.distinct if self.distinct else 1.0

    def to_json(self) -> dict:
        return {
            "distinct": self.distinct, "occurrences": sum(self.occurrences.values()),
            "known": len(self.table), "from_category": len(self.category), "unknown": len(self.unknown),
            "known_share": round(self.share("table"), 4), "known_or_categorised_share": round(self.share("table", "category"), 4),
            "categorised": [{"license": s, "category": c, "count": self.occurrences[s]} for s, c in sorted(self.category.items())],
            "unknown_licenses": [{"license": s, "unknown": u, "count": self.occurrences[s]}
                                 for s, u in sorted(self.unknown.items(), key=lambda kv: (-self.occurrences[kv[0]], kv[0]))],
        }


def coverage(table: LicenseTable, occurrences: Counter) -> Coverage:
    out = Coverage(occurrences)
    for s in occurrences:
        missing = table.unknown(s)
        if missing:
            out.unknown[s] = missing
            continue
        leaves = table.lookup(s).leaves
        cats = sorted({x.category for x in leaves if x.origin == "category"})
        if cats:
            out.category[s] = ", ".join(cats)
        else:
            out.table[s] = table.lookup(s).id
    return out
