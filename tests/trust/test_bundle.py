"""Signed charters, bundles, offline verification, feeds (charter.trust): every tampering is detected
with its own one-line message, and a withdrawal travels from one registry to another."""

from __future__ import annotations

import json

import pytest

from charter.cli.main import main
from charter.core.assets import Asset, Edge
from charter.registry import Registry
from charter.store import open_store
from charter.trust import keys
from charter.trust.bundle import (BUNDLE_FORMAT, Unverified, build_bundle, build_feed, import_bundle, import_feed, read_json,
                                  sign_charters, verify_bundle, write_json)
from charter.trust.keys import TrustStore


def A(aid: str, *parents, **kw) -> Asset:
    kind, rest = aid.split("/", 1)
    name, version = rest.rsplit("@", 1)
    edges = tuple(Edge(aid, *(p if isinstance(p, tuple) else (p, "trained-on"))) for p in parents)
    return Asset(id=aid, kind=kind, name=name, version=version, derived_from=edges, **kw)


W = {"sha256": "ab" * 32, "digest": "folder-v2", "files": []}


@pytest.fixture
def world(tmp_path):
    """An upstream registry: a dataset published by 'data-co', a base model, its fine-tune (by 'acme'),
    each signed by its publisher; both publishers trusted for their namespaces."""
    kdir = tmp_path / "keys"
    keys.new_key("data-co", kdir)
    keys.new_key("acme", kdir)
    dk, ak = keys.load("data-co", kdir), keys.load("acme", kdir)
    reg = Registry(open_store(str(tmp_path / "up.db")))
    reg.add([A("dataset/forum@1", licenses=("CC-BY-4.0",), deny=("biometric-identification",)),
             A("dataset/eval-set@1", licenses=("MIT",)),
             A("model/acme-base@1", "dataset/forum@1", ("dataset/eval-set@1", "evaluated-on"), licenses=("apache-2.0",), notes={"weights": W}),
             A("model/acme-chat@1", ("model/acme-base@1", "fine-tuned-from"), licenses=("apache-2.0",), deny=("military",))])
    sign_charters(reg, "dataset/forum@1", dk)
    sign_charters(reg, "dataset/eval-set@1", dk)
    sign_charters(reg, "model/acme-chat@1", ak)
    sign_charters(reg, "model/acme-base@1", ak)
    trust = TrustStore.load(tmp_path / "trust.json")
    trust.add(dk.public, ["dataset/*"], "data-co")
    trust.add(ak.public, ["model/acme-*"], "acme")
    yield reg, dk, ak, trust, tmp_path
    reg.close()


def bundle(world, key=None) -> dict:
    reg, dk, ak, trust, tmp = world
    reg.withdrawals()
    return build_bundle(reg, "model/acme-chat@1", key if key is not None else ak)


def fails(doc, trust, match: str):
    with pytest.raises(Unverified) as e:
        verify_bundle(doc, trust)
    assert match in e.value.message, e.value.message
    assert "\n" not in e.value.oneline()
    return e.value.message


def test_a_signed_bundle_verifies_and_names_its_signers(world):
    reg, dk, ak, trust, tmp = world
    doc = bundle(world)
    assert [a["id"] for a in doc["assets"]] == ["dataset/forum@1", "dataset/eval-set@1", "model/acme-base@1", "model/acme-chat@1"]
    assert doc["content"] == {"model/acme-base@1": ["ab" * 32]}
    v = verify_bundle(json.loads(json.dumps(doc)), trust)
    assert v.signers == {"dataset/forum@1": "data-co", "dataset/eval-set@1": "data-co", "model/acme-base@1": "acme", "model/acme-chat@1": "acme"}
    assert v.manifest_signer == "acme" and not v.warnings


def test_a_deny_removed_upstream_is_detected(world):
    doc = bundle(world)
    doc["assets"][0]["uses"]["deny"] = []
    fails(doc, world[3], "dataset/forum@1: the charter does not match its signature")


