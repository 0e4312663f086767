"""SPDX 3.0.1 (Core, Software, AI, Dataset, SimpleLicensing, Extension profiles) with spdx-python-model.

A model is an ``ai_AIPackage``, a dataset a ``dataset_DatasetPackage`` (``datasetType: noAssertion``:
the registry does not know the modality), an application a ``software_Package`` with primary purpose
``application``, a compute asset one with purpose ``device``; ``spdxId`` = ``charter:asset/ID``,
``name`` and ``software_packageVersion`` the id's name and version. Licences: one
``simplelicensing_LicenseExpression`` per licence with a ``hasDeclaredLicense`` relationship; a
licence outside SPDX's list becomes ``LicenseRef-<name, other characters as ->`` and its text is kept in the package's
``charter:license`` property. Lineage: ``trainedOn`` (trained-on, trained-on-outputs-of), ``testedOn``
(evaluated-on), ``descendantOf`` (every other relation), each relationship carrying the exact
Charter relation as ``charter:relation``; a parent outside the document is named in the document's
``import`` (``ExternalMap``). Uses, duties, requirements, attestations and evaluations
are name/value entries of an ``extension_CdxPropertiesExtension`` (the same names as CycloneDX's);
a model's ``ai_limitation`` states its denied uses in words and ``ai_metric`` its evaluations.

Validation (:func:`validate`): the bindings refuse a missing required property when serialising,
and pyshacl checks the document's RDF graph against the official SPDX 3.0.1 model, its OWL classes
and SHACL shapes as published at spdx.org/rdf/3.0.1/spdx-model.ttl (vendored in resources/spdx3 with
its licence and source: nothing is fetched at run time).
"""

from __future__ import annotations

import datetime as _dt
import io
import json

from charter.core import vocab
from charter.exports import Export, Item, canonical, evaluation_json, spdx_expression
from charter.imports.spdx3 import licence_ref

RELATIONS = {"trained-on": "trainedOn", "trained-on-outputs-of": "trainedOn", "evaluated-on": "testedOn"}
PROFILES = ("core", "software", "ai", "dataset", "simpleLicensing", "extension")


def _m():
    from spdx_python_model import v3_0_1

    return v3_0_1


def _ext(pairs: list[tuple[str, str]]):
    s = _m()
    return s.extension_CdxPropertiesExtension(extension_cdxProperty=[
        s.extension_CdxPropertyEntry(extension_cdxPropName=k, extension_cdxPropValue=v) for k, v in pairs])


def _package(item: Item, ci):
    s = _m()
    a = item.asset
    kw = dict(spdxId=vocab.asset_iri(a.id), creationInfo=ci, name=a.name, software_packageVersion=a.version)
    if a.description:
        kw["description"] = a.description
    if a.kind == "model":
        p = s.ai_AIPackage(**kw, software_primaryPurpose=s.software_SoftwarePurpose.model)
        if a.deny:
            p.ai_limitation = "Denied uses (its own charter): " + ", ".join(a.deny)
        for x in item.properties:
            p.ai_metric.append(s.DictionaryEntry(key=f"{x.benchmark}.{x.metric}", value=repr(x.value)))
    elif a.kind == "dataset":
        p = s.dataset_DatasetPackage(**kw, software_primaryPurpose=s.software_SoftwarePurpose.data,
                                     dataset_datasetType=[s.dataset_DatasetType.noAssertion])
    else:
        purpose = s.software_SoftwarePurpose.application if a.kind == "application" else s.software_SoftwarePurpose.device
        p = s.software_Package(**kw, software_primaryPurpose=purpose)
    return p


