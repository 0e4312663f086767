"""W3C PROV-JSON of the lineage, round-tripped with the prov library."""

from __future__ import annotations

from prov.model import ProvDocument

from charter.exports import collect, export
from charter.exports.prov import document


def test_prov_json_round_trips(demo):
    text = export(demo, "application/community-translate@1", "prov", lineage=True)
    back = ProvDocument.deserialize(content=text, format="json")
    assert back == document(collect(demo, "application/community-translate@1", lineage=True))
    records = back.get_records()
    entities = [r for r in records if r.get_type().localpart == "Entity"]
    derivations = [r for r in records if r.get_type().localpart == "Derivation"]
    assert len(entities) == len(collect(demo, "application/community-translate@1", lineage=True).items)
    rels = {str(v) for r in derivations for k, v in r.attributes if k.localpart == "relation"}
    assert {"deployed-from", "fine-tuned-from", "trained-on", "curated-from"} <= rels
