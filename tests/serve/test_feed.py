"""A withdrawal signed upstream reaches this registry's gateway through `charter import feed` (issue 17 §3)."""

from __future__ import annotations

import shutil

from tests.conftest import PUBLISHER
from tests.serve.conftest import TRANSLATE
from tests.serve.test_app import complete


def test_a_signed_upstream_withdrawal_imported_from_a_feed_stops_the_gateway(client, world, db, tmp_path):
    from charter.registry import Registry
    from charter.trust import keys
    from charter.trust.bundle import build_feed, import_feed, write_json
    from charter.trust.keys import TrustStore

    assert complete(client, world.keys[TRANSLATE]).status_code == 200
    # the publisher's own registry holds the same charter; it withdraws and publishes a signed feed
    shutil.copyfile(db, tmp_path / "publisher.db")
    keys.new_key("publisher", tmp_path / "keys")
    k = keys.load("publisher", tmp_path / "keys")
    up = Registry.open(str(tmp_path / "publisher.db"))
    up.withdraw(PUBLISHER, "the publisher withdrew the weights")
    write_json(build_feed(up, "2000-01-01", k), tmp_path / "feed.json")
    up.close()
    trust = TrustStore.load(tmp_path / "trust.json")
    trust.add(k.public, [PUBLISHER.rsplit("@", 1)[0]], "publisher")
    other = Registry.open(db)  # `charter import feed` in another process, on the gateway's registry
    try:
        out = import_feed(other, tmp_path / "feed.json", trust)
    finally:
        other.close()
    assert [(x["action"], x["asset"], x["signer"]) for x in out["applied"]] == [("withdraw", PUBLISHER, "publisher")]
    r = complete(client, world.keys[TRANSLATE])
    assert r.status_code == 451 and "signed by publisher" in r.json()["error"]["message"]