def test_the_signed_payload_itself_edited_breaks_the_signature(world):
    doc = bundle(world)
    env = doc["signatures"]["dataset/forum@1"][0]
    import base64

    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["charter"]["uses"]["deny"] = []
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    fails(doc, world[3], "dataset/forum@1: the signature by data-co does not verify (the envelope was altered)")


def test_a_swapped_weight_hash_is_detected_in_the_content_list_and_in_the_charter(world):
    doc = bundle(world)
    doc["content"]["model/acme-base@1"] = ["cd" * 32]
    fails(doc, world[3], "model/acme-base@1: the bundle's data/weights digests do not match its charter")
    doc = bundle(world)
    doc["assets"][2]["notes"]["weights"]["sha256"] = "cd" * 32
    doc["content"]["model/acme-base@1"] = ["cd" * 32]
    fails(doc, world[3], "model/acme-base@1: the charter does not match its signature")


def test_a_signature_from_an_untrusted_key_is_detected(world, tmp_path):
    reg, dk, ak, trust, _ = world
    keys.new_key("mallory", tmp_path / "other")
    mk = keys.load("mallory", tmp_path / "other")
    doc = bundle(world)
    sign_charters(reg, "dataset/forum@1", mk)
    forged = build_bundle(reg, "model/acme-chat@1", mk)
    doc["signatures"]["dataset/forum@1"] = [forged["signatures"]["dataset/forum@1"][-1]]
    fails(doc, trust, "dataset/forum@1: signed by key")
    assert "which the trust store does not know" in fails(doc, trust, "")
    # a known key outside its namespace: acme may not sign for datasets
    sign_charters(reg, "dataset/forum@1", ak)
    doc["signatures"]["dataset/forum@1"] = [build_bundle(reg, "model/acme-chat@1", ak)["signatures"]["dataset/forum@1"][-1]]
    fails(doc, trust, "dataset/forum@1: signed by acme, which is trusted only for model/acme-*")


def test_a_reordered_lineage_is_detected(world):
    doc = bundle(world)
    doc["assets"][0], doc["assets"][2] = doc["assets"][2], doc["assets"][0]
    fails(doc, world[3], "dataset/forum@1: listed after model/acme-base@1, which derives from it (the lineage was reordered)")
    doc = bundle(world)  # the edges of a charter reordered: its digest changes
    a = doc["assets"][2]
    a["derived_from"] = a["derived_from"][::-1]
    fails(doc, world[3], "model/acme-base@1: the charter does not match its signature")


def test_an_upstream_asset_cut_from_the_bundle_is_detected(world):
    doc = bundle(world)
    del doc["assets"][1]
    fails(doc, world[3], "model/acme-base@1: derives from dataset/eval-set@1, which is not in the bundle")


def test_a_dropped_withdrawal_breaks_the_manifest(world):
    reg, dk, ak, trust, _ = world
    reg.withdraw("model/acme-base@1", "unsafe outputs")
    doc = bundle(world)
    assert len(doc["events"]) == 1 and verify_bundle(json.loads(json.dumps(doc)), trust).events[0][2] == "acme"
    del doc["events"][0]
    fails(doc, trust, "manifest: the bundle's events do not match its manifest")
    doc = bundle(world)
    doc["manifest"] = None
    fails(doc, trust, "the bundle has no manifest signature")


def test_an_event_signed_by_a_key_not_trusted_for_its_asset_is_detected(world):
    reg, dk, ak, trust, _ = world
    reg.withdraw("dataset/forum@1", "consent revoked")
    doc = bundle(world)  # acme signs the withdrawal of data-co's dataset: not acme's namespace
    fails(doc, trust, "events[0] (dataset/forum@1): signed by acme, which is trusted only for model/acme-*")


def test_unsigned_bundle_needs_unsigned_ok(world):
    reg, dk, ak, trust, tmp = world
    reg.add([A("model/acme-raw@1", ("model/acme-chat@1", "quantized-from"))])
    doc = build_bundle(reg, "model/acme-raw@1")
    fails(doc, trust, "model/acme-raw@1: not signed")
    v = verify_bundle(doc, trust, unsigned_ok=True)
    assert v.signers["model/acme-raw@1"] is None and v.signers["model/acme-chat@1"] == "acme"
    assert any("manifest signature" in w for w in v.warnings)


