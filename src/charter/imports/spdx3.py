"""An SPDX 3 document (JSON-LD, 3.0.1) -> assets, read with spdx-python-model's deserializer
(its own type and value checks; the context is the bindings', nothing is fetched).

Elements read: ``ai_AIPackage`` (model), ``dataset_DatasetPackage`` (dataset), ``software_Package``
with primary purpose application or device (application, compute); other elements are counted,
other packages reported and skipped. Per package: ``spdxId`` (``charter:asset/ID``) or the
``charter:id`` entry (else ``kind/name@version`` from name and ``software_packageVersion``),
``description``, each ``hasDeclaredLicense`` expression (a ``LicenseRef-`` whose text is in the
``charter:license`` entries is read as that licence; one that is not stays verbatim, reported as
unmapped), lineage from ``trainedOn`` / ``testedOn`` / ``descendantOf`` relationships (the Charter
relation from their ``charter:relation`` entry; ``trainedOn`` alone reads trained-on and ``testedOn``
evaluated-on, ``descendantOf`` alone is reported: it does not say how), and Charter's entries in
``extension_CdxPropertiesExtension``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from charter.core import vocab
from charter.imports import Report
from charter.imports.standards import Found, StandardImport, assemble, fail, guard, properties, read_json

DEFAULT_RELATIONS = {"trainedOn": "trained-on", "testedOn": "evaluated-on"}
LINEAGE = ("trainedOn", "testedOn", "descendantOf")


def licence_ref(name: str) -> str:
    """``LicenseRef-`` + the name with every character outside SPDX's idstring set as '-' (exports use it too)."""
    return "LicenseRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)


def _entries(obj) -> list[tuple[str, str]]:
    from spdx_python_model import v3_0_1 as s

    out = []
    for ext in getattr(obj, "extension", ()) or ():
        if isinstance(ext, s.extension_CdxPropertiesExtension):
            out += [(e.extension_cdxPropName, e.extension_cdxPropValue) for e in ext.extension_cdxProperty]
    return out


def _read(text: str):
    from spdx_python_model import v3_0_1 as s

    objset = s.SHACLObjectSet()
    s.JSONLDDeserializer().read(io.BytesIO(text.encode()), objset)
    return objset


def load(path: Path, licenses, taxonomy, known) -> StandardImport:
    from spdx_python_model import v3_0_1 as s

    path = Path(path)
    doc = read_json(path, "SPDX 3")
    if not isinstance(doc, dict) or "@graph" not in doc:
        raise fail(path, "@graph", "not an SPDX 3 JSON-LD document", "pass an SPDX 3.0.1 JSON-LD file (an object with @context and @graph)")
    if doc.get("@context") != "https://spdx.org/rdf/3.0.1/spdx-context.jsonld":
        raise fail(path, "@context", f"context {str(doc.get('@context'))[:100]!r} is not SPDX 3.0.1's", 'use "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"')
    import json

    objset = guard(path, "SPDX 3.0.1", _read, json.dumps(doc))
    report = Report("spdx3", str(path), files=1)
    found: dict[int, Found] = {}
    custom: dict[int, dict[str, str]] = {}
    for o in sorted(objset.foreach(), key=lambda o: str(o._id)):
        if not isinstance(o, s.software_Package):
            continue
        where = str(o._id or o.name)
        if isinstance(o, s.ai_AIPackage):
            kind = "model"
        elif isinstance(o, s.dataset_DatasetPackage):
            kind = "dataset"
        else:
            kind = {s.software_SoftwarePurpose.application: "application", s.software_SoftwarePurpose.device: "compute"}.get(o.software_primaryPurpose)
        if kind is None:
            report.skip(str(o.name), where, "software package that is not an application or a device: skipped")
            continue
        f = Found(where=where, kind=kind, name=o.name or "", version=o.software_packageVersion or "", description=o.description or "",
                  id=vocab.strip(str(o._id or ""), vocab.ASSET))
        pairs = _entries(o)
        properties(f, pairs, report)
        custom[id(o)] = {licence_ref(v): v for k, v in pairs if k == vocab.P_LICENSE}
        found[id(o)] = f
    rels = sorted((o for o in objset.foreach() if isinstance(o, s.Relationship)), key=lambda o: str(o._id))
    for r in rels:
        src = r.from_
        f = found.get(id(src)) if src is not None and not isinstance(src, str) else None
        if f is None:
            continue
        rtype = str(r.relationshipType).rsplit("/", 1)[-1]
        where = str(r._id or "relationship")
        if rtype == "hasDeclaredLicense":
            for to in r.to:
                expr = getattr(to, "simplelicensing_licenseExpression", None)
                if expr is None:
                    report.skip(str(to), where, "declared licence that is not a LicenseExpression: not read")
                    continue
                f.licenses.append(custom[id(src)].get(expr, expr))
        elif rtype in LINEAGE:
            given = dict(_entries(r)).get(vocab.P_RELATION)
            rel = given or DEFAULT_RELATIONS.get(rtype)
            for to in r.to:
                tid = to if isinstance(to, str) else to._id
                parent = vocab.strip(str(tid), vocab.ASSET)
                if parent is None and not isinstance(to, str) and id(to) in found:
                    parent = _fid(found[id(to)])
                f.edges.append((parent or str(tid), rel, f"{where} ({rtype})"))
    return assemble(list(found.values()), importer="spdx3", path=path, taxonomy=taxonomy, licenses=licenses, known=known, report=report)


def _fid(f: Found) -> str:
    return f.id or f"{f.kind}/{f.name}@{f.version}"
