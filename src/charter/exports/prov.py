"""W3C PROV-JSON of the lineage with the ``prov`` library.

Each asset is a ``prov:Entity`` (``charter:asset/ID``) with ``prov:type`` its kind
(``charter:model``...), ``prov:label`` its id and ``charter:license`` its licences; each edge is a
``prov:wasDerivedFrom`` from the child to the parent with ``charter:relation`` the Charter relation
(trained-on, fine-tuned-from...). Uses are not part of PROV: the document says where an asset comes
from, not what it may be used for.
"""

from __future__ import annotations

from charter.core import vocab
from charter.exports import Export


def document(ex: Export):
    from prov.model import PROV_LABEL, PROV_TYPE, ProvDocument

    doc = ProvDocument()
    ns = doc.add_namespace(vocab.PREFIX, vocab.NS)
    entities = {}

    def entity(aid: str, asset=None):
        if aid not in entities:
            kind = aid.split("/", 1)[0]
            attrs = {PROV_TYPE: ns[kind], PROV_LABEL: aid}
            if asset is not None and asset.licenses:
                attrs[ns["license"]] = " AND ".join(asset.licenses) if len(asset.licenses) > 1 else asset.licenses[0]
            entities[aid] = doc.entity(ns["asset/" + aid], attrs)
        return entities[aid]

    for i in ex.items:
        entity(i.asset.id, i.asset)
    for i in ex.items:
        for e in i.asset.derived_from:
            doc.wasDerivedFrom(entity(i.asset.id), entity(e.parent), other_attributes={ns["relation"]: e.relation})
    return doc


def build(ex: Export, reg=None) -> str:
    return document(ex).serialize(format="json", indent=2) + "\n"