@pytest.mark.parametrize("text, match", [
    ('{"format": "charter-bundle/1", "root": "model/x@1", "assets": [', "the file ends early (truncated)"),
    ("garbage{", "not JSON (Expecting value at line 1 column 1)"),
    ('{"format": "charter-bundle/1", "format": "x"}', "duplicate key 'format'"),
    ('[1, 2]', "format is 'list'"),
    ('{"format": "charter-bundle/1", "root": "model/x@1", "assets": [{"id": 3}], "signatures": {}, "events": [], "content": {}}',
     "assets[0]: the charter is malformed"),
    ('{"format": "charter-bundle/1", "root": NaN}', "NaN is not JSON"),
])
def test_truncated_or_garbage_files_are_one_line_errors(tmp_path, text, match):
    p = tmp_path / "b.json"
    p.write_text(text)
    with pytest.raises(Unverified) as e:
        doc, _ = read_json(p, BUNDLE_FORMAT, "bundle")
        verify_bundle(doc, TrustStore(), where=str(p))
    assert match in e.value.message, e.value.message


def test_a_truncated_real_bundle_is_detected(world):
    reg, dk, ak, trust, tmp = world
    p = tmp / "b.json"
    write_json(bundle(world), p)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(Unverified, match="the file ends early"):
        read_json(p, BUNDLE_FORMAT, "bundle")


def test_import_bundle_registers_signatures_and_provenance(world, tmp_path):
    reg, dk, ak, trust, tmp = world
    reg.restrict("model/acme-chat@1", ["medical-advice"], "not evaluated for it")
    p = tmp / "b.json"
    write_json(bundle(world), p)
    down = Registry(open_store(str(tmp / "down.db")))
    out = import_bundle(down, p, trust)
    assert out["added"][-1] == "model/acme-chat@1" and out["by_signer"] == {"data-co": ["dataset/forum@1", "dataset/eval-set@1"],
                                                                           "acme": ["model/acme-base@1", "model/acme-chat@1"]}
    assert [e.data["signer"] for e in down.store.events(type="import-bundle")] == ["data-co", "data-co", "acme", "acme"]
    assert {s.source.split()[0] for s in down.store.signatures()} == {out["bundle"].join(["bundle:", ""])}
    assert not down.check("model/acme-chat@1", ["inference", "medical-advice"]).allowed  # the restriction came along
    # the imported registry bundles again and the result verifies (signatures travel on)
    again = build_bundle(down, "model/acme-chat@1", ak)
    assert verify_bundle(again, trust).signers["dataset/forum@1"] == "data-co"
    assert import_bundle(down, p, trust)["added"] == []  # idempotent
    down.close()


def test_import_refuses_unverifiable_unless_unsigned_ok_and_never_a_tampered_one(world, tmp_path):
    reg, dk, ak, trust, tmp = world
    reg.add([A("model/acme-raw@1", ("model/acme-chat@1", "quantized-from"))])
    p = tmp / "b.json"
    write_json(build_bundle(reg, "model/acme-raw@1"), p)
    down = Registry(open_store(str(tmp / "down.db")))
    with pytest.raises(Unverified, match="model/acme-raw@1: not signed"):
        import_bundle(down, p, trust)
    assert down.store.count() == 0
    out = import_bundle(down, p, trust, unsigned_ok=True)
    assert out["by_signer"]["(unsigned)"] == ["model/acme-raw@1"]
    doc = build_bundle(reg, "model/acme-raw@1")
    doc["assets"][0]["uses"]["deny"] = []
    write_json(doc, p)
    with pytest.raises(Unverified, match="dataset/forum@1: the charter does not match its signature"):
        import_bundle(Registry(open_store(str(tmp / "d2.db"))), p, trust, unsigned_ok=True)
    down.close()


