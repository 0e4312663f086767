"""CycloneDX 1.6 ML-BOM with cyclonedx-python-lib.

The asked asset is ``metadata.component``, its upstream (``--lineage``) are ``components``; each is a
component of type machine-learning-model (model), data (dataset), application, or device (compute),
``bom-ref`` = the asset id. Licences: one SPDX id or expression when every licence is on SPDX's list
(several licences all apply: joined with AND), otherwise one entry per licence, by SPDX id or by name.
Lineage: ``pedigree.ancestors`` (one minimal component per parent, with ``charter:id`` and
``charter:relation``) and the BOM's ``dependencies`` between the components present. The charter's
own terms are namespaced properties (core/vocab.py): ``charter:uses:allow`` / ``charter:uses:deny`` /
``charter:duty`` / ``charter:requires`` / ``charter:attest`` / ``charter:evaluation``, one property per
value; what the asked asset inherits along its lineage, with the source of each entry, is
``charter:effective:allow`` / ``charter:effective:deny`` on its component (informational: an
importer re-derives it from the lineage).
cyclonedx-python-lib 11 has no model card or data fields (``modelCard``, ``data`` are not
implemented), so the model card's content travels in those properties.
"""

from __future__ import annotations

import json

from charter.core import vocab
from charter.exports import Export, Item, canonical, effective_lines, evaluation_json, spdx_expression

TYPES = {"model": "machine-learning-model", "dataset": "data", "application": "application", "compute": "device"}
SPEC = "1.6"


def licences(names: tuple[str, ...]):
    from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression

    exprs = [spdx_expression(n) for n in names]
    if names and all(exprs):
        if len(exprs) == 1 and " " not in exprs[0]:
            return [DisjunctiveLicense(id=exprs[0])]
        return [LicenseExpression(exprs[0] if len(exprs) == 1 else " AND ".join(f"({e})" if " " in e else e for e in exprs))]
    return [DisjunctiveLicense(id=e) if e and " " not in e else DisjunctiveLicense(name=n) for n, e in zip(names, exprs)]


def _props(item: Item) -> list:
    from cyclonedx.model import Property

    a = item.asset
    out = [(vocab.P_ID, a.id), (vocab.P_KIND, a.kind)]
    out += [(vocab.P_ALLOW, u) for u in a.allow] + [(vocab.P_DENY, u) for u in a.deny] + [(vocab.P_DUTY, d) for d in a.duties]
    out += [(vocab.P_REQUIRES, canonical(r.to_json())) for r in a.requires] + [(vocab.P_ATTEST, c) for c in a.attest]
    out += [(vocab.P_PUBLIC_KEY, a.public_key)] if a.public_key else []
    out += [(vocab.P_EVALUATION, canonical(evaluation_json(p))) for p in item.properties]
    out += [(vocab.P_EFFECTIVE_ALLOW, x) for x in effective_lines(item, "allow")]
    out += [(vocab.P_EFFECTIVE_DENY, x) for x in effective_lines(item, "deny")]
    return [Property(name=k, value=v) for k, v in out]


def component(item: Item):
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentType, Pedigree

    a = item.asset
    ancestors = [Component(type=ComponentType(TYPES.get(e.parent.split("/", 1)[0], "library")),
                           name=e.parent.split("/", 1)[1].rsplit("@", 1)[0], version=e.parent.rsplit("@", 1)[1],
                           properties=[Property(name=vocab.P_ID, value=e.parent), Property(name=vocab.P_RELATION, value=e.relation)])
                 for e in a.derived_from]
    return Component(type=ComponentType(TYPES[a.kind]), name=a.name, version=a.version, bom_ref=a.id,
                     description=a.description or None, licenses=licences(a.licenses), properties=_props(item),
                     pedigree=Pedigree(ancestors=ancestors) if ancestors else None)


def bom(ex: Export):
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.dependency import Dependency
    from cyclonedx.model.tool import Tool  # noqa: F401  (the library records itself as a tool)

    b = Bom()
    comps = {i.asset.id: component(i) for i in ex.items}
    b.metadata.component = comps[ex.root.asset.id]
    for aid, c in comps.items():
        if aid != ex.root.asset.id:
            b.components.add(c)
    # the graph built directly: Bom.register_dependency scans every registered entry per call (quadratic: a
    # 10,002-asset lineage took minutes); every item gets its entry, and its parents are items too
    for i in ex.items:
        deps = [Dependency(ref=comps[e.parent].bom_ref) for e in i.asset.derived_from if e.parent in comps]
        b.dependencies.add(Dependency(ref=comps[i.asset.id].bom_ref, dependencies=deps))
    # The serialiser's Bom.validate() first registers every component's dependency entry, scanning all entries per
    # component (quadratic); every entry is registered above, so that step has nothing to add here. Its other checks
    # (every reference known, the root's dependencies) still run.
    b.register_dependency = lambda target, depends_on=None: None
    return b


def build(ex: Export, reg=None) -> str:
    from cyclonedx.output.json import JsonV1Dot6

    text = JsonV1Dot6(bom(ex)).output_as_string(indent=2)
    doc = json.loads(text)
    doc.pop("serialNumber", None)  # random per run: the same registry exports the same bytes
    doc.get("metadata", {}).pop("timestamp", None)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def validate(text: str) -> str | None:
    """None when ``text`` is valid CycloneDX 1.6 JSON (JsonStrictValidator), else the first error."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if err is None else str(err)
