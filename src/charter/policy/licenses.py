"""The licence table (shipped as data): licence name -> denied/allowed uses, conditions and duties.

Each term may cite the clause it comes from (``{use: military, cite: "Llama 3.2 Acceptable Use
Policy §2.a"}``); a decision's reason carries that citation. A *condition* is a use the licence
permits only when the user attests something the registry cannot know (Llama's 700 million
monthly-active-user threshold): the request names the condition's id (``--attest``) or is denied.
"""

from __future__ import annotations

import functools
import re
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from charter.core.assets import DUTIES
from charter.core.files import load_document, resource
from charter.core.uses import Taxonomy
from charter.errors import InvalidInput

UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class Condition:
    """A use the licence permits only if the user attests ``text`` (by the condition's ``id``)."""

    id: str
    use: str
    text: str
    cite: str = ""

    def to_json(self) -> dict:
        return {"id": self.id, "use": self.use, "text": self.text, "cite": self.cite}


@dataclass(frozen=True)
class Duty:
    """What a user of the licensed asset owes: ``id`` is one of core.assets.DUTIES."""

    id: str
    text: str = ""
    cite: str = ""


@dataclass(frozen=True)
class License:
    id: str
    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    duties: tuple[str, ...] = ()  # duty ids (the texts and citations: duty_terms)
    description: str = ""
    known: bool = True
    document: str = ""  # the licence text(s) the citations refer to
    url: str = ""
    cites: Mapping[str, str] = field(default_factory=dict, compare=False)  # deny/allow use -> clause
    conditions: tuple[Condition, ...] = ()
    duty_terms: tuple[Duty, ...] = ()
    origin: str = "table"  # table | category (ScanCode LicenseDB) | unknown | expression (AND/OR of others)
    category: str = ""  # origin category: the ScanCode LicenseDB category the terms come from
    parts: tuple["License", ...] = ()  # an AND expression: every part applies
    alternatives: tuple["License", ...] = ()  # an OR expression: the chooser takes the one that permits

    @cached_property
    def source(self) -> str:
        return f"license:{self.id}"

    @property
    def leaves(self) -> tuple["License", ...]:
        """The single licences an expression names (itself for one licence)."""
        subs = self.parts or self.alternatives
        return tuple(x for p in subs for x in p.leaves) if subs else (self,)

    def cite(self, use: str) -> str:
        return self.cites.get(use, "")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class LicenseTable:
    by_key: Mapping[str, License]
    _memo: dict = field(default_factory=dict, compare=False, repr=False)  # licence names -> Licenses

    def lookup(self, name: str | None) -> License:
        """The licence for a name: a table entry (by id or alias), else an SPDX expression of known
        licences (``MIT OR Apache-2.0``), else a licence ScanCode's LicenseDB categorises (default terms
        of its category), else unknown (denies commercial use, like an unspecified one)."""
        if name is None:
            return self.by_key[_key(UNSPECIFIED)]
        hit = self.by_key.get(_key(name))
        if hit is not None:
            return hit
        memo = self._memo.get(name)
        if memo is None:
            memo = self._memo[name] = _resolve_name(self, name)
        return memo

    def unknown(self, name: str) -> list[str]:
        """The names in ``name`` (one licence or an expression) that nothing maps."""
        return [x.id for x in self.lookup(name).leaves if not x.known]

    def note(self, names: tuple[str, ...]) -> str:
        """For display beside an asset's licences: the unknown ones, and those only a LicenseDB category covers."""
        unknown = [u for n in names for u in self.unknown(n)]
        cats = [f"{x.id}: ScanCode category {x.category}" for n in names for x in self.lookup(n).leaves if x.origin == "category"]
        out = f" (not in the licence table: {', '.join(unknown)}; commercial use is not permitted until mapped)" if unknown else ""
        return out + (f" (terms from the licence's category, not its text: {'; '.join(cats)})" if cats else "")

    def _single(self, name: str) -> License:
        """One licence name (no operators): the table, then the LicenseDB category, then unknown."""
        hit = self.by_key.get(_key(name))
        if hit is not None:
            return hit
        cat = _licensedb().get(name.lower().removeprefix("licenseref-scancode-"))
        if cat is not None:
            return _from_category(name, *cat)
        base = self.by_key[_key(UNSPECIFIED)]
        return License(id=name, deny=base.deny, description=f"{name!r} is not in the licence table", known=False, origin="unknown")

    def for_asset(self, licenses: tuple[str, ...]) -> tuple[License, ...]:
        """The licences that apply to an asset, AND expressions flattened (memoised: the table never changes)."""
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
            for part in _conjuncts(lic):
                out.setdefault(part.id, part)
        return tuple(out.values())

    @cached_property
    def conditions(self) -> dict[str, tuple[Condition, ...]]:
        """Condition id -> every licence condition with that id (one attestation answers them all)."""
        out: dict[str, list[Condition]] = {}
        for lic in self:
            for c in lic.conditions:
                out.setdefault(c.id, []).append(c)
        return {k: tuple(v) for k, v in out.items()}

    def __iter__(self):
        seen = set()
        for lic in self.by_key.values():
            if lic.id not in seen:
                seen.add(lic.id)
                yield lic


