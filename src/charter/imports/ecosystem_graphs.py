"""CRFM Ecosystem Graphs asset files -> datasets, models and applications with their lineage.

Input: a folder of organisation files (``assets/*.yaml`` of github.com/stanford-crfm/ecosystem-graphs),
each a YAML list of assets::

    - type: model                      # dataset | model | application
      name: Vision Encoder
      organization: Example AI
      description: ...
      created_date: 2023-04-01         # or {value: 2023-04-01, explanation: ...}; any field may be
      url: https://...                 # written as {value, explanation}
      license: Apache 2.0
      dependencies: [Web Images]       # names of other assets, possibly in other files
      intended_uses: ...
      prohibited_uses: Face recognition and surveillance are prohibited.
      access: open
      monitoring: ...
      feedback: ...

Each asset becomes ``<type>/<slug of name>@<version>``. Its ``license`` is mapped onto the
licence table; ``prohibited_uses`` free text is mapped to use ids by the phrase table
(resources/use_phrases.yaml) and denied; the original text stays in ``notes``.
Dependencies are resolved by name (in the input, then in the registry); the relation
follows from the two kinds (:data:`RELATION`). Dependencies that resolve to nothing are
reported as dangling and left out; everything else is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.files import LineDict, load_document, resource
from charter.core.ids import KINDS, make_id, slug, valid_version
from charter.core.uses import Taxonomy
from charter.errors import InvalidInput
from charter.imports import Import, Report, Resolver, break_cycles, plain
from charter.policy.licenses import UNSPECIFIED, LicenseTable

VERSION = "eg"

RELATION = {
    ("model", "dataset"): "trained-on",
    ("model", "model"): "fine-tuned-from",
    ("model", "application"): "trained-on-outputs-of",
    ("dataset", "dataset"): "curated-from",
    ("dataset", "model"): "trained-on-outputs-of",
    ("dataset", "application"): "trained-on-outputs-of",
    ("application", "model"): "deployed-from",
    ("application", "application"): "deployed-from",
    ("application", "dataset"): "deployed-from",
}
"""(kind of the dependent asset, kind of its dependency) -> lineage relation."""

PREFER = {"model": ("dataset", "model", "application"), "dataset": ("dataset", "model", "application"), "application": ("model", "application", "dataset")}
"""When a dependency name matches assets of several kinds, the first kind listed wins."""

NO_VALUE = {"", "none", "none.", "unknown", "n/a", "na", "tbd", "todo", "not specified", "unspecified", "?", "-"}
NO_TERMS = {"custom", "proprietary", "closed", "closed source", "restricted"}
"""Licence words that say terms exist but not what they are: unspecified (no commercial use)."""


@dataclass(frozen=True)
class PhraseTable:
    """Free text -> use ids (resources/use_phrases.yaml)."""

    entries: tuple[tuple[str, re.Pattern], ...]

    def match(self, text: str) -> list[dict]:
        """Every use whose phrase occurs in ``text``: [{"use", "phrase"}] in table order."""
        out: list[dict] = []
        for use, rx in self.entries:
            m = rx.search(text)
            if m and all(o["use"] != use for o in out):
                out.append({"use": use, "phrase": m.group(0)})
        return out


def load_phrases(taxonomy: Taxonomy, path: Path | None = None) -> PhraseTable:
    path = Path(path or resource("use_phrases.yaml"))
    doc = load_document(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("phrases"), list):
        raise InvalidInput("a phrase table must be a mapping with a 'phrases' list", hint="see charter/resources/use_phrases.yaml", where=str(path))
    entries = []
    for i, e in enumerate(doc["phrases"]):
        where = f"{path}:{getattr(e, 'line', 0)}"
        if not isinstance(e, dict) or "use" not in e or not e.get("match"):
            raise InvalidInput("each phrase entry needs 'use' and 'match'", hint="write - {use: face-recognition, match: ['facial recognition']}", where=where, field=f"phrases[{i}]")
        taxonomy.check(str(e["use"]), where=where, field=f"phrases[{i}].use")
        pats = e["match"] if isinstance(e["match"], list) else [e["match"]]
        try:
            rx = re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)
        except re.error as err:
            raise InvalidInput(f"bad regular expression: {err}", hint="fix the pattern", where=where, field=f"phrases[{i}].match") from None
        entries.append((str(e["use"]), rx))
    return PhraseTable(tuple(entries))


def load(root: Path, licenses: LicenseTable, taxonomy: Taxonomy, *, version: str = VERSION,
         phrases: PhraseTable | None = None, resolve: Resolver | None = None) -> Import:
    root = Path(root)
    if not valid_version(version):
        raise InvalidInput(f"invalid version {version!r}", hint="use letters, digits and . _ + -", field="--version")
    if not root.is_dir():
        raise InvalidInput("not a directory" if root.exists() else "directory not found", hint="pass the assets/ folder of an ecosystem-graphs checkout", where=str(root))
    files = _files(root)
    if not files:
        raise InvalidInput("no *.yaml files", hint="pass the assets/ folder of an ecosystem-graphs checkout (one YAML list of assets per organisation)", where=str(root))
    phrases = phrases or load_phrases(taxonomy)
    report = Report("ecosystem-graphs", str(root))

    items: list[tuple[str, str, str, dict]] = []  # (id, file name, file:line, item)
    seen: dict[str, str] = {}
    for path in files:
        doc = load_document(path)
        report.files += 1
        if doc is None:
            report.skip(path.name, str(path), "empty file")
            continue
        if not isinstance(doc, list):
            report.skip(path.name, str(path), "not an asset file (the top level is not a list)")
            continue
        for i, item in enumerate(doc):
            where = f"{path}:{item.line}" if isinstance(item, LineDict) else str(path)
            kind, name = _identity(item, where, i)
            aid = make_id(kind, slug(name), version)
            if aid in seen:
                report.skip(name, where, f"same {kind} as the one in {seen[aid]} (both are {aid}); the first is kept")
                continue
            seen[aid] = where
            items.append((aid, path.relative_to(root).as_posix(), where, item))

    exact: dict[str, list[str]] = {}
    loose: dict[str, list[str]] = {}
    for aid, _, _, item in items:
        name = _text(item.get("name"))
        exact.setdefault(name, []).append(aid)
        loose.setdefault(_loose(name), []).append(aid)

    assets: list[Asset] = []
    sources: dict[str, str] = {}
    mapped_uses, unmapped_uses, guessed = [], [], []
    resolved = 0
    for aid, rel, where, item in items:
        kind = aid.split("/", 1)[0]
        sources[aid] = where
        lics, lic_note = _licenses(item.get("license"), licenses, report, aid)
        prohibited = _text(item.get("prohibited_uses"))
        matches = phrases.match(prohibited) if prohibited.lower() not in NO_VALUE else []
        if matches:
            mapped_uses.append({"asset": aid, "uses": [m["use"] for m in matches], "text": prohibited})
        elif prohibited.lower() not in NO_VALUE:
            unmapped_uses.append({"asset": aid, "text": prohibited})
        edges: list[Edge] = []
        for dep in _deps(item.get("dependencies")):
            parent, how = _find(dep, aid, exact, loose, resolve)
            if parent is None:
                report.dangle(aid, dep, where, "no asset of that name in the input or the registry")
                continue
            if parent == aid:
                report.dangle(aid, dep, where, "an asset cannot depend on itself")
                continue
            if how:
                guessed.append({"asset": aid, "dependency": dep, "resolved": parent, "how": how})
            e = Edge(aid, parent, RELATION[(kind, parent.split("/", 1)[0])])
            if all(x.parent != parent for x in edges):
                edges.append(e)
                resolved += 1
        notes = {
            "importer": "ecosystem-graphs",
            "file": rel,
            "name": _text(item.get("name")),
            "eg": {str(k): plain(v) for k, v in item.items() if k not in ("type", "name", "description", "sample")},
            "license_mapped": lic_note,
            "prohibited_uses_mapped": matches,
        }
        assets.append(Asset(
            id=aid, kind=kind, name=aid.split("/", 1)[1].rsplit("@", 1)[0], version=version,
            description=_text(item.get("description")),
            licenses=lics, deny=tuple(m["use"] for m in matches),
            derived_from=tuple(edges), notes=notes,
        ))
    assets = break_cycles(assets, report, sources)
    report.stats = {
        "assets": len(assets),
        "dependencies_resolved": resolved,
        "dependencies_dangling": len(report.dangling),
        "dependencies_matched_loosely": guessed,
        "prohibited_uses": {"mapped": mapped_uses, "unmapped": unmapped_uses},
    }
    return Import(assets, sources, report)


# --- helpers ----------------------------------------------------------------------------


def _files(root: Path) -> list[Path]:
    files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files and (root / "assets").is_dir():
        return _files(root / "assets")
    return files


def _value(x):
    """Ecosystem Graphs writes any field either plainly or as {value, explanation}."""
    if isinstance(x, dict) and "value" in x:
        return x["value"]
    return x


def _text(x) -> str:
    v = _value(x)
    if v is None:
        return ""
    if isinstance(v, list):
        return "; ".join(_text(i) for i in v if _text(i))
    return str(plain(v)).strip()


def _loose(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())


def _identity(item, where: str, i: int) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise InvalidInput("an asset must be a mapping", hint="write each asset as '- type: model' followed by its fields", where=where, field=f"[{i}]")
    kind = _text(item.get("type")).lower()
    if kind not in KINDS:
        line = f"{where.rsplit(':', 1)[0]}:{item.line_of('type')}" if isinstance(item, LineDict) and "type" in item else where
        raise InvalidInput(f"unknown type {kind!r}" if kind else "missing field 'type'", hint=f"type is one of {', '.join(KINDS)}", where=line, field=f"[{i}].type")
    name = _text(item.get("name"))
    if not name:
        raise InvalidInput("missing field 'name'", hint="give every asset a name (other assets refer to it in their dependencies)", where=where, field=f"[{i}].name")
    return kind, name


def _deps(x) -> list[str]:
    v = _value(x)
    if v is None:
        return []
    if isinstance(v, str):
        return [] if v.strip().lower() in NO_VALUE else [v.strip()]
    if isinstance(v, list):
        out = []
        for d in v:
            t = _text(d)
            if t and t.lower() not in NO_VALUE and t not in out:
                out.append(t)
        return out
    return [_text(v)]


def _find(dep: str, aid: str, exact: dict, loose: dict, resolve: Resolver | None) -> tuple[str | None, str]:
    """The asset a dependency name means (not ``aid`` itself when another asset has the name),
    and a note when it matched only loosely."""
    kind = aid.split("/", 1)[0]
    how = ""
    cands = [c for c in exact.get(dep) or [] if c != aid]
    if not cands:
        cands = [c for c in loose.get(_loose(dep)) or [] if c != aid]
        how = "same name ignoring case and punctuation" if cands else ""
    if not cands and aid in (exact.get(dep) or loose.get(_loose(dep)) or []):
        return aid, ""
    if cands:
        order = PREFER[kind]
        return min(cands, key=lambda c: order.index(c.split("/", 1)[0])), how
    if resolve is not None:
        for k in PREFER[kind]:
            hit = resolve(k, slug(dep))
            if hit:
                return hit, "an asset already in the registry"
    return None, ""


def _licenses(x, table: LicenseTable, report: Report, aid: str) -> tuple[tuple[str, ...], dict]:
    """Licence field -> licence ids (unknown names kept as written, so they deny commercial use)."""
    text = _text(x)
    note = {"text": text}
    low = text.lower().strip(" .")
    if low in NO_VALUE or low in NO_TERMS:
        note["as"] = []
        note["why"] = "no licence given: unspecified (commercial use not permitted)" if low in NO_VALUE else f"{text!r} names no known terms: unspecified"
        return (), note
    for candidate in (text, re.sub(r"\([^)]*\)", "", text).strip()):
        lic = table.lookup(candidate)
        if lic.known:
            ids = () if lic.id == UNSPECIFIED else (lic.id,)
            note["as"] = list(ids)
            return ids, note
    parts = [p.strip() for p in re.split(r";|,|/|\band\b|\bor\b|\+", re.sub(r"\([^)]*\)", "", text)) if p.strip()]
    found = [table.lookup(p) for p in parts]
    if len(parts) > 1 and all(f.known for f in found):
        ids = tuple(dict.fromkeys(f.id for f in found if f.id != UNSPECIFIED))
        note["as"] = list(ids)
        note["why"] = "several licences named: each one counts"
        return ids, note
    report.unmapped(text, aid)
    note["as"] = [text]
    note["why"] = "not in the licence table: treated like an unspecified licence"
    return (text,), note
