"""Data Provenance Initiative (DPI) summaries -> dataset assets and the models that generated them.

Input: the root of a Data-Provenance-Collection checkout::

    data_summaries/*.json          {uid: {"Licenses": [{"License", "License URL"}], "Inferred Metadata": {...},
                                          "Model Generated": [...], "Derived from Datasets": [...], ...}}
    constants/license_classes.json         licence name -> [use class, attribution, share-alike]
    constants/custom_license_classes.json  licence URL (for "Custom") -> the same triple
    constants/model_groups.json            group -> model names

Each dataset becomes ``dataset/<slug of its Unique Dataset Identifier>@<version>`` carrying
*every* licence any source gives it: DPI's own annotation plus the licences inferred from
Hugging Face (YAML and config), GitHub and Papers with Code. Charter's rule then lets the
most restrictive one win. DPI's own filter does the opposite across sources (a dataset
passes if any one source is permissive enough); :func:`dpi_license_use` reproduces DPI's
classification so both can be compared (docs/importers.md).

"Model Generated" entries become ``model/<slug>@<version>`` assets (licence per
resources/dpi_models.yaml) linked by ``trained-on-outputs-of``; "Derived from Datasets"
entries that name another DPI dataset become ``curated-from`` links, the rest dangle.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.files import load_document, resource
from charter.core.ids import make_id, slug, valid_version
from charter.errors import InvalidInput
from charter.imports import Import, Report, break_cycles
from charter.policy.licenses import LicenseTable

VERSION = "dpi"
MODALITIES = {"text": "data_summaries", "speech": "data_summaries-speech", "video": "data_summaries-video"}
SOURCES = ("DataProvenance", "HuggingFace", "GitHub", "PapersWithCode")
INFERRED = (
    ("HuggingFace", "HF Yaml License"),
    ("HuggingFace", "HF Config License"),
    ("GitHub", "GitHub License"),
    ("PapersWithCode", "PwC License Name"),
)
CUSTOM = {"All": "DPI-class-All", "NC": "DPI-class-NC", "Acad": "DPI-class-Acad"}
URL_FIELDS = ("Dataset URL", "Hugging Face URL", "GitHub URL", "Papers with Code URL", "ArXiv URL", "Paper URL", "Website URL", "Collection URL")
_HINT_ROOT = "pass the root of a Data-Provenance-Collection checkout (it holds data_summaries/ and constants/)"


def load(root: Path, licenses: LicenseTable, *, version: str = VERSION, modalities: tuple[str, ...] = ("text",)) -> Import:
    root = Path(root)
    if not valid_version(version):
        raise InvalidInput(f"invalid version {version!r}", hint="use letters, digits and . _ + -", field="--version")
    if not root.is_dir():
        raise InvalidInput("not a directory" if root.exists() else "directory not found", hint=_HINT_ROOT, where=str(root))
    consts = root / "constants"
    classes, _ = _read_json(consts / "license_classes.json", dict)
    custom, _ = _read_json(consts / "custom_license_classes.json", dict)
    groups, _ = _read_json(consts / "model_groups.json", dict)
    model_rules = load_document(resource("dpi_models.yaml"))
    report = Report("dpi", str(root))

    records = _read_records(root, modalities, report)
    names = _names(records, report)
    by_uid_lower = {uid.lower(): names[uid] for uid in records}
    models = _Models(groups, model_rules, licenses, version)
    assets: list[Asset] = []
    sources: dict[str, str] = {}
    use_counts = {s: {} for s in SOURCES}
    commercial = {s: 0 for s in SOURCES + ("any",)}
    custom_counts: dict[str, int] = {}

    for uid, (rel, where, rec, at) in records.items():
        aid = make_id("dataset", names[uid], version)
        sources[aid] = where
        lic_ids, lic_notes, duties = [], [], []
        for src, name, url, field in _license_entries(rec, where):
            if name == "Custom":
                cls = _custom_class(custom, url)
                custom_counts[cls[0]] = custom_counts.get(cls[0], 0) + 1
                lic = CUSTOM.get(cls[0], "unspecified")
                duties += [d for d, flag in (("attribution", cls[1]), ("share-alike", cls[2])) if flag != "0"]
            else:
                found = licenses.lookup(name)
                lic = found.id if found.known else name
                for u in licenses.unknown(name):  # the name itself, or an expression's unknown parts
                    report.unmapped(u, aid)
            if lic not in lic_ids:
                lic_ids.append(lic)
            entry = {"source": src, "license": name, "as": lic}
            if field:
                entry["field"] = field
            if url:
                entry["url"] = url
            lic_notes.append(entry)
        use = dpi_license_use(rec, classes, custom)
        for s in SOURCES:
            use_counts[s][use[s]] = use_counts[s].get(use[s], 0) + 1
            commercial[s] += use[s] == "commercial"
        commercial["any"] += any(use[s] == "commercial" for s in SOURCES)

        edges: list[Edge] = []
        for m in _str_list(rec, "Model Generated", where):
            mid = models.add(m, at("Model Generated"))
            if mid and Edge(aid, mid, "trained-on-outputs-of") not in edges:
                edges.append(Edge(aid, mid, "trained-on-outputs-of"))
        for d in _str_list(rec, "Derived from Datasets", where):
            parent = by_uid_lower.get(d.strip().lower())
            if parent is None:
                report.dangle(aid, d, at("Derived from Datasets"), "not a dataset of this DPI snapshot (kept in notes)")
            elif parent != names[uid]:
                e = Edge(aid, make_id("dataset", parent, version), "curated-from")
                if e not in edges:
                    edges.append(e)

        notes = {
            "importer": "dpi",
            "file": rel,
            "uid": uid,
            "dataset_name": rec.get("Dataset Name") or uid,
            "collection": rec.get("Collection") or "",
            "urls": {f: rec[f] for f in URL_FIELDS if isinstance(rec.get(f), str) and rec[f].strip()},
            "licenses": lic_notes,
            "license_notes": rec.get("License Notes") or "",
            "dpi_license_use": use,
            "model_generated": _str_list(rec, "Model Generated", where),
            "derived_from_datasets": _str_list(rec, "Derived from Datasets", where),
            "creators": rec.get("Creators") if isinstance(rec.get("Creators"), list) else [],
        }
        assets.append(Asset(
            id=aid, kind="dataset", name=names[uid], version=version,
            description=str(rec.get("Dataset Name") or uid).strip(),
            licenses=tuple(lic_ids), duties=tuple(dict.fromkeys(duties)),
            derived_from=tuple(edges), notes=notes,
        ))

    for key, wheres in models.skipped.items():
        report.skip(key, wheres[0], f"not a model: DPI's name for data generated from {key} "
                    f"({len(wheres)} dataset{'s' * (len(wheres) != 1)}; no upstream asset)")
    model_assets = models.assets()
    for a in model_assets:
        sources[a.id] = str(root / "constants" / "model_groups.json")
    out = break_cycles(model_assets + assets, report, sources)
    report.stats = {
        "modalities": list(modalities),
        "datasets": len(assets),
        "models": len(model_assets),
        "dpi_license_use": use_counts,
        "dpi_commercial": commercial,
        "custom_license_classes": dict(sorted(custom_counts.items())),
    }
    return Import(out, sources, report)


def dpi_license_use(rec: dict, classes: dict, custom: dict) -> dict[str, str]:
    """DPI's own per-source classification (src/helpers/filters.py, ``map_license_criteria``).

    Within one source the most restrictive licence wins ('?' and 'Acad' -> academic-only,
    then NC -> non-commercial, Unspecified -> unspecified, else commercial); a source that
    says nothing gives "". DPI's filter then keeps a dataset if ANY selected source is
    permissive enough: across sources the most permissive wins.
    """
    per: dict[str, list[str]] = {s: [] for s in SOURCES}
    for lic in rec.get("Licenses") or []:
        if not isinstance(lic, dict):
            continue
        name = lic.get("License")
        if name == "Custom":
            per["DataProvenance"].append(_custom_class(custom, lic.get("License URL"))[0])
        else:
            per["DataProvenance"].append((classes.get(name) or ["?"])[0])
    inferred = rec.get("Inferred Metadata") or {}
    for src, field in INFERRED:
        name = inferred.get(field) if isinstance(inferred, dict) else None
        if name:
            per[src].append((classes.get(name) or ["?"])[0])
    return {s: _resolve(per[s]) for s in SOURCES}


def _resolve(use_cases: list[str]) -> str:
    if not use_cases:
        return ""
    if "?" in use_cases or "Acad" in use_cases:
        return "academic-only"
    if "NC" in use_cases:
        return "non-commercial"
    if "Unspecified" in use_cases:
        return "unspecified"
    return "commercial"


def _custom_class(custom: dict, url) -> tuple[str, str, str]:
    cls = custom.get(url) or custom.get(str(url or "").strip())
    if isinstance(cls, list) and len(cls) == 3:
        return str(cls[0]), str(cls[1]), str(cls[2])
    return "?", "?", "?"


# --- reading -------------------------------------------------------------------------


def _read_json(path: Path, expect: type):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput("file not found", hint=_HINT_ROOT, where=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read file: {e}", hint="pass a readable UTF-8 JSON file", where=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"malformed JSON: {e.msg}", hint="fix the JSON syntax (or restore the file from the DPI repository)", where=f"{path}:{e.lineno}") from None
    if not isinstance(data, expect):
        raise InvalidInput(f"expected a JSON {'object' if expect is dict else 'array'} at the top level", hint="restore the file from the DPI repository", where=f"{path}:1")
    return data, text


def _line(text: str, needle: str, start: int = 0) -> tuple[int, int]:
    """(1-based line, offset) of the first ``needle`` at or after ``start``; (0, start) if absent."""
    i = text.find(needle, start)
    return (text.count("\n", 0, i) + 1, i) if i >= 0 else (0, start)


def _read_records(root: Path, modalities: tuple[str, ...], report: Report) -> dict[str, tuple]:
    """uid -> (file relative to root, "file:line", record, field -> "file:line"), in sorted file order;
    duplicates skipped."""
    out: dict[str, tuple] = {}
    for modality in modalities:
        if modality not in MODALITIES:
            raise InvalidInput(f"unknown modality {modality!r}", hint=f"choose from {', '.join(MODALITIES)}", field="--modality")
        folder = root / MODALITIES[modality]
        if not folder.is_dir():
            raise InvalidInput(f"no {MODALITIES[modality]}/ folder", hint=_HINT_ROOT, where=str(folder))
        for path in sorted(folder.glob("*.json")):
            rel = path.relative_to(root).as_posix()
            if path.name.startswith("_"):
                report.skip(rel, str(path), "schema template, not data (file name starts with '_')")
                continue
            data, text = _read_json(path, dict)
            report.files += 1
            pos = 0
            for key, rec in data.items():
                line, pos = _line(text, json.dumps(key, ensure_ascii=False) + ":", pos)
                where = f"{path}:{line}" if line else str(path)
                if not isinstance(rec, dict):
                    raise InvalidInput(f"dataset {key!r} is not a JSON object", hint="each value must be an object of dataset fields", where=where)
                uid = rec.get("Unique Dataset Identifier", key)
                if not isinstance(uid, str) or not uid.strip():
                    raise InvalidInput(f"dataset {key!r} has no 'Unique Dataset Identifier'", hint="give each dataset a non-empty identifier", where=where, field="Unique Dataset Identifier")
                lics = rec.get("Licenses")
                if not isinstance(lics, list) or not all(isinstance(x, dict) and isinstance(x.get("License"), str) for x in lics):
                    raise InvalidInput(f"dataset {uid!r}: 'Licenses' must be a list of {{\"License\": name, \"License URL\": url}}",
                                       hint="fix the entry (see data_summaries/_template.json)", where=_locator(path, text, pos)("Licenses"), field="Licenses")
                if uid in out:
                    first, _, kept, _ = out[uid]
                    same = kept == rec
                    report.skip(uid, where, f"duplicate of the dataset in {first}" + (" (identical record)" if same else " (different record; the first is kept)"))
                    continue
                out[uid] = (rel, where, rec, _locator(path, text, pos))
    return out


def _locator(path: Path, text: str, start: int):
    """field -> "file:line" of that field's first occurrence after ``start`` (the record's key)."""

    def at(field: str) -> str:
        line, _ = _line(text, json.dumps(field) + ":", start)
        return f"{path}:{line or _line(text, '', start)[0]}"

    return at


def _names(records: dict, report: Report) -> dict[str, str]:
    """uid -> asset name: its slug, or slug-<hash> where two identifiers share a slug."""
    groups: dict[str, list[str]] = {}
    for uid in records:
        groups.setdefault(slug(uid), []).append(uid)
    names: dict[str, str] = {}
    for s, uids in groups.items():
        if len(uids) == 1:
            names[uids[0]] = s
            continue
        lossless = [u for u in uids if s == u.strip().lower()]
        for u in uids:
            if len(lossless) == 1 and u == lossless[0]:
                names[u] = s
                continue
            names[u] = f"{s}-{hashlib.sha1(u.encode()).hexdigest()[:6]}"
            others = ", ".join(repr(o) for o in uids if o != u)
            report.renamed.append({"item": u, "asset": names[u], "reason": f"its slug {s!r} is shared with {others}"})
    return names


def _license_entries(rec: dict, where: str):
    """(source, licence name, url, inferred field) for every licence statement of a record."""
    for lic in rec.get("Licenses") or []:
        yield "DataProvenance", lic["License"].strip(), (lic.get("License URL") or "").strip(), ""
    inferred = rec.get("Inferred Metadata") or {}
    if not isinstance(inferred, dict):
        raise InvalidInput("'Inferred Metadata' must be an object", hint="fix the entry (see data_summaries/_template.json)", where=where, field="Inferred Metadata")
    for src, field in INFERRED:
        name = inferred.get(field)
        if isinstance(name, str) and name.strip():
            yield src, name.strip(), "", field


def _str_list(rec: dict, field: str, where: str) -> list[str]:
    value = rec.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"'{field}' must be a list of strings", hint="fix the entry (see data_summaries/_template.json)", where=where, field=field)
    return [v for v in value if v.strip()]


class _Models:
    """The distinct generating models, one asset each (names compared by slug: case and punctuation aside)."""

    def __init__(self, groups: dict, doc: dict, licenses: LicenseTable, version: str):
        self.version = version
        self.licenses = licenses
        self.spelling: dict[str, str] = {}
        self.group: dict[str, str] = {}
        for g, members in groups.items():
            for m in members if isinstance(members, list) else []:
                self.spelling.setdefault(slug(m), m.strip())
                self.group.setdefault(slug(m), g)
        self.group_license = dict(doc.get("groups") or {})
        self.rules = [(re.compile(r["match"], re.IGNORECASE), r["license"], r.get("why", "")) for r in doc.get("rules") or []]
        self.not_models = {slug(str(x)) for x in doc.get("not_models") or []}
        self.seen: dict[str, set[str]] = {}  # key -> spellings seen
        self.skipped: dict[str, list[str]] = {}

    def add(self, name: str, where: str) -> str | None:
        key = slug(name)
        if key in self.not_models:
            self.skipped.setdefault(key, []).append(where)
            return None
        self.spelling.setdefault(key, name.strip())
        self.seen.setdefault(key, set()).add(name.strip())
        return make_id("model", key, self.version)

    def _license(self, key: str) -> tuple[tuple[str, ...], str]:
        g = self.group.get(key)
        if g in self.group_license:
            return (self.group_license[g],), f"DPI model group {g!r} (constants/model_groups.json)"
        for rx, lic, why in self.rules:
            if rx.search(self.spelling[key]):
                return (lic,), why
        return (), "no known licence for this model: unspecified (commercial use not permitted)"

    def assets(self) -> list[Asset]:
        out = []
        for key in self.seen:
            name = self.spelling[key]
            lics, why = self._license(key)
            for lic in lics:
                if not self.licenses.lookup(lic).known:
                    raise InvalidInput(f"licence {lic!r} of model {name!r} is not in the licence table", hint="fix resources/dpi_models.yaml", where=str(resource("dpi_models.yaml")))
            desc = (f"A model DPI records only as {name!r} (unnamed); its outputs are in DPI datasets" if key == "other"
                    else f"{name}: a model whose outputs are part of DPI datasets")
            out.append(Asset(
                id=make_id("model", key, self.version), kind="model", name=key, version=self.version,
                description=desc, licenses=lics,
                notes={"importer": "dpi", "dpi_model": name, "dpi_group": self.group.get(key, ""),
                       "spellings": sorted(self.seen[key]), "license_basis": why},
            ))
        return out
