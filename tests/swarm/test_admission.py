"""Admission proofs: the run token's HMAC of the peer id, and the volunteer key's signature of it."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.swarm.admission import Admission, proof
from charter.swarm.ledger import public_key_string

RUN, TOKEN = "charter-run", "s3cret-token"
PEER, OTHER = "12D3KooWPeerA", "12D3KooWPeerB"


def _value(key, token=TOKEN, peer=PEER, run=RUN) -> dict:
    return {"hmac": proof(token, run, peer), "key": public_key_string(key),
            "sig": base64.b64encode(key.sign(f"{run}|{peer}".encode())).decode()}


def test_the_proof_is_an_hmac_of_run_and_peer_id():
    import hashlib
    import hmac

    assert proof(TOKEN, RUN, PEER) == hmac.new(b"s3cret-token", b"charter-run|12D3KooWPeerA", hashlib.sha256).hexdigest()


def test_a_proof_admits_only_its_own_peer_in_its_own_run():
    k = Ed25519PrivateKey.generate()
    a = Admission(RUN, TOKEN)
    assert a.valid(PEER, _value(k))
    assert not a.valid(OTHER, _value(k))  # copied to another peer id
    assert not a.valid(PEER, _value(k, token="guessed"))  # without the token
    assert not a.valid(PEER, _value(k, run="another-run"))
    for junk in (None, "x", {"hmac": 5}, {}, [1]):
        assert not a.valid(PEER, junk)


def test_an_allow_list_also_needs_a_listed_key_and_its_signature():
    alice, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    a = Admission(RUN, TOKEN, allow_keys=frozenset({public_key_string(alice)}))
    assert a.valid(PEER, _value(alice))
    assert not a.valid(PEER, _value(mallory))  # has the token, not a listed key
    forged = dict(_value(mallory), key=public_key_string(alice))  # claims alice's key, signed by mallory
    assert not a.valid(PEER, forged)
    assert not a.valid(PEER, dict(_value(alice), sig="not base64!"))


def test_unknown_peers_are_refused_and_counted():
    class DHT:
        def __init__(self, entries):
            self.entries = entries

        def get(self, key, latest=True):
            class Item:
                def __init__(self, value):
                    self.value = value
            return Item({p: Item(v) for p, v in self.entries.items()}) if key == f"{RUN}.admission" else None

    k = Ed25519PrivateKey.generate()
    a = Admission(RUN, TOKEN, dht=DHT({PEER: _value(k), OTHER: _value(k, token="wrong", peer=OTHER)}))
    assert a.admits(PEER) and not a.admits(OTHER)
    assert a.admitted == {PEER: public_key_string(k)} and a.refused == 1


def test_subkey_names_come_before_the_owner_marker():
    from charter.swarm.admission import subkey_name

    assert subkey_name(b"12D3KooWPeerA[owner:ssh-rsa AAAA]") == "12D3KooWPeerA"
    assert subkey_name("plain") == "plain" and subkey_name(b"\xff[owner:x]") is None and subkey_name(5) is None


def test_only_the_coordinators_signature_ends_a_run():
    """Anyone can write `<run>.finished` in the DHT; a volunteer stops only for the coordinator's signature."""
    from charter.swarm.peer import FINISHED, Peer, PeerConfig

    coordinator, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    class Item:
        def __init__(self, value):
            self.value = value

    class DHT:
        def __init__(self, values):
            self.values = values

        def get(self, key, latest=True):
            return Item({f"s{i}": Item(v) for i, v in enumerate(self.values)}) if key == f"{RUN}.{FINISHED}" else None

    def signed(key):
        return {"sig": base64.b64encode(key.sign(f"{RUN}|{FINISHED}".encode())).decode()}

    peer = Peer(PeerConfig(role="volunteer", run_id=RUN, folder="/nonexistent", base="", method="lora", token_file="", key_file="",
                           coordinator_key=public_key_string(coordinator)))
    peer.dht = DHT([True, {"sig": "x"}, signed(mallory)])
    assert not peer.finished()
    peer.dht = DHT([signed(mallory), signed(coordinator)])
    assert peer.finished()


def test_a_crafted_join_file_is_refused_field_by_field(tmp_path):
    """join.json comes from someone else's machine: every field is checked, one line naming it, never a traceback."""
    import json

    import pytest

    from charter.errors import InvalidInput
    from charter.swarm.run import read_join

    good = {"charter_swarm": 1, "run_id": "r", "token": "t", "method": "lora", "uses": ["research"], "bootstrap": ["/ip4/127.0.0.1/tcp/1"],
            "coordinator_key": public_key_string(Ed25519PrivateKey.generate()), "data": {"asset": "dataset/d@1", "hash": "h"},
            "base": {"asset": "model/m@1", "sha256": "s"}, "training": {}}
    f = tmp_path / "join.json"
    f.write_text(json.dumps(good))
    assert read_join(f)["run_id"] == "r"
    for field, bad in [("charter_swarm", 2), ("token", 5), ("uses", "research"), ("uses", [1]), ("coordinator_key", "ed25519:AAAA"),
                       ("data", {"asset": "dataset/d@1"}), ("base", {"sha256": "s"}), ("training", [])]:
        f.write_text(json.dumps({**good, field: bad}))
        with pytest.raises(InvalidInput) as e:
            read_join(f)
        assert e.value.where == str(f) and (e.value.field or "").startswith(field), (field, e.value)
    f.write_text("[1, 2]")
    with pytest.raises(InvalidInput):
        read_join(f)