def test_feed_round_trip_between_two_registries(world):
    reg, dk, ak, trust, tmp = world
    p = tmp / "b.json"
    write_json(bundle(world), p)
    down = Registry(open_store(str(tmp / "down.db")))
    import_bundle(down, p, trust)
    gateway = Registry(open_store(str(tmp / "down.db")))  # another process on the downstream registry (its gateway polls it the same way)
    assert down.check("model/acme-chat@1", ["inference"]).allowed and gateway.check("model/acme-chat@1", ["inference"]).allowed
    t0 = "2020-01-01"
    reg.withdraw("dataset/forum@1", "consent revoked")
    reg.restrict("model/acme-base@1", ["medical-advice"], "hallucinates doses")
    feed = build_feed(reg, t0, dk)
    assert [e["envelope"] is not None for e in feed["entries"]] == [True, True]
    # data-co signs its dataset's withdrawal; acme's restriction must be signed by acme: two feeds, one per publisher
    fp = tmp / "feed.json"
    write_json(feed, fp)
    with pytest.raises(Unverified, match=r"events\[1\] \(model/acme-base@1\): signed by data-co, which is trusted only for dataset/\*"):
        import_feed(down, fp, trust)
    assert down.check("model/acme-chat@1", ["inference"]).allowed  # nothing applied from a refused feed
    feed["entries"] = feed["entries"][:1] + build_feed(reg, t0, ak)["entries"][1:]
    write_json(feed, fp)
    out = import_feed(down, fp, trust)
    assert [(x["action"], x["asset"], x["signer"]) for x in out["applied"]] == [("withdraw", "dataset/forum@1", "data-co"),
                                                                              ("restrict", "model/acme-base@1", "acme")]
    d = down.check("model/acme-chat@1", ["inference"])
    assert not d.allowed and d.reasons[0].rule == "withdrawn" and "signed by data-co" in d.reasons[0].detail
    import time

    time.sleep(Registry.POLL_S * 2)
    assert not gateway.check("model/acme-chat@1", ["inference"]).allowed  # seen by the other process at its next poll
    gateway.close()
    assert import_feed(down, fp, trust)["skipped"][0]["why"] == "already imported"
    # relayed: the downstream registry's own feed carries data-co's envelope as it came
    relayed = build_feed(down, t0)
    assert relayed["entries"][0]["envelope"] == feed["entries"][0]["envelope"]
    # a lift travels too
    reg.lift("dataset/forum@1", "consent restored")
    lift = build_feed(reg, t0, dk)
    lift["entries"] = [e for e in lift["entries"] if json.loads(__import__("base64").b64decode(e["envelope"]["payload"]))["predicate"]["action"] == "lift"]
    write_json(lift, fp)
    import_feed(down, fp, trust)
    assert "dataset/forum@1" not in down.withdrawals()
    down.close()


def test_a_tampered_feed_entry_is_refused(world):
    reg, dk, ak, trust, tmp = world
    reg.withdraw("dataset/forum@1", "consent revoked")
    feed = build_feed(reg, "2020-01-01", dk)
    feed["entries"][0]["envelope"]["signatures"][0]["sig"] = feed["entries"][0]["envelope"]["signatures"][0]["sig"][::-1]
    fp = tmp / "feed.json"
    write_json(feed, fp)
    with pytest.raises(Unverified, match="does not verify|malformed"):
        import_feed(Registry(open_store(str(tmp / "x.db"))), fp, trust)


