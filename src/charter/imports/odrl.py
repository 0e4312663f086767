"""ODRL 2.2 policies (JSON-LD) -> assets: one per policy (``odrl:Set``, ``Offer``, ``Agreement`` or
``Policy``), read as RDF with rdflib, so any JSON-LD form of the same triples reads the same.

Read: the target (``charter:asset/ID``; a policy about another kind of target is reported and
skipped), permissions and prohibitions whose action is a use (``charter:use/ID``) or that constrain
``odrl:purpose`` with ``odrl:eq`` / ``odrl:isAnyOf`` to uses, duties (``odrl:attribute``,
``odrl:nextPolicy``, ``charter:duty/ID``; as policy obligations or as a permission's duties),
``charter:license``, ``charter:derivedFrom`` (lineage with relations; ``odrl:inheritFrom`` alone
names a parent without saying how it derives, so it is reported, not linked), ``charter:requires``,
``charter:attest``, ``charter:evaluation``, ``charter:publicKey``. An action or constraint outside those (``odrl:distribute``,
a spatial constraint...) is reported as not read: a permission is never widened or narrowed by guessing.

Nothing is fetched: a JSON-LD context must be inline, except ODRL's own context URL
(``http://www.w3.org/ns/odrl.jsonld``), which stands for its prefix, its namespace as vocabulary
and the core terms (:data:`ODRL_TERMS`).
"""

from __future__ import annotations

import json
from pathlib import Path

from charter.core import vocab
from charter.imports import Report
from charter.imports.standards import Found, StandardImport, assemble, fail, guard, read_json

ODRL = "http://www.w3.org/ns/odrl/2/"
ODRL_CONTEXT_URLS = ("http://www.w3.org/ns/odrl.jsonld", "https://www.w3.org/ns/odrl.jsonld")
_ID = {"@type": "@id"}
ODRL_TERMS = {
    "@vocab": ODRL, "odrl": ODRL, "uid": "@id", "type": "@type",
    "Policy": "odrl:Policy", "Set": "odrl:Set", "Offer": "odrl:Offer", "Agreement": "odrl:Agreement",
    "permission": "odrl:permission", "prohibition": "odrl:prohibition", "obligation": "odrl:obligation", "duty": "odrl:duty",
    "action": {"@id": "odrl:action", "@type": "@vocab"}, "target": {"@id": "odrl:target", **_ID},
    "assigner": {"@id": "odrl:assigner", **_ID}, "assignee": {"@id": "odrl:assignee", **_ID},
    "inheritFrom": {"@id": "odrl:inheritFrom", **_ID}, "profile": {"@id": "odrl:profile", **_ID},
    "constraint": "odrl:constraint", "leftOperand": {"@id": "odrl:leftOperand", "@type": "@vocab"},
    "operator": {"@id": "odrl:operator", "@type": "@vocab"}, "rightOperand": "odrl:rightOperand",
    "rightOperandReference": {"@id": "odrl:rightOperandReference", **_ID},
    "use": "odrl:use", "attribute": "odrl:attribute", "nextPolicy": "odrl:nextPolicy", "purpose": "odrl:purpose",
    "eq": "odrl:eq", "isAnyOf": "odrl:isAnyOf",
}
POLICY_TYPES = ("Policy", "Set", "Offer", "Agreement", "Privacy", "Request", "Ticket", "Assertion")
DUTY_ACTIONS = {ODRL + "attribute": "attribution", ODRL + "nextPolicy": "pass-on-restrictions"}


