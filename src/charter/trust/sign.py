"""DSSE envelopes (securesystemslib) over in-toto Statements: a charter with its lineage digest, and
withdrawals/restrictions.

The lineage digest is a Merkle chain along ``derived_from``: ``lineage(A) = sha256(canonical({"charter":
sha256(A's canonical charter), "upstream": [[parent, relation, lineage(parent)], ...]}))``, every edge in
the charter's order. A's signed Statement carries A's canonical charter, its lineage digest and each direct
parent's lineage digest, so it commits to the digest of every upstream charter: a change anywhere upstream
changes the lineage digest of everything below it, and their signatures no longer match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from securesystemslib.dsse import Envelope

from charter.core.assets import Asset
from charter.trust.keys import PublisherKey, TrustStore

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT = "https://in-toto.io/Statement/v1"
CHARTER_PREDICATE = "https://charter.dev/predicates/charter-lineage/v1"
EVENT_PREDICATE = "https://charter.dev/predicates/event/v1"
MANIFEST_PREDICATE = "https://charter.dev/predicates/bundle/v1"
PROPERTY_PREDICATE = "https://charter.dev/predicates/property/v1"
EVENT_ACTIONS = ("withdraw", "lift", "restrict", "lift-restrictions")


def canonical(obj) -> bytes:
    """The one canonical JSON (as Asset.canonical): sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def lineage_digest(charter: str, upstream: Iterable[tuple[str, str, str]]) -> str:
    return sha256(canonical({"charter": charter, "upstream": [list(u) for u in upstream]}))


def digests(order: Iterable[Asset], texts: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """id -> (charter digest, lineage digest) for assets given parents first (every parent earlier);
    ``texts``: their canonical charters when already serialised."""
    out: dict[str, tuple[str, str]] = {}
    for a in order:
        cd = Asset.hash_of(texts[a.id]) if texts is not None else a.content_hash
        out[a.id] = (cd, lineage_digest(cd, [(e.parent, e.relation, out[e.parent][1]) for e in a.derived_from]))
    return out


def _dump(x) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def charter_payload(a: Asset, text: str, cd: str, ld: str, parents: Mapping[str, str]) -> bytes:
    """``canonical(charter_statement(a, ld, parents))``, built around the charter's canonical text
    ``text`` without serialising it again (a test checks the two are equal byte for byte)."""
    up = _dump([{"asset": e.parent, "lineage": parents[e.parent], "relation": e.relation} for e in a.derived_from])
    return (f'{{"_type":"{STATEMENT}","predicate":{{"charter":{text},"lineage":"{ld}","upstream":{up}}},'
            f'"predicateType":"{CHARTER_PREDICATE}","subject":{_dump(_subject(a.id, cd))}}}').encode()


def _subject(name: str, digest: str) -> list[dict]:
    return [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}]


def charter_statement(a: Asset, lineage: str, parents: Mapping[str, str]) -> dict:
    """The Statement a publisher signs for ``a``: subject = its charter digest, predicate = the canonical
    charter, its lineage digest and its direct parents' lineage digests."""
    return {"_type": STATEMENT, "subject": _subject(a.id, a.content_hash), "predicateType": CHARTER_PREDICATE,
            "predicate": {"charter": a.to_json(), "lineage": lineage,
                          "upstream": [{"asset": e.parent, "relation": e.relation, "lineage": parents[e.parent]} for e in a.derived_from]}}


def event_statement(action: str, asset: str, charter: str, reason: str, time: str, deny: Iterable[str] = ()) -> dict:
    p = {"action": action, "asset": asset, "reason": reason, "time": time} | ({"deny": list(deny)} if action in ("restrict", "lift-restrictions") else {})
    return {"_type": STATEMENT, "subject": _subject(asset, charter), "predicateType": EVENT_PREDICATE, "predicate": p}


def property_statement(asset: str, charter: str, prop: Mapping) -> dict:
    """An evaluated property of ``asset`` (Property.to_json), vouched for by the signer."""
    return {"_type": STATEMENT, "subject": _subject(asset, charter), "predicateType": PROPERTY_PREDICATE, "predicate": dict(prop)}


def manifest_statement(root: str, lineage: str, body: Mapping) -> dict:
    return {"_type": STATEMENT, "subject": _subject(root, lineage), "predicateType": MANIFEST_PREDICATE, "predicate": dict(body)}


def sign(statement: Mapping, key: PublisherKey) -> dict:
    """A DSSE envelope (dict form) over the Statement's canonical JSON, signed by ``key``."""
    return sign_payload(canonical(statement), key)


def sign_payload(payload: bytes, key: PublisherKey) -> dict:
    """A DSSE envelope (securesystemslib: PAE, then the key's CryptoSigner) over ``payload``."""
    env = Envelope(payload, PAYLOAD_TYPE, {})
    env.sign(key.signer)
    return env.to_dict()


def envelope_digest(env: Mapping) -> str:
    return sha256(canonical(env))


class Bad(Exception):
    """A verification failure: ``unsigned`` (no signature by a key trusted for the asset; accepted with
    --unsigned-ok) or not (a signature or digest that does not hold: never accepted)."""

    def __init__(self, message: str, unsigned: bool = False):
        super().__init__(message)
        self.message = message
        self.unsigned = unsigned


def _b64(text) -> bytes:
    if not isinstance(text, str):
        raise Bad("the envelope is malformed (a field is not base64 text)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Bad("the envelope is malformed (a field is not base64)") from None


def open_envelope(env, asset: str, trust: TrustStore, expect: bytes | None = None) -> tuple[dict | None, str]:
    """Verify a DSSE envelope for ``asset`` against the trust store: (the Statement, the signer's name).

    Reads the envelope strictly (payloadType, base64 fields) and verifies the PAE with the signer's
    Ed25519 key, parsed once per trust store (the same bytes securesystemslib's ``Envelope.pae`` signs).
    ``expect``: the payload the caller expects; when it is exactly that, the Statement is not parsed
    (returned as None)."""
    if not isinstance(env, dict) or not isinstance(env.get("signatures"), list) or env.get("payloadType") != PAYLOAD_TYPE:
        raise Bad(f"the envelope is malformed (expected a DSSE envelope with payloadType {PAYLOAD_TYPE})")
    payload = _b64(env.get("payload"))
    pae = Envelope(payload, PAYLOAD_TYPE, {}).pae()
    why: list[Bad] = []
    for s in env["signatures"]:
        if not isinstance(s, dict) or not isinstance(s.get("keyid"), str):
            raise Bad("the envelope is malformed (a signature without a keyid)")
        k = trust.get(s["keyid"])
        if k is None:
            why.append(Bad(f"signed by key {s['keyid'][:16]}…, which the trust store does not know", unsigned=True))
            continue
        if not k.covers(asset):
            why.append(Bad(f"signed by {k.name}, which is trusted only for {', '.join(k.patterns)}", unsigned=True))
            continue
        try:
            trust.public(k.keyid).verify(_b64(s.get("sig")), pae)
        except InvalidSignature:
            raise Bad(f"the signature by {k.name} does not verify (the envelope was altered)") from None
        if expect is not None and payload == expect:
            return None, k.name
        try:
            st = json.loads(payload, parse_constant=_no_constant)
        except ValueError:
            raise Bad("the signed payload is not JSON") from None
        if not isinstance(st, dict) or st.get("_type") != STATEMENT:
            raise Bad("the signed payload is not an in-toto Statement")
        return st, k.name
    if not why:
        raise Bad("not signed", unsigned=True)
    raise why[0]


def _no_constant(c):
    raise ValueError(f"{c} is not JSON")
