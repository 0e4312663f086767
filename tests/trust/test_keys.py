"""Publisher keys and the trust store (charter.trust.keys)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from charter.errors import InvalidInput, UsageError
from charter.trust import keys
from charter.trust.keys import TrustStore


def test_keys_are_private_files_and_names_are_checked(tmp_path):
    path, pub, kid = keys.new_key("acme", tmp_path / "k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and pub.startswith("ed25519:")
    assert keys.load("acme", tmp_path / "k").keyid == kid
    with pytest.raises(Exception, match="refusing to overwrite"):
        keys.new_key("acme", tmp_path / "k")
    os.chmod(path, 0o644)
    with pytest.raises(Exception, match="readable by others"):
        keys.load("acme", tmp_path / "k")
    with pytest.raises(Exception, match="not a key name"):
        keys.new_key("../x", tmp_path / "k")


def test_trust_store_patterns_and_file(tmp_path):
    keys.new_key("acme", tmp_path / "k")
    k = keys.load("acme", tmp_path / "k")
    ts = TrustStore.load(tmp_path / "trust.json")
    t = ts.add(str(tmp_path / "k" / "acme.pub"), ["model/acme-*"], "acme")  # a .pub file or the key itself
    assert t.covers("model/acme-chat@1") and t.covers("model/acme-chat@2") and not t.covers("model/other@1") and not t.covers("dataset/acme-x@1")
    ts.add(k.public, ["dataset/acme-*"])  # the same key: its namespaces grow
    again = TrustStore.load(tmp_path / "trust.json")
    assert [x.patterns for x in again.keys] == [["model/acme-*", "dataset/acme-*"]] and again.get(k.keyid).name == "acme"
    with pytest.raises(UsageError, match="not an asset namespace pattern"):
        ts.add(k.public, ["acme"])
    with pytest.raises(InvalidInput, match="does not start with"):
        ts.add("ssh-ed25519 AAAA", ["*"])
    doc = json.loads((tmp_path / "trust.json").read_text())
    doc["keys"][0]["keyid"] = "0" * 64  # a key id that is not its key's
    (tmp_path / "trust.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match="not a trust store"):
        TrustStore.load(tmp_path / "trust.json")
