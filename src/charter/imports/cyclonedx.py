"""A CycloneDX BOM (JSON, spec 1.4 to 1.6) -> assets: the metadata component and every component,
nested ones included, of type machine-learning-model (model), data (dataset), application, or
device (compute); other types (libraries, files...) are reported and skipped.

Read: ``bom-ref`` or the ``charter:id`` property (else ``kind/name@version`` from the component),
licences (SPDX id, name or expression, verbatim), ``pedigree.ancestors`` as lineage (the relation
from the ancestor's ``charter:relation``; an ancestor without one is reported, not linked: CycloneDX
does not say how a model derives from its ancestor), and Charter's namespaced properties
(exports/cyclonedx.py). The document is first validated against the CycloneDX JSON schema of its
``specVersion`` (cyclonedx-python-lib's JsonStrictValidator); the first violation is the error.
"""

from __future__ import annotations

import json
from pathlib import Path

from charter.core import vocab
from charter.imports import Report
from charter.imports.standards import Found, StandardImport, assemble, fail, guard, properties, read_json

KINDS = {"machine-learning-model": "model", "data": "dataset", "application": "application", "device": "compute"}
VERSIONS = {"1.4": "V1_4", "1.5": "V1_5", "1.6": "V1_6"}


def _validate(doc: dict, path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    spec = doc.get("specVersion")
    if spec not in VERSIONS:
        raise fail(path, "specVersion", f"specVersion {spec!r} is not read", f"export the BOM as CycloneDX {', '.join(VERSIONS)} JSON")
    e = next(_validator(JsonStrictValidator(getattr(SchemaVersion, VERSIONS[spec]))).iter_errors(doc), None)
    if e is not None:
        where = "/".join(str(x) for x in getattr(e, "absolute_path", ())) or "(document)"
        raise fail(path, where, f"not valid CycloneDX {spec}: {' '.join(str(getattr(e, 'message', e)).split())[:200]}",
                   f"fix that field so the BOM validates against the CycloneDX {spec} schema")


def _validator(strict):
    """The library's strict schema validator with one keyword done in linear time: jsonschema checks
    ``uniqueItems`` over objects pair by pair, so a 10,000-component BOM took minutes; here each item is compared
    by its canonical JSON (numbers compare as written: 1 and 1.0 count as different, which no CycloneDX array holds)."""
    from jsonschema import ValidationError, validators

    base = strict._validator

    def unique_items(validator, wanted, instance, schema):
        if wanted and validator.is_type(instance, "array"):
            seen = {json.dumps(x, sort_keys=True) for x in instance}
            if len(seen) != len(instance):
                yield ValidationError("the array has repeated items (uniqueItems)")

    cls = validators.extend(type(base), {"uniqueItems": unique_items})
    return cls(base.schema, registry=base._registry, format_checker=base.format_checker)


def _licences(c: dict) -> list[str]:
    out = []
    for entry in c.get("licenses") or ():
        if "expression" in entry:
            out.append(entry["expression"])
        elif "license" in entry:
            lic = entry["license"]
            out.append(lic.get("id") or lic.get("name"))
    return [x for x in out if x]


def _pid(c: dict) -> str | None:
    props = {p.get("name"): p.get("value") for p in c.get("properties") or ()}
    return props.get(vocab.P_ID) or c.get("bom-ref")


def _is_id(text) -> bool:
    from charter.core.ids import parse_id
    from charter.errors import InvalidInput

    try:
        parse_id(text)
        return True
    except InvalidInput:
        return False


def load(path: Path, licenses, taxonomy, known) -> StandardImport:
    path = Path(path)
    doc = read_json(path, "CycloneDX")
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise fail(path, "bomFormat", "not a CycloneDX BOM", 'pass a CycloneDX JSON document ("bomFormat": "CycloneDX")')
    guard(path, "CycloneDX", _validate, doc, path)
    report = Report("cyclonedx", str(path), files=1)
    found: list[Found] = []
    top = ([("metadata/component", doc["metadata"]["component"])] if "component" in (doc.get("metadata") or {}) else [])
    stack = top + [(f"components/{i}", c) for i, c in enumerate(doc.get("components") or ())]
    while stack:
        where, c = stack.pop(0)
        stack += [(f"{where}/components/{i}", x) for i, x in enumerate(c.get("components") or ())]
        kind = KINDS.get(c.get("type"))
        if kind is None:
            report.skip(c.get("name", "?"), where, f"component type {c.get('type')!r} is not a model, dataset, application or device: skipped")
            continue
        f = Found(where=where, kind=kind, name=c.get("name") or "", version=c.get("version") or "", description=c.get("description") or "",
                  licenses=_licences(c))
        properties(f, [(p.get("name"), p.get("value")) for p in c.get("properties") or ()], report)
        if not f.id and _is_id(c.get("bom-ref")):
            f.id = c["bom-ref"]
        for j, anc in enumerate((c.get("pedigree") or {}).get("ancestors") or ()):
            props = {p.get("name"): p.get("value") for p in anc.get("properties") or ()}
            parent = _pid(anc)
            if not parent:
                k = KINDS.get(anc.get("type"))
                parent = f"{k}/{anc.get('name')}@{anc.get('version')}" if k and anc.get("name") and anc.get("version") else (anc.get("name") or "?")
            f.edges.append((parent, props.get(vocab.P_RELATION), f"{where}/pedigree/ancestors/{j}"))
        found.append(f)
    return assemble(found, importer="cyclonedx", path=path, taxonomy=taxonomy, licenses=licenses, known=known, report=report)
