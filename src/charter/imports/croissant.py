"""A Croissant dataset description (JSON-LD, 1.0 or 1.1) -> a dataset asset.

The document must load with mlcroissant (its validation errors are the error); it is then read
as RDF (rdflib; contexts inline, nothing fetched). Read: ``charter:id`` or ``url``
(``charter:asset/ID``; else ``dataset/<name>@<version>``), ``name``, ``version``, ``description``,
each ``license``, ``prov:wasDerivedFrom`` (the relation from ``charter:relation``; a parent without
one is reported, not linked) and ``usageInfo`` when it is an ODRL policy (read as
``charter import odrl`` reads one). The RAI fields are prose for people and are not read back; the
files and record sets describe data the registry does not hold, so they are not registered either
(register the files with a charter to curate them).
"""

from __future__ import annotations

from pathlib import Path

from charter.core import vocab
from charter.imports import Report
from charter.imports.odrl import local_contexts, parse_graph, policy_found
from charter.imports.standards import Found, StandardImport, assemble, fail, guard, read_json

SCHEMA = ("https://schema.org/", "http://schema.org/")
PROV = "http://www.w3.org/ns/prov#"


def _mlcroissant(doc: dict) -> None:
    import logging

    import mlcroissant as mlc

    logging.getLogger("absl").setLevel(logging.ERROR)  # its warnings (recommended fields) are not errors
    mlc.Dataset(jsonld=doc)


def load(path: Path, licenses, taxonomy, known) -> StandardImport:
    import copy

    import rdflib
    from rdflib.namespace import RDF

    path = Path(path)
    doc = read_json(path, "Croissant")
    if not isinstance(doc, dict) or not isinstance(doc.get("@context"), dict):
        raise fail(path, "@context", "not a Croissant JSON-LD document", "pass a Croissant file (a JSON object with an inline @context)")
    doc = local_contexts(doc, path)  # remote contexts refused before any reader sees the document
    g = parse_graph(doc, path, "Croissant")
    guard(path, "Croissant", _mlcroissant, copy.deepcopy(doc))
    report = Report("croissant", str(path), files=1)
    datasets = [d for base in SCHEMA for d in g.subjects(RDF.type, rdflib.URIRef(base + "Dataset"))]
    if len(datasets) != 1:
        raise fail(path, "@type", f"{len(datasets)} datasets in the document", 'describe one dataset ("@type": "sc:Dataset")')
    d = datasets[0]
    C = rdflib.Namespace(vocab.NS)

    def one(name: str) -> str:
        for base in SCHEMA:
            v = g.value(d, rdflib.URIRef(base + name))
            if v is not None:
                return str(v)
        return ""

    aid = g.value(d, C.id)
    f = Found(where="dataset", kind="dataset", id=str(aid) if aid is not None else vocab.strip(one("url"), vocab.ASSET),
              name=one("name"), version=one("version"), description=one("description"))
    f.licenses += sorted(str(x) for base in SCHEMA for x in g.objects(d, rdflib.URIRef(base + "license")))
    for e in sorted(g.objects(d, rdflib.URIRef(PROV + "wasDerivedFrom")), key=str):
        parent = vocab.strip(str(e), vocab.ASSET)
        rel = g.value(e, C.relation)
        f.edges.append((parent or str(e), str(rel) if rel is not None else None, "prov:wasDerivedFrom"))
    for base in SCHEMA:
        for pol in g.objects(d, rdflib.URIRef(base + "usageInfo")):
            if (pol, RDF.type, None) in g:
                policy_found(g, pol, "usageInfo", report, f)
    return assemble([f], importer="croissant", path=path, taxonomy=taxonomy, licenses=licenses, known=known, report=report)