def test_cli_sign_bundle_verify_import(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHARTER_KEYS", str(tmp_path / "keys"))
    monkeypatch.setenv("CHARTER_TRUST", str(tmp_path / "trust.json"))
    up, down = str(tmp_path / "up.db"), str(tmp_path / "down.db")
    (tmp_path / "c.yaml").write_text("assets:\n- {id: dataset/d@1, license: MIT}\n- id: model/acme-m@1\n  license: MIT\n"
                                     "  uses: {deny: [military]}\n  derived_from: [{asset: dataset/d@1, relation: trained-on}]\n")
    assert main(["add", str(tmp_path / "c.yaml"), "--registry", up]) == 0
    assert main(["key", "new", "acme"]) == 0
    pub = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["sign", "model/acme-m@1", "--key", "acme", "--upstream", "--registry", up]) == 0
    assert main(["bundle", "model/acme-m@1", "--out", str(tmp_path / "b.json"), "--key", "acme", "--registry", up]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset/d@1: signed by key" in err
    assert main(["trust", "add", pub, "--for", "*", "--name", "acme"]) == 0
    assert main(["verify", str(tmp_path / "b.json")]) == 0
    assert main(["import", "bundle", str(tmp_path / "b.json"), "--registry", down]) == 0
    assert main(["can", "model/acme-m@1", "inference", "military", "--registry", down]) == 3
    capsys.readouterr()
    assert main(["show", "model/acme-m@1", "--registry", down]) == 0
    shown = capsys.readouterr().out
    assert "import-bundle from bundle b.json" in shown and "signed by acme" in shown and "charter signature by key" in shown
    assert main(["withdraw", "dataset/d@1", "--reason", "consent revoked", "--registry", up]) == 0
    assert main(["feed", "--since", "2020-01-01", "--key", "acme", "--out", str(tmp_path / "f.json"), "--registry", up]) == 0
    assert main(["import", "feed", str(tmp_path / "f.json"), "--registry", down]) == 0
    assert main(["can", "model/acme-m@1", "inference", "--registry", down]) == 3
    (tmp_path / "g.json").write_text("garbage")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "g.json")]) == 1
    assert "not a bundle: not JSON" in capsys.readouterr().err


def test_the_demo_bundle_steps(tmp_path, capsys):
    """The demo's last steps (cli/demo.py bundle_steps) on a stand-in for the adapted model: signed, bundled,
    verified, imported by a fresh registry that refuses the creep use."""
    from charter.cli.demo import bundle_steps

    db = str(tmp_path / "registry.db")
    (tmp_path / "c.yaml").write_text(
        "assets:\n- {id: dataset/community-mt@2, license: CC-BY-4.0, uses: {allow: [fine-tuning, machine-translation, commercial]}}\n"
        "- id: model/smollm2-community-mt@1\n  license: Apache-2.0\n  derived_from: [{asset: dataset/community-mt@2, relation: trained-on}]\n")
    assert main(["add", str(tmp_path / "c.yaml"), "--registry", db]) == 0
    for step in bundle_steps(tmp_path):
        assert main([*step.argv, "--registry", step.registry or db]) == step.expect, step.title
    out = capsys.readouterr().out
    assert "verified" in out and "face-recognition" in out


@pytest.mark.parametrize("field, value", [("derived_from", [{"asset": ["x"], "relation": "trained-on"}]), ("licenses", "MIT"),
                                          ("requires", [{"use": "commercial", "benchmark": "bbq", "metric": "acc", "min": "0.5"}]),
                                          ("data", {"digests": [{"sha256": [1]}]}), ("uses", {"allow": [1]})])
def test_charters_of_the_wrong_shape_are_malformed_not_crashes(world, field, value):
    doc = bundle(world)
    doc["assets"][0][field] = value
    fails(doc, world[3], "dataset/forum@1: the charter is malformed")


def test_the_roots_evaluations_travel_signed_and_are_attached(world):
    from charter.core.assets import Property

    reg, dk, ak, trust, tmp = world
    reg.attach([Property("model/acme-chat@1", "bbq", "bbq/1.1", "amb_bias_score", 0.01, (-0.02, 0.04), 300)])
    doc = bundle(world)
    v = verify_bundle(json.loads(json.dumps(doc)), trust)
    assert [(p.benchmark, p.metric, p.value, who) for p, who in v.properties] == [("bbq", "amb_bias_score", 0.01, "acme")]
    p = tmp / "b.json"
    write_json(doc, p)
    down = Registry(open_store(str(tmp / "down.db")))
    assert import_bundle(down, p, trust)["properties_attached"] == 1
    assert down.properties("model/acme-chat@1")[("bbq", "amb_bias_score")].ci == (-0.02, 0.04)
    assert import_bundle(down, p, trust)["properties_attached"] == 0
    down.close()
    import base64

    env = doc["properties"][0]["envelope"]
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["value"] = 0.0
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    fails(doc, trust, "properties[0]: the signature by acme does not verify")
    doc = bundle(world)
    doc["properties"] = []
    fails(doc, trust, "manifest: the bundle's properties do not match its manifest")
