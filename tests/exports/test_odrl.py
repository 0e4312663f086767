"""ODRL 2.2 JSON-LD: parsed with rdflib (no remote context), only ODRL's and Charter's terms."""

from __future__ import annotations

import rdflib
from rdflib.namespace import RDF, XSD

from charter.core import vocab
from charter.exports import export
from charter.exports.odrl import ODRL, vocabulary

O = rdflib.Namespace(ODRL)
C = rdflib.Namespace(vocab.NS)
ALLOWED = (ODRL, vocab.NS, str(RDF), str(XSD))


def _graph(text: str) -> rdflib.Graph:
    return rdflib.Graph().parse(data=text, format="json-ld")


def test_policies_parse_and_use_only_odrl_and_charter_terms(demo):
    g = _graph(export(demo, "application/photo-search@1", "odrl", lineage=True))
    pols = set(g.subjects(RDF.type, O.Set))
    assert len(pols) == 5
    for s, p, o in g:
        assert str(p).startswith(ALLOWED), p
        if p == RDF.type:
            assert str(o).startswith(ODRL), o
    voc = rdflib.Graph().parse(data=vocabulary(demo.taxonomy), format="turtle")
    actions = set(g.objects(None, O.action))
    assert actions
    for a in actions:  # every action is ODRL's or declared an odrl:Action in Charter's vocabulary
        assert str(a).startswith(ODRL) or (a, RDF.type, O.Action) in voc, a


def test_permissions_prohibitions_duties_and_inheritance(demo):
    g = _graph(export(demo, "model/volunteer-lm@1", "odrl", lineage=True))
    pol = rdflib.URIRef(vocab.policy_iri("model/volunteer-lm@1"))
    assert (pol, O.target, rdflib.URIRef(vocab.asset_iri("model/volunteer-lm@1"))) in g
    assert {str(x) for x in g.objects(pol, O.inheritFrom)} == {vocab.policy_iri("compute/alice-workstation@1"),
                                                               vocab.policy_iri("dataset/parallel-corpus@1")}  # evaluated-on does not propagate
    assert [str(g.value(d, O.action)) for d in g.objects(pol, O.obligation)] == [ODRL + "attribute"]
    alice = rdflib.URIRef(vocab.policy_iri("compute/alice-workstation@1"))
    assert {str(g.value(r, O.action)) for r in g.objects(alice, O.prohibition)} == {vocab.use_iri("military"), vocab.use_iri("surveillance")}
    face = rdflib.URIRef(vocab.policy_iri("dataset/face-photos@1"))
    assert {str(g.value(r, O.action)) for r in g.objects(face, O.permission)} == {vocab.use_iri("research")}
    assert str(g.value(pol, C.license)) == "Apache-2.0"


def test_vocabulary_names_every_use(demo):
    voc = rdflib.Graph().parse(data=vocabulary(demo.taxonomy), format="turtle")
    for u in demo.taxonomy.to_json():
        assert (rdflib.URIRef(vocab.use_iri(u["id"])), RDF.type, O.Action) in voc