def _conjuncts(lic: License) -> tuple[License, ...]:
    return tuple(x for p in lic.parts for x in _conjuncts(p)) if lic.parts else (lic,)


# --- SPDX expressions and the long tail -------------------------------------------------------
# A licence field is an SPDX expression (license-expression parses it): AND = every part applies,
# OR = the chooser takes the alternative that permits, WITH = the licence with an exception. A
# name outside the table that ScanCode's LicenseDB (shipped with license-expression: ~2,600
# licences, each with a category) knows gets its category's default terms, and says so.

CATEGORY_TERMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # category -> (denied uses, duties). Commercial-ish and unclear categories deny commercial use
    # until the licence is mapped; permissive and copyleft ones restrict no use.
    "Permissive": ((), ("attribution",)),
    "Public Domain": ((), ()),
    "Copyleft": ((), ("attribution", "share-alike")),
    "Copyleft Limited": ((), ("attribution", "share-alike")),
    "Proprietary Free": (("commercial",), ("attribution",)),
    "Free Restricted": (("commercial",), ("attribution",)),
    "Source-available": (("commercial",), ("attribution",)),
    "Commercial": (("commercial",), ()),
    "CLA": (("commercial",), ()),
    "Patent License": (("commercial",), ()),
    "Unstated License": (("commercial",), ()),
}


@functools.lru_cache(maxsize=2)
def _licensedb(exceptions: bool = False) -> dict[str, tuple[str, str]]:
    """lower-case ScanCode key / SPDX id -> (the name to show, category): the licences, or the exceptions."""
    import json

    import license_expression

    index = json.loads((Path(license_expression.__file__).parent / "data" / "scancode-licensedb-index.json").read_text(encoding="utf-8"))
    out: dict[str, tuple[str, str]] = {}
    for e in index:
        if bool(e.get("is_exception")) != exceptions or e.get("category") not in CATEGORY_TERMS:
            continue
        shown = e.get("spdx_license_key") or e["license_key"]
        for k in (e["license_key"], e.get("spdx_license_key"), *(e.get("other_spdx_license_keys") or ())):
            if k:
                out.setdefault(k.lower().removeprefix("licenseref-scancode-"), (shown, e["category"]))
    return out


def _from_category(name: str, shown: str, category: str) -> License:
    deny, duties = CATEGORY_TERMS[category]
    return License(id=shown, deny=deny, duties=duties, origin="category", category=category,
                   cites={u: f"ScanCode LicenseDB category {category!r}: terms from the category, not from the licence text" for u in deny},
                   description=f"{name!r} is not in the licence table; ScanCode's LicenseDB classes it {category}: its default terms apply")


_OPERATOR = re.compile(r"\b(and|or|with)\b|[()]", re.I)


def _resolve_name(table: "LicenseTable", name: str) -> License:
    if not _OPERATOR.search(name):
        return table._single(name.strip())
    from license_expression import ExpressionError, get_spdx_licensing

    try:
        expr = get_spdx_licensing().parse(name, validate=False, simple=False)
    except (ExpressionError, Exception):  # noqa: BLE001 - any parse failure means: not an expression
        return table._single(name.strip())
    if expr is None:
        return table._single(name.strip())
    lic = _from_expression(table, expr)
    if lic.parts or lic.alternatives:
        if all(not x.known for x in lic.leaves):  # "Terms and Conditions of X": prose, not an expression
            return table._single(name.strip())
    return lic


