"""The signed Statement and the Merkle lineage digest (charter.trust.sign)."""

from __future__ import annotations

import base64
import json

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from charter.core.assets import Asset, Edge
from charter.trust import keys
from charter.trust.sign import (PAYLOAD_TYPE, STATEMENT, canonical, charter_payload, charter_statement, digests, lineage_digest, sign_payload)


def _chain() -> list[Asset]:
    d = Asset("dataset/d@1", "dataset", "d", "1", description="é ü \u2028", deny=("military",))
    m = Asset("model/m@1", "model", "m", "1", derived_from=(Edge("model/m@1", "dataset/d@1", "trained-on"),), notes={"x": [1, 2.5, None]})
    return [d, m]


def test_the_fast_payload_is_the_canonical_statement_byte_for_byte():
    order = _chain()
    d = digests(order)
    for a in order:
        cd, ld = d[a.id]
        parents = {e.parent: d[e.parent][1] for e in a.derived_from}
        assert charter_payload(a, a.canonical(), cd, ld, parents) == canonical(charter_statement(a, ld, parents))
        st = json.loads(charter_payload(a, a.canonical(), cd, ld, parents))
        assert st["_type"] == STATEMENT and st["subject"][0]["digest"]["sha256"] == cd.removeprefix("sha256:")
        assert canonical(st["predicate"]["charter"]).decode() == a.canonical()


def test_the_lineage_digest_is_a_merkle_chain():
    order = _chain()
    d = digests(order)
    assert d["model/m@1"][1] == lineage_digest(order[1].content_hash, [("dataset/d@1", "trained-on", d["dataset/d@1"][1])])
    changed = [Asset("dataset/d@1", "dataset", "d", "1", description="é ü \u2028"), order[1]]  # a deny removed upstream
    assert digests(changed)["model/m@1"][1] != d["model/m@1"][1]  # ... changes the digest below it
    assert digests(changed)["model/m@1"][0] == d["model/m@1"][0]  # though the model's own charter did not change


def test_envelopes_verify_with_securesystemslib_itself(tmp_path):
    keys.new_key("k", tmp_path)
    k = keys.load("k", tmp_path)
    env = sign_payload(b'{"a":1}', k)
    assert env["payloadType"] == PAYLOAD_TYPE and base64.b64decode(env["payload"]) == b'{"a":1}'
    e = Envelope.from_dict(json.loads(json.dumps(env)))
    pub = SSlibKey.from_crypto(k.private.public_key())
    assert pub.keyid == k.keyid and list(e.verify([pub], 1)) == [k.keyid]