def _own(item: Item, custom: list[str]) -> list[tuple[str, str]]:
    a = item.asset
    out = [(vocab.P_ID, a.id), (vocab.P_KIND, a.kind)] + [(vocab.P_LICENSE, n) for n in custom]
    out += [(vocab.P_ALLOW, u) for u in a.allow] + [(vocab.P_DENY, u) for u in a.deny] + [(vocab.P_DUTY, d) for d in a.duties]
    out += [(vocab.P_REQUIRES, canonical(r.to_json())) for r in a.requires] + [(vocab.P_ATTEST, c) for c in a.attest]
    out += [(vocab.P_PUBLIC_KEY, a.public_key)] if a.public_key else []
    return out + [(vocab.P_EVALUATION, canonical(evaluation_json(p))) for p in item.properties]


def objects(ex: Export, created: _dt.datetime | None = None):
    """The SHACLObjectSet of the document."""
    s = _m()
    objset = s.SHACLObjectSet()
    agent = s.SoftwareAgent(spdxId=vocab.NS + "agent/charter", name="charter")
    ci = s.CreationInfo(specVersion="3.0.1", created=created or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0),
                        createdBy=[agent])
    agent.creationInfo = ci
    elements: list = [agent]
    pkgs = {}
    for item in ex.items:
        a = item.asset
        p = _package(item, ci)
        pkgs[a.id] = p
        elements.append(p)
        custom = []
        for i, name in enumerate(a.licenses):
            expr = spdx_expression(name)
            if expr is None:  # not on SPDX's list: a LicenseRef, its text in the charter:license entries
                expr = licence_ref(name)
                custom.append(name)
            lic = s.simplelicensing_LicenseExpression(spdxId=f"{vocab.NS}license/{a.id}/{i}", creationInfo=ci,
                                                      simplelicensing_licenseExpression=expr)
            rel = s.Relationship(spdxId=f"{vocab.NS}relationship/{a.id}/license/{i}", creationInfo=ci, from_=p,
                                 relationshipType=s.RelationshipType.hasDeclaredLicense, to=[lic])
            elements += [lic, rel]
        p.extension.append(_ext(_own(item, custom)))
    for item in ex.items:
        a = item.asset
        for j, e in enumerate(a.derived_from):
            to = pkgs.get(e.parent) or vocab.asset_iri(e.parent)  # an IRI reference when the parent is not in the document
            rtype = getattr(s.RelationshipType, RELATIONS.get(e.relation, "descendantOf"))
            rel = s.Relationship(spdxId=f"{vocab.NS}relationship/{a.id}/{j}", creationInfo=ci, from_=pkgs[a.id],
                                 relationshipType=rtype, to=[to])
            rel.extension.append(_ext([(vocab.P_RELATION, e.relation)]))
            elements.append(rel)
    external = sorted({e.parent for i in ex.items for e in i.asset.derived_from if e.parent not in pkgs})
    doc = s.SpdxDocument(spdxId=vocab.NS + "document/" + ex.root.asset.id, creationInfo=ci, name=f"charter export of {ex.root.asset.id}",
                         rootElement=[pkgs[ex.root.asset.id]], element=elements,
                         profileConformance=[getattr(s.ProfileIdentifierType, x) for x in PROFILES],
                         import_=[s.ExternalMap(externalSpdxId=vocab.asset_iri(p)) for p in external])
    for o in [doc, *elements]:
        objset.add(o)
    return objset


def build(ex: Export, reg=None) -> str:
    s = _m()
    buf = io.BytesIO()
    s.JSONLDSerializer().write(objects(ex), buf, indent=2)
    return json.dumps(json.loads(buf.getvalue()), indent=2, ensure_ascii=False) + "\n"


def read(text: str):
    """The SHACLObjectSet of an SPDX 3 JSON-LD document (the bindings' deserializer; nothing fetched)."""
    s = _m()
    objset = s.SHACLObjectSet()
    s.JSONLDDeserializer().read(io.BytesIO(text.encode()), objset)
    return objset


def _classes():
    s = _m()
    return [c for c in vars(s).values() if isinstance(c, type) and issubclass(c, s.SHACLObject) and vars(c).get("_TYPE")]


def _inner(prop):
    s = _m()
    return prop.prop if isinstance(prop, s.ListProp) else prop