def local_contexts(node, path: Path, at: str = ""):
    """The JSON-LD with every context inline; a remote one (but ODRL's) is refused: nothing is fetched."""
    if isinstance(node, list):
        return [local_contexts(x, path, f"{at}/{i}") for i, x in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "@context":
            out[k] = _context(v, path, f"{at}/@context")
        else:
            out[k] = local_contexts(v, path, f"{at}/{k}")
    return out


def _context(ctx, path: Path, at: str):
    items = ctx if isinstance(ctx, list) else [ctx]
    out = []
    for i, c in enumerate(items):
        if isinstance(c, str):
            if c not in ODRL_CONTEXT_URLS:
                raise fail(path, at, f"remote JSON-LD context {c[:120]!r} is not fetched", "inline the context (a JSON object) in the document")
            out.append(ODRL_TERMS)
        elif isinstance(c, dict):
            if "@import" in c:
                raise fail(path, f"{at}/@import", "@import of a remote context is not fetched", "inline the context")
            for k, v in c.items():
                if isinstance(v, dict) and "@context" in v:
                    v["@context"] = _context(v["@context"], path, f"{at}/{k}/@context")
            out.append(c)
        elif c is not None:
            raise fail(path, f"{at}/{i}", "a JSON-LD context is an object", "write the context as a JSON object")
    return out if isinstance(ctx, list) else (out[0] if out else None)


def parse_graph(doc, path: Path, what: str):
    import rdflib

    doc = local_contexts(doc, path)
    g = rdflib.Graph()
    guard(path, what, lambda: g.parse(data=json.dumps(doc), format="json-ld"))
    return g


def policy_found(g, pol, where: str, report: Report, f: Found | None = None) -> Found | None:
    """Read one policy node into ``f`` (or a new Found for its target)."""
    import rdflib

    O, C = rdflib.Namespace(ODRL), rdflib.Namespace(vocab.NS)
    targets = {str(t) for t in g.objects(pol, O.target)}
    rules = [(kind, r) for kind in ("permission", "prohibition", "obligation") for r in g.objects(pol, O[kind])]
    rules.sort(key=lambda x: (x[0], sorted(map(str, g.objects(x[1], O.action)))))  # RDF keeps no order: a stable one
    for _, r in rules:
        targets |= {str(t) for t in g.objects(r, O.target)}
    ids = {vocab.strip(t, vocab.ASSET) for t in targets}
    if f is None:
        if len(ids) != 1 or None in ids:
            report.skip(str(pol), where, f"policy target {sorted(targets)[:3]} is not one Charter asset (charter:asset/ID): skipped")
            return None
        f = Found(where=where, id=ids.pop())
    for kind, r in rules:
        if kind == "obligation":
            _duty(g, r, f, report, where, O)
            continue
        uses, unread = _rule_uses(g, r, O, C)
        for u in unread:
            report.skip(u, where, f"{kind} with an action or constraint Charter does not read: not guessed")
        uses = sorted(uses)
        if kind == "permission":
            f.allow += uses
            for d in g.objects(r, O.duty):
                _duty(g, d, f, report, where, O)
        else:
            f.deny += uses
    f.licenses += sorted(str(x) for x in g.objects(pol, C.license))
    f.attest += sorted(str(x) for x in g.objects(pol, C.attest))
    f.requires += sorted(_json_text(x) for x in g.objects(pol, C.requires))
    f.evaluations += sorted(_json_text(x) for x in g.objects(pol, C.evaluation))
    key = g.value(pol, C.publicKey)
    if key is not None:
        f.public_key = str(key)
    kind = g.value(pol, C.kind)
    if kind is not None:
        f.kind = str(kind)
    linked = {p for p, _, _ in f.edges}
    edges = []
    for e in g.objects(pol, C.derivedFrom):
        parent = vocab.strip(str(g.value(e, C.asset) or ""), vocab.ASSET)
        rel = g.value(e, C.relation)
        if parent:
            linked.add(parent)
            edges.append((parent, str(rel) if rel is not None else None, f"{where} charter:derivedFrom"))
    f.edges += sorted(edges, key=lambda x: (x[0], x[1] or ""))  # RDF keeps no order: a stable one
    for p in sorted(g.objects(pol, O.inheritFrom), key=str):
        parent = vocab.strip(str(p), vocab.POLICY)
        if parent not in linked:
            f.edges.append((parent or str(p), None, f"{where} odrl:inheritFrom"))
    return f


def _json_text(lit) -> str:
    v = lit.toPython() if hasattr(lit, "toPython") else lit
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))


def _rule_uses(g, r, O, C) -> tuple[list[str], list[str]]:
    from rdflib.namespace import RDF

    uses, unread = [], []
    for a in g.objects(r, O.action):
        a = g.value(a, RDF.value) or a  # an action refined with odrl:refinement names its value in rdf:value
        u = vocab.strip(str(a), vocab.USE)
        if u:
            uses.append(u)
        elif str(a) != ODRL + "use":
            unread.append(str(a))
    for c in g.objects(r, O.constraint):
        left, op = str(g.value(c, O.leftOperand) or ""), str(g.value(c, O.operator) or "")
        rights = list(g.objects(c, O.rightOperand)) + list(g.objects(c, O.rightOperandReference))
        got = [vocab.strip(str(x), vocab.USE) for x in rights]
        if left == ODRL + "purpose" and op in (ODRL + "eq", ODRL + "isAnyOf") and got and all(got):
            uses += got
        else:
            unread.append(f"constraint {left or '?'} {op or '?'}")
    return uses, unread


def _duty(g, d, f: Found, report: Report, where: str, O) -> None:
    for a in g.objects(d, O.action):
        a = str(a)
        duty = DUTY_ACTIONS.get(a) or vocab.strip(a, vocab.NS + "duty/")
        if duty:
            f.duties.append(duty)
        else:
            report.skip(a, where, "duty action Charter does not read: not guessed")


def load(path: Path, licenses, taxonomy, known) -> StandardImport:
    import rdflib
    from rdflib.namespace import RDF

    path = Path(path)
    doc = read_json(path, "ODRL JSON-LD")
    if not isinstance(doc, (dict, list)):
        raise fail(path, "(document)", "not a JSON-LD document", "pass ODRL policies as a JSON-LD object or array")
    g = parse_graph(doc, path, "ODRL JSON-LD")
    report = Report("odrl", str(path), files=1)
    pols = sorted({s for t in POLICY_TYPES for s in g.subjects(RDF.type, rdflib.URIRef(ODRL + t))}, key=str)
    if not pols:
        raise fail(path, "@type", "no ODRL policy in the document", "give each policy an @type of odrl:Set, odrl:Offer, odrl:Agreement or odrl:Policy")
    found = [f for f in (policy_found(g, p, str(p), report) for p in pols) if f is not None]
    return assemble(found, importer="odrl", path=path, taxonomy=taxonomy, licenses=licenses, known=known, report=report)