def _from_expression(table: "LicenseTable", expr) -> License:
    from license_expression import LicenseSymbol, LicenseWithExceptionSymbol

    if isinstance(expr, LicenseWithExceptionSymbol):
        base = table._single(expr.license_symbol.key)
        exc = expr.exception_symbol.key
        if not base.known:
            return base
        # an exception usually relaxes its licence (linking); a restricting one (Commons Clause:
        # no selling) adds its category's denials, cited as coming from the category
        shown, cat = _licensedb(True).get(exc.lower().removeprefix("licenseref-scancode-"), (exc, ""))
        extra = tuple(u for u in CATEGORY_TERMS.get(cat, ((), ()))[0] if u not in base.deny)
        cites = {**base.cites, **{u: f"exception {shown}: ScanCode LicenseDB category {cat!r}: terms from the category, not from the licence text" for u in extra}}
        return License(id=f"{base.id} WITH {shown}", deny=base.deny + extra, allow=base.allow, duties=base.duties,
                       description=f"{base.id} with the exception {shown}" + (f" (ScanCode category {cat})" if cat else ""),
                       document=base.document, url=base.url, cites=cites, conditions=base.conditions, duty_terms=base.duty_terms,
                       origin=base.origin, category=base.category)
    if isinstance(expr, LicenseSymbol):
        return table._single(expr.key)
    op = type(expr).__name__  # boolean.py's AND / OR
    subs = tuple(_from_expression(table, a) for a in expr.args)
    ids = tuple(dict.fromkeys(x.id for x in subs))
    if len(ids) == 1:
        return subs[0]
    sid = f" {op} ".join(f"({x.id})" if (x.parts or x.alternatives) else x.id for x in subs)
    if op == "AND":
        return License(id=sid, parts=subs, origin="expression", known=all(x.known for x in subs),
                       deny=tuple(dict.fromkeys(u for x in subs for u in x.deny)),
                       duties=tuple(dict.fromkeys(d for x in subs for d in x.duties)),
                       description=f"every part of {sid} applies")
    # OR: a use every alternative denies stays denied; duties owed whichever is chosen
    common = set.intersection(*(set(x.deny) for x in subs))
    duties = set.intersection(*(set(x.duties) for x in subs))
    return License(id=sid, alternatives=subs, origin="expression", known=any(x.known for x in subs),
                   deny=tuple(u for u in subs[0].deny if u in common), duties=tuple(d for d in subs[0].duties if d in duties),
                   description=f"the chooser may take any of {', '.join(x.id for x in subs)}: the one that permits the use")


def load(taxonomy: Taxonomy, path: Path | None = None, extra: tuple[Path, ...] = ()) -> LicenseTable:
    """The shipped table, then each ``extra`` file (``--licenses FILE``): its entries add licences and, for
    every name they list, replace what the shipped table said."""
    table = _read(taxonomy, path or resource("licenses.yaml"), {}, shipped=path is None)
    for f in extra:
        table = _read(taxonomy, Path(f), dict(table), shipped=False)
    return LicenseTable(by_key=table)