def graph(objset):
    """The document as an rdflib graph: one node per object (its IRI, or a blank node), its type,
    and every property the bindings hold, typed as the bindings type it."""
    import rdflib
    from rdflib.namespace import RDF, XSD

    s = _m()
    g = rdflib.Graph()
    nodes: dict[int, object] = {}
    dtypes = [(s.DateTimeStampProp, XSD.dateTimeStamp), (s.DateTimeProp, XSD.dateTime), (s.PositiveIntegerProp, XSD.positiveInteger),
              (s.NonNegativeIntegerProp, XSD.nonNegativeInteger), (s.IntegerProp, XSD.integer), (s.BooleanProp, XSD.boolean),
              (s.FloatProp, XSD.decimal), (s.AnyURIProp, XSD.anyURI), (s.StringProp, XSD.string)]

    def node(o):
        if id(o) not in nodes:
            nodes[id(o)] = rdflib.URIRef(o._id) if o._id and not o._id.startswith("_:") else rdflib.BNode()
            add(o)
        return nodes[id(o)]

    def term(prop, x):
        if isinstance(prop, s.ObjectProp):
            return node(x) if isinstance(x, s.SHACLObject) else rdflib.URIRef(x)
        if isinstance(prop, s.IRIProp):
            return rdflib.URIRef(x)
        if isinstance(x, _dt.datetime):
            x = x.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        dt = next((d for cls, d in dtypes if isinstance(prop, cls)), None)
        return rdflib.Literal(str(x).lower() if isinstance(x, bool) else str(x), datatype=dt)

    def add(o):
        subj = nodes[id(o)]
        g.add((subj, RDF.type, rdflib.URIRef(o.get_type())))
        for p in type(o)._OBJ_PY_PROPS.values():
            if p.iri == "@id":
                continue
            v = getattr(o, p.pyname)
            vals = list(v) if isinstance(p.prop, s.ListProp) else [v]
            for x in vals:
                if x is not None:
                    g.add((subj, rdflib.URIRef(p.iri), term(_inner(p.prop), x)))

    for o in objset.foreach():
        node(o)
    return g


def official():
    """The SPDX 3.0.1 model as published (OWL classes and their SHACL shapes in one graph), vendored in
    resources/spdx3 with its licence and source; parsed once per process."""
    global _OFFICIAL
    if _OFFICIAL is None:
        import rdflib

        from charter.core.files import resource

        _OFFICIAL = rdflib.Graph().parse(str(resource("spdx3") / "spdx-model.ttl"), format="turtle")
    return _OFFICIAL


_OFFICIAL = None


def validate(text: str) -> str | None:
    """None when the document reads back with the bindings and conforms to the official SPDX 3.0.1
    SHACL shapes (:func:`official`), else why not. An element the document imports (``ExternalMap``) is
    described in its own document, so a reference to it is not held to the class that the referring
    property requires (nothing here says what it is); every other result counts."""
    import pyshacl
    import rdflib
    from rdflib.namespace import RDF, SH

    try:
        objset = read(text)
    except Exception as e:  # the bindings' own checks (types, enumerations, required properties)
        return f"spdx-python-model: {e}"
    s = _m()
    external = {rdflib.URIRef(m.externalSpdxId) for m in objset.foreach_type(s.ExternalMap)}
    model = official()
    ok, results, report = pyshacl.validate(graph(objset), shacl_graph=model, ont_graph=model, inference="none", allow_warnings=True)
    if ok:
        return None
    kept = [r for r in results.subjects(RDF.type, SH.ValidationResult)
            if not (results.value(r, SH.sourceConstraintComponent) == SH.ClassConstraintComponent and results.value(r, SH.value) in external)]
    if not kept:
        return None
    return "\n".join(f"{results.value(r, SH.resultMessage) or results.value(r, SH.sourceConstraintComponent)}: focus {results.value(r, SH.focusNode)}, "
                     f"path {results.value(r, SH.resultPath)}, value {results.value(r, SH.value)} ({results.value(r, SH.sourceConstraintComponent)})"
                     for r in kept)
