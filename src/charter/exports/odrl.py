"""ODRL 2.2 policies in JSON-LD, one per asset (``@graph`` of them with ``--lineage``).

Each policy is an ``odrl:Set`` whose target is the asset (``charter:asset/ID``):

- ``odrl:permission``: one per entry of the asset's allow list, the action being the use's IRI
  (``charter:use/ID``; each use is declared an ``odrl:Action`` in :func:`vocabulary`);
- ``odrl:prohibition``: one per entry of its deny list, likewise;
- ``odrl:obligation`` (policy-level duties): attribution -> ``odrl:attribute``, pass-on-restrictions ->
  ``odrl:nextPolicy``, the others (share-alike, naming, notice) -> ``charter:duty/ID``;
- ``odrl:inheritFrom``: the policies of the parents along propagating relations (the decision's
  "most restrictive wins" along lineage); ``charter:derivedFrom`` lists every edge with its relation;
- ``charter:license`` (each licence, verbatim), ``charter:kind``, ``charter:requires`` and
  ``charter:evaluation`` (canonical JSON literals), ``charter:attest``, ``charter:publicKey`` (a compute
  asset's key): what ODRL has no term for.

The context is inline (no remote context is fetched to read it): only ODRL's, Charter's, RDF's and
XSD's namespaces appear.
"""

from __future__ import annotations

import json

from charter.core import vocab
from charter.core.assets import PROPAGATING
from charter.exports import Export, Item, canonical, evaluation_json

ODRL = "http://www.w3.org/ns/odrl/2/"
CONTEXT = {"odrl": ODRL, "charter": vocab.NS, "xsd": "http://www.w3.org/2001/XMLSchema#",
           "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "skos": "http://www.w3.org/2004/02/skos/core#"}
DUTY_ACTIONS = {"attribution": "odrl:attribute", "pass-on-restrictions": "odrl:nextPolicy"}
ACTION_DUTIES = {v: k for k, v in DUTY_ACTIONS.items()}


def _ref(iri: str) -> dict:
    return {"@id": iri}


def _json(value) -> dict:
    return {"@value": canonical(value), "@type": "rdf:JSON"}


def policy(item: Item) -> dict:
    a = item.asset
    target = _ref(vocab.asset_iri(a.id))
    p: dict = {"@id": vocab.policy_iri(a.id), "@type": "odrl:Set", "odrl:uid": _ref(vocab.policy_iri(a.id)),
               "odrl:profile": _ref(vocab.NS), "odrl:target": target, "charter:kind": a.kind}
    if a.allow:
        p["odrl:permission"] = [{"odrl:target": target, "odrl:action": _ref(vocab.use_iri(u))} for u in a.allow]
    if a.deny:
        p["odrl:prohibition"] = [{"odrl:target": target, "odrl:action": _ref(vocab.use_iri(u))} for u in a.deny]
    if a.duties:
        p["odrl:obligation"] = [{"odrl:target": target, "odrl:action": {"@id": DUTY_ACTIONS.get(d, f"charter:duty/{d}")}}
                                for d in a.duties]
    inherit = [vocab.policy_iri(e.parent) for e in a.derived_from if e.relation in PROPAGATING]
    if inherit:
        p["odrl:inheritFrom"] = [_ref(x) for x in dict.fromkeys(inherit)]
    if a.derived_from:
        p["charter:derivedFrom"] = [{"charter:asset": _ref(vocab.asset_iri(e.parent)), "charter:relation": e.relation}
                                    for e in a.derived_from]
    if a.licenses:
        p["charter:license"] = list(a.licenses)
    if a.requires:
        p["charter:requires"] = [_json(r.to_json()) for r in a.requires]
    if a.attest:
        p["charter:attest"] = list(a.attest)
    if a.public_key:
        p["charter:publicKey"] = a.public_key
    if item.properties:
        p["charter:evaluation"] = [_json(evaluation_json(x)) for x in item.properties]
    return p


def build(ex: Export, reg=None) -> str:
    policies = [policy(i) for i in ex.items]
    doc = {"@context": CONTEXT, **policies[0]} if len(policies) == 1 else {"@context": CONTEXT, "@graph": policies}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def vocabulary(taxonomy) -> str:
    """The use taxonomy under Charter's namespace, in Turtle: each use an ``odrl:Action`` and a
    ``skos:Concept`` (``skos:broader`` its parents; a facet is ``odrl:includedIn odrl:use``), plus the
    duties and the properties the policies use. A reader resolves every ``charter:`` IRI against it."""
    import rdflib
    from rdflib.namespace import RDF, RDFS, SKOS

    O, U = rdflib.Namespace(ODRL), rdflib.Namespace(vocab.USE)
    C = rdflib.Namespace(vocab.NS)
    g = rdflib.Graph()
    g.bind("odrl", O)
    g.bind("charter", C)
    g.bind("use", U)
    g.bind("skos", SKOS)
    for u in taxonomy.to_json():
        s = U[u["id"]]
        g.add((s, RDF.type, O.Action))
        g.add((s, RDF.type, SKOS.Concept))
        g.add((s, SKOS.prefLabel, rdflib.Literal(u["id"])))
        if u.get("description"):
            g.add((s, SKOS.definition, rdflib.Literal(u["description"])))
        parents = u.get("parents") or []
        for par in parents:
            g.add((s, SKOS.broader, U[par]))
            g.add((s, O.includedIn, U[par]))
        if not parents:
            g.add((s, O.includedIn, O.use))
    for d in ("share-alike", "naming", "notice"):
        g.add((C["duty/" + d], RDF.type, O.Action))
    for prop in ("kind", "license", "requires", "evaluation", "attest", "publicKey", "derivedFrom", "asset", "relation"):
        g.add((C[prop], RDF.type, RDF.Property))
        g.add((C[prop], RDFS.isDefinedBy, rdflib.URIRef(vocab.NS)))
    return g.serialize(format="turtle")