_FIELDS = ("id", "names", "deny", "allow", "duties", "description", "document", "url", "conditions")
_COND_FIELDS = ("id", "use", "text", "cite")
_COND_ID = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")


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
    v = e.get("names")
    if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
        raise InvalidInput("names must be a list of strings", hint="write names: [..]", where=f"{path}:{e.line_of('names')}", field=f"licenses[{i}].names")
    for k, sub in (("deny", "use"), ("allow", "use"), ("duties", "id")):
        v = e.get(k)
        if v is None:
            continue
        ok = isinstance(v, list) and all(isinstance(x, str) or _cited(x, sub) for x in v)
        if not ok:
            raise InvalidInput(f"{k} must be a list of strings or {{{sub}: ..., cite: ...}} mappings", hint=f"write {k}: [X, {{{sub}: Y, cite: 'section'}}]",
                               where=f"{path}:{e.line_of(k)}", field=f"licenses[{i}].{k}")
    for k in ("description", "document", "url"):
        if e.get(k) is not None and not isinstance(e[k], str):
            raise InvalidInput(f"{k} must be a string", hint="quote it", where=f"{path}:{e.line_of(k)}", field=f"licenses[{i}].{k}")
    conds = e.get("conditions")
    if conds is not None and not isinstance(conds, list):
        raise InvalidInput("conditions must be a list", hint="write conditions: [{id: ID, use: USE, text: WHAT THE USER ATTESTS, cite: SECTION}]",
                           where=f"{path}:{e.line_of('conditions')}", field=f"licenses[{i}].conditions")
    for j, c in enumerate(conds or ()):
        cf, cw = f"licenses[{i}].conditions[{j}]", f"{path}:{getattr(c, 'line', 0) or e.line_of('conditions')}"
        if not isinstance(c, dict) or any(k not in _COND_FIELDS for k in c) or not all(isinstance(c.get(k), str) for k in ("id", "use", "text")):
            raise InvalidInput("a condition is {id, use, text, cite} (strings)", hint="write {id: my-threshold, use: commercial, text: ..., cite: §2}", where=cw, field=cf)
        if not _COND_ID.fullmatch(c["id"]):
            raise InvalidInput(f"condition id {c['id']!r} is not lowercase letters, digits, '.' and '-'", hint="write e.g. id: llama-700m-mau", where=cw, field=cf + ".id")


def _cited(x, key: str) -> bool:
    return isinstance(x, dict) and isinstance(x.get(key), str) and isinstance(x.get("cite", ""), str) and set(x) <= {key, "cite", "text"}


def _terms(entries, key: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """``[X, {use: Y, cite: Z}]`` -> ids in order, and id -> citation."""
    ids, cites = [], {}
    for x in entries or ():
        if isinstance(x, dict):
            ids.append(x[key])
            if x.get("cite"):
                cites[x[key]] = x["cite"]
        else:
            ids.append(x)
    return tuple(dict.fromkeys(ids)), cites


def _duties(entries) -> tuple[Duty, ...]:
    return tuple(Duty(x["id"], x.get("text", ""), x.get("cite", "")) if isinstance(x, dict) else Duty(x) for x in entries or ())


def _load_shipped(path: Path):
    """The shipped table through libyaml's C parser: ~20x faster than the line-tracking loader user files
    get (every command loads the table), and it is our own file, so errors need no line numbers."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)


def _where(path: Path, e, key: str | None = None) -> str:
    if hasattr(e, "line_of"):
        return f"{path}:{e.line_of(key) if key else e.line}"
    return str(path)


def _read(taxonomy: Taxonomy, path: Path, table: dict[str, License], shipped: bool) -> dict[str, License]:
    doc = _load_shipped(path) if shipped else load_document(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("licenses"), list):
        raise InvalidInput("a licence file is a mapping with a list under licenses:", hint="write licenses: [{id: NAME, deny: [USE]}]", where=str(path))
    replaced: set[str] = set()
    for i, e in enumerate(doc.get("licenses") or []):
        if not shipped:
            _check_entry(e, i, path)
        where = _where(path, e)
        deny, deny_cites = _terms(e.get("deny"), "use")
        allow, allow_cites = _terms(e.get("allow"), "use")
        duties = _duties(e.get("duties"))
        conds = tuple(Condition(c["id"], c["use"], c["text"], c.get("cite", "")) for c in e.get("conditions") or ())
        for key, ids in (("deny", deny), ("allow", allow), ("conditions", tuple(c.use for c in conds))):
            for u in ids:
                taxonomy.check(u, where=_where(path, e, key), field=f"licenses[{i}].{key}")
        for d in duties:
            if d.id not in DUTIES:
                raise InvalidInput(f"unknown duty {d.id!r}", hint=f"duties are {', '.join(DUTIES)}", where=_where(path, e, "duties"), field=f"licenses[{i}].duties")
        lic = License(
            id=e["id"], deny=deny, allow=allow,
            duties=tuple(dict.fromkeys(d.id for d in duties)),
            description=e.get("description") or "",
            document=e.get("document") or "", url=e.get("url") or "",
            cites={**allow_cites, **deny_cites}, conditions=conds, duty_terms=duties,
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
