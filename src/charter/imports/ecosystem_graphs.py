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

Each asset becomes ``<type>/<slug of name>@<version>``; ids are injective: entries whose
slugs collide get a distinct id (:func:`_assign_ids`, reported in ``report.renamed``), so
every entry is imported. Its ``license`` is mapped onto the licence table; ``prohibited_uses``
free text is mapped to use ids by the phrase table (resources/use_phrases.yaml) and denied;
the original text stays in ``notes``. Dependencies are resolved by name (in the input, then
in the registry); the relation follows from the two kinds (:data:`RELATION`). Dependencies
that resolve to nothing are reported as dangling and left out. ``report.stats["coverage"]``
says how much of the input was understood (:func:`_coverage`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.files import LineDict, load_document, resource
from charter.core.ids import make_id, slug, valid_version
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

KINDS = ("dataset", "model", "application")  # Ecosystem Graphs' types (charter's compute kind is not one)
PREFER = {"model": ("dataset", "model", "application"), "dataset": ("dataset", "model", "application"), "application": ("model", "application", "dataset")}
"""When a dependency name matches assets of several kinds, the first kind listed wins."""

NO_VALUE = {"", "none", "none.", "unknown", "unknkown", "n/a", "na", "tbd", "todo", "not specified", "unspecified", "?", "-"}
NO_TERMS = {"custom", "proprietary", "closed", "closed source", "restricted"}
"""Licence words that say terms exist but not what they are: unspecified (no commercial use)."""

EG_NAMES = {
    "apple": "Apple Sample Code License",  # OpenELM's licence, and the LICENSE that Ferret's entry links to
    "mc4": "ODC-By-1.0",  # CulturaX "mC4, OSCAR": it keeps the licences of its sources; mC4's release is ODC-By 1.0
    "oscar": "CC0-1.0",  # OSCAR's packaging is CC0 (the texts keep their owners' rights, as in any web crawl)
}
"""Ecosystem Graphs' own shorthand for a licence (matched like licence names) -> a name in the licence table."""

EG_TEXTS = (
    (re.compile(r"\bThe Stack\b.*\boriginal licen[cs]es\b", re.IGNORECASE | re.DOTALL), "The Stack Terms of Use"),
    (re.compile(r"\bCohere platform users\b", re.IGNORECASE), "Cohere Terms of Use"),
    (re.compile(r"\bspecific licen[cs]e unknown\b", re.IGNORECASE), UNSPECIFIED),
)
"""Licence fields written as a sentence -> the licence they describe (``unspecified``: the sentence says it is unknown)."""

SPELLED = {"+": " plus ", "#": " sharp ", "&": " and ", "@": " at ", "*": " star "}
"""Symbols a slug drops, spelled out to tell colliding names apart ("Command R+" -> command-r-plus)."""


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

    entries: list[tuple[str, str, str, str, dict]] = []  # (kind, name, file name, file:line, item)
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
            entries.append((kind, name, path.relative_to(root).as_posix(), where, item))
    ids = _assign_ids([(k, n, rel, where) for k, n, rel, where, _ in entries], version, report)
    items = [(aid, rel, where, item) for aid, (_, _, rel, where, item) in zip(ids, entries)]
    home = {aid: rel for aid, rel, _, _ in items}

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
            parent, how = _find(dep, aid, exact, loose, resolve, home)
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
    report.stats["coverage"] = _coverage(entries, assets, report)
    return Import(assets, sources, report)


def _assign_ids(entries: list[tuple[str, str, str, str]], version: str, report: Report) -> list[str]:
    """One distinct id per entry (kind, name, file, file:line), whatever order the files are read in.

    An id is ``kind/<slug of name>``. When several entries share one, a single entry keeps
    it: the one whose name the slug spells without loss ("Command R" for command-r, not
    "Command R+"), else the first by file name and position. Each other entry gets, in that
    order, the first free of: its name with symbols spelled out (command-r-plus), the slug
    plus its file's name (gpt-4o-openx: the same name in another organisation's file), the
    slug plus a number. Every renaming is reported in ``report.renamed``.
    """
    order = sorted(range(len(entries)), key=lambda i: (entries[i][2], _line_no(entries[i][3]), i))
    groups: dict[tuple[str, str], list[int]] = {}
    for i in order:
        kind, name = entries[i][0], entries[i][1]
        groups.setdefault((kind, slug(name)), []).append(i)
    out: list[str] = [""] * len(entries)
    taken: set[tuple[str, str]] = set()
    rest: list[tuple[int, int]] = []  # (entry, the entry that kept the id)
    for (kind, base), members in groups.items():
        keep = next((i for i in members if _lossless(entries[i][1]) == base), members[0])
        out[keep] = make_id(kind, base, version)
        taken.add((kind, base))
        rest += [(i, keep) for i in members if i != keep]
    pos = {i: n for n, i in enumerate(order)}
    for i, keep in sorted(rest, key=lambda r: pos[r[0]]):
        kind, name, rel, where = entries[i]
        base = slug(name)
        stem = slug(Path(rel).stem)
        candidates = [slug(_spell(name)), f"{base}-{stem}"] + [f"{base}-{n}" for n in range(2, len(entries) + 2)]
        new = next(c for c in candidates if c != base and (kind, c) not in taken)
        taken.add((kind, new))
        out[i] = make_id(kind, new, version)
        other = entries[keep]
        shared = f"the entry at {other[3]} has the same name" if other[1] == name else f"{other[1]!r} ({other[3]}) has the same slug"
        report.renamed.append({"item": name, "asset": out[i], "where": where,
                               "reason": f"{shared} and keeps {out[keep]}"})
    return out


def _coverage(entries: list, assets: list[Asset], report: Report) -> dict:
    """How much of the input was understood: entries imported, licence strings and
    prohibited-use texts mapped, dependencies linked (the figures in docs/importers.md)."""
    strings: dict[str, dict] = {}  # licence text -> {"class", "count"}
    missing = 0
    for a in assets:
        m = a.notes["license_mapped"]
        if not m["text"]:
            missing += 1
            continue
        s = strings.setdefault(m["text"], {"class": m["class"], "count": 0})
        s["count"] += 1
    mapped = {t: s for t, s in strings.items() if s["class"] in ("named", "none")}
    pu = report.stats["prohibited_uses"]
    dangling_names = {d["dependency"] for d in report.dangling}
    return {
        "entries": len(entries),
        "imported": len(assets),
        "renamed": len(report.renamed),
        "licenses": {
            "strings": len(strings),
            "strings_mapped": len(mapped),
            "entries": sum(s["count"] for s in strings.values()),
            "entries_mapped": sum(s["count"] for s in mapped.values()),
            "entries_without_license": missing,
            "by_class": {c: {"strings": sum(1 for s in strings.values() if s["class"] == c),
                             "entries": sum(s["count"] for s in strings.values() if s["class"] == c)}
                         for c in LICENSE_CLASSES},
            "not_mapped": [{"license": t, "class": s["class"], "count": s["count"]}
                           for t, s in sorted(strings.items(), key=lambda x: (-x[1]["count"], x[0])) if t not in mapped],
        },
        "prohibited_uses": {"texts": len(pu["mapped"]) + len(pu["unmapped"]), "matched": len(pu["mapped"])},
        "dependencies": {"resolved": report.stats["dependencies_resolved"], "dangling": len(report.dangling),
                         "dangling_names": len(dangling_names)},
    }


LICENSE_CLASSES = ("named", "none", "unnamed", "unmapped")
"""How a licence text was mapped: ``named`` licences of the table; ``none``: the text says
there is no licence or it is unknown (unspecified); ``unnamed``: terms exist but are not
named ("custom", "proprietary": unspecified); ``unmapped``: not in the licence table."""


# --- helpers ----------------------------------------------------------------------------


def _files(root: Path) -> list[Path]:
    files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files and (root / "assets").is_dir():
        return _files(root / "assets")
    return files


def _value(x):
    """Ecosystem Graphs writes any field either plainly or as {value, explanation}; an
    explanation without a value (or ``{}``) is a missing value."""
    if isinstance(x, dict) and ("value" in x or "explanation" in x or not x):
        return x.get("value")
    return x


def _text(x) -> str:
    v = _value(x)
    if v is None:
        return ""
    if isinstance(v, list):
        return "; ".join(_text(i) for i in v if _text(i))
    return str(plain(v)).strip()


def _loose(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", _spell(name).lower())


def _spell(name: str) -> str:
    return "".join(SPELLED.get(c, c) for c in name)


def _lossless(name: str) -> str:
    """The slug a name would have if slugging lost nothing but case and spaces."""
    return re.sub(r"\s+", "-", name.strip().lower())


def _line_no(where: str) -> int:
    tail = where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


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


def _find(dep: str, aid: str, exact: dict, loose: dict, resolve: Resolver | None,
          home: dict[str, str] | None = None) -> tuple[str | None, str]:
    """The asset a dependency name means (not ``aid`` itself when another asset has the name),
    and a note when it matched only loosely or among several assets of one name."""
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
        best = [c for c in cands if c.split("/", 1)[0] == min((c.split("/", 1)[0] for c in cands), key=order.index)]
        if len(best) == 1:
            return best[0], how
        # Several assets of that kind share the name (one per organisation file): the
        # dependent's own file is the likeliest meaning, else the one that kept the plain id.
        home = home or {}
        same = [c for c in best if home.get(c) == home.get(aid)]
        pick = same[0] if same else best[0]
        why = "in the same file" if same else "the one that kept the plain id"
        return pick, f"{len(best)} assets have this name: {why}" + (f"; {how}" if how else "")
    if resolve is not None:
        for k in PREFER[kind]:
            hit = resolve(k, slug(dep))
            if hit:
                return hit, "an asset already in the registry"
    return None, ""


def _licenses(x, table: LicenseTable, report: Report, aid: str) -> tuple[tuple[str, ...], dict]:
    """Licence field -> licence ids (unknown names kept as written, so they deny commercial use).
    ``note["class"]`` is one of :data:`LICENSE_CLASSES`."""
    text = _text(x)
    note = {"text": text}
    low = text.lower().strip(" .")
    if low in NO_VALUE or low in NO_TERMS:
        note["as"] = []
        note["class"] = "none" if low in NO_VALUE else "unnamed"
        note["why"] = "no licence given: unspecified (commercial use not permitted)" if low in NO_VALUE else f"{text!r} names no known terms: unspecified"
        return (), note
    bare = re.sub(r"\[\[?([^\]]*)\]?\]\([^)]*\)", "", text)  # markdown links: [[Terms of Use]](https://...)
    for rx, name in EG_TEXTS:
        if rx.search(bare):
            lic = table.lookup(name)
            ids = () if lic.id == UNSPECIFIED else (lic.id,)
            note.update({"as": list(ids), "class": "named" if ids else "none",
                         "why": f"the text describes {lic.id}" if ids else "the text says the licence is unknown: unspecified"})
            return ids, note
    for candidate in (bare, re.sub(r"\([^)]*\)", "", bare).strip()):
        lic = _lookup(table, candidate)
        if lic.known:
            ids = () if lic.id == UNSPECIFIED else (lic.id,)
            note["as"] = list(ids)
            note["class"] = "named" if ids else "none"
            return ids, note
    parts = [p.strip() for p in re.split(r";|,|/|\band\b|\bor\b|\+", re.sub(r"\([^)]*\)", "", bare)) if p.strip()]
    found = [_lookup(table, p) for p in parts]
    if len(parts) > 1 and all(f.known for f in found):
        # "unknown (model weights), Apache 2.0 (code)": the unknown part still counts, so it
        # stays as `unspecified` (an asset with only Apache-2.0 would allow commercial use).
        ids = tuple(dict.fromkeys(f.id for f in found))
        if set(ids) == {UNSPECIFIED}:
            ids = ()
        note["as"] = list(ids)
        note["class"] = "named" if ids else "none"
        note["why"] = "several licences named: each one counts"
        return ids, note
    report.unmapped(text, aid)
    note["as"] = [text]
    note["class"] = "unmapped"
    note["why"] = "not in the licence table: treated like an unspecified licence"
    return (text,), note


def _lookup(table: LicenseTable, name: str):
    lic = table.lookup(name)
    if lic.known:
        return lic
    alias = EG_NAMES.get(re.sub(r"[^a-z0-9]+", " ", name.lower()).strip())
    return table.lookup(alias) if alias else lic
