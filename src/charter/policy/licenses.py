"""The licence table (shipped as data): licence name -> denied/allowed uses and duties."""

from __future__ import annotations

import re
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from charter.core.files import load_document, resource
from charter.core.uses import Taxonomy
from charter.errors import InvalidInput

UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class License:
    id: str
    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    duties: tuple[str, ...] = ()
    description: str = ""
    known: bool = True

    @cached_property
    def source(self) -> str:
        return f"license:{self.id}"


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class LicenseTable:
    by_key: Mapping[str, License]
    _memo: dict = field(default_factory=dict, compare=False, repr=False)  # licence names -> Licenses

    def lookup(self, name: str | None) -> License:
        """The licence for a name; an unknown name denies commercial use, like an unspecified one."""
        if name is None:
            return self.by_key[_key(UNSPECIFIED)]
        hit = self.by_key.get(_key(name))
        if hit is not None:
            return hit
        base = self.by_key[_key(UNSPECIFIED)]
        return License(id=name, deny=base.deny, description=f"{name!r} is not in the licence table", known=False)

    def for_asset(self, licenses: tuple[str, ...]) -> tuple[License, ...]:
        """The licences that apply to an asset (memoised: the table never changes)."""
        hit = self._memo.get(licenses)
        if hit is None:
            hit = self._memo[licenses] = self._resolve(licenses)
        return hit

    def _resolve(self, licenses: tuple[str, ...]) -> tuple[License, ...]:
        if not licenses:
            return (self.lookup(None),)
        out: dict[str, License] = {}
        for n in licenses:  # two names of one licence ("CC BY-NC 4.0", "cc-by-nc-4.0") count once
            lic = self.lookup(n)
            out.setdefault(lic.id, lic)
        return tuple(out.values())

    def __iter__(self):
        seen = set()
        for lic in self.by_key.values():
            if lic.id not in seen:
                seen.add(lic.id)
                yield lic


def load(taxonomy: Taxonomy, path: Path | None = None, extra: tuple[Path, ...] = ()) -> LicenseTable:
    """The shipped table, then each ``extra`` file (``--licenses FILE``): its entries add licences and, for
    every name they list, replace what the shipped table said."""
    table = _read(taxonomy, path or resource("licenses.yaml"), {}, shipped=True)
    for f in extra:
        table = _read(taxonomy, Path(f), dict(table), shipped=False)
    return LicenseTable(by_key=table)


_FIELDS = ("id", "names", "deny", "allow", "duties", "description")


def _check_entry(e, i: int, path: Path) -> None:
    """A user's licence entry, strictly: the one-line error names file:line and the field."""
    line = getattr(e, "line", 0)
    where = f"{path}:{line}" if line else str(path)
    if not isinstance(e, dict):
        raise InvalidInput(f"licences[{i}] must be a mapping", hint="write - {id: NAME, deny: [USE, ...]}", where=where, field=f"licenses[{i}]")
    for k in e:
        if k not in _FIELDS:
            raise InvalidInput(f"unknown field {k!r}", hint=f"a licence has {', '.join(_FIELDS)}", where=f"{path}:{e.line_of(k)}", field=f"licenses[{i}].{k}")
    if not isinstance(e.get("id"), str) or not e["id"].strip():
        raise InvalidInput("a licence needs an id (a string)", hint="write id: NAME", where=where, field=f"licenses[{i}].id")
    for k in ("names", "deny", "allow", "duties"):
        v = e.get(k)
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise InvalidInput(f"{k} must be a list of strings", hint=f"write {k}: [..]", where=f"{path}:{e.line_of(k)}", field=f"licenses[{i}].{k}")
    if e.get("description") is not None and not isinstance(e["description"], str):
        raise InvalidInput("description must be a string", hint="quote it", where=f"{path}:{e.line_of('description')}", field=f"licenses[{i}].description")


def _read(taxonomy: Taxonomy, path: Path, table: dict[str, License], shipped: bool) -> dict[str, License]:
    doc = load_document(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("licenses"), list):
        raise InvalidInput("a licence file is a mapping with a list under licenses:", hint="write licenses: [{id: NAME, deny: [USE]}]", where=str(path))
    replaced: set[str] = set()
    for i, e in enumerate(doc.get("licenses") or []):
        if not shipped:
            _check_entry(e, i, path)
        where = f"{path}:{e.line}"
        for key in ("deny", "allow"):
            for u in e.get(key) or []:
                taxonomy.check(u, where=f"{path}:{e.line_of(key)}", field=f"licenses[{i}].{key}")
        lic = License(
            id=e["id"],
            deny=tuple(e.get("deny") or ()),
            allow=tuple(e.get("allow") or ()),
            duties=tuple(e.get("duties") or ()),
            description=e.get("description") or "",
        )
        for name in [e["id"], *(e.get("names") or [])]:
            k = _key(str(name))
            if k in table and table[k].id != lic.id and (shipped or k in replaced):  # a user's file may remap a shipped name, once
                raise InvalidInput(f"licence name {name!r} maps to both {table[k].id} and {lic.id}", hint="keep the name under one licence", where=where)
            table[k] = lic
            replaced.add(k)
    if _key(UNSPECIFIED) not in table:
        raise InvalidInput("the licence table has no 'unspecified' entry", hint="add {id: unspecified, deny: [commercial]}", where=str(path))
    return table
