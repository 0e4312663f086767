"""charter.registry.Registry: the library entry point over a store."""

from __future__ import annotations

import textwrap

import time

import pytest

from charter.core import uses as uses_mod
from charter.errors import Conflict, InvalidInput, LineageCycle, NotFound, StoreError, UnknownUse, UsageError
from charter.policy import licenses as licenses_mod
from charter.registry import Hop, Registry
from charter.store.memory import MemoryStore
from charter.store import open_store
from charter.store.sqlite import SQLiteStore
from tests.pgfixtures import ON_POSTGRES

TAX = uses_mod.load()
LIC = licenses_mod.load(TAX)

LINEAGE = """
- id: dataset/web@1
  license: CC-BY-NC-4.0
  uses: {deny: [military]}
- id: dataset/bench@1
  license: MIT
- id: model/base@1
  license: MIT
  uses: {allow: [inference]}
  duties: [share-alike]
  derived_from:
    - {asset: dataset/web@1, relation: trained-on}
    - {asset: dataset/bench@1, relation: evaluated-on}
- id: application/app@1
  license: Academic-Research-Only
  derived_from: [{asset: model/base@1, relation: deployed-from}]
"""


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


@pytest.fixture(params=["memory", "sqlite"])
def reg(request, tmp_path):
    store = MemoryStore() if request.param == "memory" else open_store(str(tmp_path / "r.db"))
    r = Registry(store, TAX, LIC)
    yield r
    r.close()


@pytest.fixture
def lineage(reg, tmp_path):
    reg.add_files([write(tmp_path, "lineage.yaml", LINEAGE)])
    return reg


# --- registration ----------------------------------------------------------------------------

def test_add_files_across_files(reg, tmp_path):
    a = write(tmp_path, "a.yaml", "id: model/m@1\nlicense: MIT\nderived_from: [{asset: dataset/d@1, relation: trained-on}]\n")
    b = write(tmp_path, "b.json", '{"id": "dataset/d@1", "license": "MIT"}')
    added = reg.add_files([a, b])  # a refers to an asset defined in the later file
    assert [x.id for x in added] == ["dataset/d@1", "model/m@1"]
    assert reg.add_files([b, a]) == []
    assert reg.store.count() == 2


@pytest.mark.parametrize("second, exc", [
    ("id: model/n@1\nuses: {deny: [face-recogniton]}\n", UnknownUse),
    ("id: model/n@1\nderived_from: [{asset: dataset/missing@1, relation: trained-on}]\n", NotFound),
    ("id: model/n@1\nlicence: MIT\n", InvalidInput),
    ("id: dataset/d@1\nlicense: GPL-3.0\n", InvalidInput),  # same id as in the first file
    (("- {id: model/p@1, derived_from: [{asset: model/q@1, relation: merged-from}]}\n"
      "- {id: model/q@1, derived_from: [{asset: model/p@1, relation: merged-from}]}\n"), LineageCycle),
    ("id: model/n@1\nlicense: [MIT\n", InvalidInput),
])
def test_add_files_is_atomic(reg, tmp_path, second, exc):
    first = write(tmp_path, "first.yaml", "- {id: dataset/d@1, license: MIT}\n- {id: model/m@1, derived_from: [{asset: dataset/d@1, relation: trained-on}]}\n")
    bad = write(tmp_path, "second.yaml", second)
    with pytest.raises(exc) as e:
        reg.add_files([first, bad])
    assert reg.store.count() == 0
    assert reg.store.events() == []
    if isinstance(e.value, InvalidInput):
        assert "second.yaml" in e.value.where


def test_add_files_same_id_in_two_files_names_both(reg, tmp_path):
    a = write(tmp_path, "a.yaml", "id: dataset/d@1\n")
    b = write(tmp_path, "b.yaml", "id: dataset/d@1\n")
    with pytest.raises(InvalidInput) as e:
        reg.add_files([a, b])
    assert str(a) in e.value.message and str(b) in e.value.message
    assert e.value.field == "id" and e.value.where == str(b)


def test_add_files_conflict_with_registered_names_the_file(reg, tmp_path):
    reg.add_files([write(tmp_path, "a.yaml", "id: dataset/d@1\nlicense: MIT\n")])
    b = write(tmp_path, "b.yaml", "id: dataset/d@1\nlicense: GPL-3.0\n")
    with pytest.raises(Conflict) as e:
        reg.add_files([b])
    assert e.value.where == str(b)


# --- lookup ----------------------------------------------------------------------------------

def test_resolve_latest_version(reg, tmp_path):
    reg.add_files([write(tmp_path, "a.yaml", "- {id: model/m@1}\n- {id: model/other@1}\n")])
    reg.add_files([write(tmp_path, "b.yaml", "id: model/m@2\n")])
    assert reg.resolve("model/m") == "model/m@2"
    assert reg.resolve("model/m@1") == "model/m@1"
    assert reg.get("model/m").version == "2"


def test_resolve_name_with_slash(reg):
    from charter.core.assets import Asset

    reg.add([Asset(id="model/org/x@1", kind="model", name="org/x", version="1")])
    assert reg.resolve("model/org/x") == "model/org/x@1"


@pytest.mark.parametrize("ref", ["model/nope", "model/nope@1", "nonsense", "model/", "robot/x"])
def test_resolve_unknown(reg, ref):
    with pytest.raises(NotFound) as e:
        reg.resolve(ref)
    assert e.value.hint


def test_resolve_unknown_version_lists_registered(reg, tmp_path):
    reg.add_files([write(tmp_path, "a.yaml", "id: model/m@1\n")])
    with pytest.raises(NotFound) as e:
        reg.resolve("model/m@7")
    assert "model/m@1" in e.value.hint
    with pytest.raises(NotFound) as e:
        reg.check("model/m@7", ["inference"])


def test_check_uses(reg):
    assert reg.check_uses(["fine-tuning,commercial", " inference ", "commercial"]) == ("fine-tuning", "commercial", "inference")
    with pytest.raises(UnknownUse) as e:
        reg.check_uses(["fine-tunning"])
    assert e.value.hint == "did you mean 'fine-tuning'?" and e.value.field == "uses"
    with pytest.raises(UsageError):
        reg.check_uses([])
    with pytest.raises(UsageError):
        reg.check_uses([" , "])


# --- decisions -------------------------------------------------------------------------------

def test_check_and_can(lineage):
    reg = lineage
    d = reg.check("application/app", ["inference", "academic-research"])
    assert d.asset == "application/app@1" and d.allowed and d.reasons == ()
    assert [e.type for e in reg.store.events()] == ["register"] * 4  # check() records nothing

    d = reg.can("application/app@1", ["inference", "commercial", "military"])
    assert not d.allowed
    assert {(r.asset, r.rule, r.use, r.source) for r in d.reasons} == {
        ("application/app@1", "allow-only", "commercial", "license:Academic-Research-Only"),
        ("dataset/web@1", "deny", "military", "uses.deny"),
        ("dataset/web@1", "deny", "commercial", "license:CC-BY-NC-4.0"),
    }
    (event,) = reg.store.events(type="decision")
    assert event.asset == "application/app@1"
    assert event.data == d.to_json()
    assert event.data["allowed"] is False and len(event.data["reasons"]) == 3
    assert {r["path"][-1] for r in event.data["reasons"]} == {"application/app@1", "dataset/web@1"}

    allowed = reg.can("model/base", ["inference"])
    assert allowed.allowed
    assert [e.data["allowed"] for e in reg.store.events(type="decision")] == [False, True]


def test_ls(lineage):
    reg = lineage
    everything = reg.ls()
    assert [a.id for a, _ in everything] == ["dataset/web@1", "dataset/bench@1", "model/base@1", "application/app@1"]
    assert all(d is None for _, d in everything)
    assert [a.id for a, _ in reg.ls(kind="dataset")] == ["dataset/web@1", "dataset/bench@1"]
    ok = reg.ls(allowed=["commercial"])
    assert [a.id for a, _ in ok] == ["dataset/bench@1"]
    assert all(d.allowed for _, d in ok)
    assert [a.id for a, _ in reg.ls(allowed=["inference", "academic-research"])] == [
        "dataset/web@1", "dataset/bench@1", "model/base@1", "application/app@1"]
    assert [a.id for a, _ in reg.ls(kind="model", allowed=["fine-tuning"])] == []
    assert reg.store.events(type="decision") == []


def test_trace(lineage):
    reg = lineage
    assert reg.trace("application/app", down=False) == [Hop("model/base@1", 1), Hop("dataset/web@1", 2)]
    assert reg.trace("application/app", down=False, depth=1) == [Hop("model/base@1", 1)]
    assert reg.trace("dataset/web@1", down=True) == [Hop("model/base@1", 1), Hop("application/app@1", 2)]
    assert reg.trace("dataset/web@1", down=True, depth=1) == [Hop("model/base@1", 1)]
    assert reg.trace("dataset/bench@1", down=True) == []  # evaluated-on does not propagate


def test_withdraw_returns_affected_downstream_and_flips_decisions(lineage):
    reg = lineage
    assert reg.check("application/app@1", ["inference", "academic-research"]).allowed  # warms the cache
    w, hops = reg.withdraw("dataset/web", "takedown request")
    assert (w.asset, w.reason) == ("dataset/web@1", "takedown request")
    assert hops == [Hop("model/base@1", 1), Hop("application/app@1", 2)]
    d = reg.check("application/app@1", ["inference", "academic-research"])
    assert not d.allowed
    (r,) = d.reasons
    assert (r.asset, r.rule, r.use, r.source, r.path) == (
        "dataset/web@1", "withdrawn", None, "withdrawal", ("application/app@1", "model/base@1", "dataset/web@1"))
    assert [e.type for e in reg.store.events()][-1] == "withdraw"


def test_withdraw_benchmark_affects_nothing(lineage):
    _, hops = lineage.withdraw("dataset/bench@1", "contaminated")
    assert hops == []
    assert lineage.check("model/base@1", ["inference"]).allowed


def test_effective(lineage):
    reg = lineage
    reg.withdraw("dataset/web@1", "takedown")
    eff = reg.effective("application/app")
    app, base, web = "application/app@1", "model/base@1", "dataset/web@1"
    to_app = {"asset": app, "path": [app]}
    to_base = {"asset": base, "path": [app, base]}
    to_web = {"asset": web, "path": [app, base, web]}
    assert eff["deny"] == [
        {"use": "military", "source": "uses.deny", **to_web},
        {"use": "commercial", "source": "license:CC-BY-NC-4.0", **to_web},
    ]
    assert eff["allow"] == [
        {"use": "academic-research", "facet": "context", "source": "license:Academic-Research-Only", **to_app},
        {"use": "inference", "facet": "activity", "source": "uses.allow", **to_base},
    ]
    assert eff["duties"] == [
        {"duty": "attribution", "source": "license:Academic-Research-Only", **to_app},
        {"duty": "share-alike", "source": "duties", **to_base},
        {"duty": "attribution", "source": "license:MIT", **to_base},
        {"duty": "attribution", "source": "license:CC-BY-NC-4.0", **to_web},
    ]
    (wd,) = eff["withdrawn"]
    assert wd["asset"] == web and wd["reason"] == "takedown" and wd["path"] == [app, base, web] and wd["time"]


def test_effective_missing_licence(reg):
    from charter.core.assets import Asset

    reg.add([Asset(id="dataset/d@1", kind="dataset", name="d", version="1")])
    eff = reg.effective("dataset/d@1")
    assert eff["deny"] == [{"use": "commercial", "source": "license:unspecified", "asset": "dataset/d@1", "path": ["dataset/d@1"]}]


VOLUNTEERS = """
- id: compute/alice@1
  uses: {deny: [military, surveillance]}
  public_key: "ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
  notes: {owner: Alice}
- id: compute/bob@1
  uses: {allow: [scientific-research]}
  public_key: "ed25519:ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
- id: model/base@1
  license: MIT
  derived_from:
    - {asset: compute/alice@1, relation: trained-with}
    - {asset: compute/bob@1, relation: trained-with}
  notes: {contributors: [{compute: compute/alice@1, samples: 1200, steps: 40}]}
- id: model/tuned@1
  license: MIT
  derived_from:
    - {asset: model/base@1, relation: fine-tuned-from}
    - {asset: compute/alice@1, relation: trained-with}
  notes: {contributors: [{compute: compute/alice@1, samples: 300, steps: 10}]}
"""


def test_contributors_and_effective_of_volunteer_compute(reg, tmp_path):
    reg.add_files([write(tmp_path, "v.yaml", VOLUNTEERS)])
    assert reg.resolve("compute/alice") == "compute/alice@1"
    assert reg.contributors("model/base@1") == [
        {"compute": "compute/alice@1", "model": "model/base@1", "path": ["model/base@1", "compute/alice@1"],
         "samples": 1200, "steps": 40, "owner": "Alice"},
        {"compute": "compute/bob@1", "model": "model/base@1", "path": ["model/base@1", "compute/bob@1"],
         "samples": None, "steps": None, "owner": None},
    ]
    # nearest first: alice trained the tuned model directly (300 samples) and its base (1200)
    assert [(c["compute"], c["model"], c["samples"], len(c["path"])) for c in reg.contributors("model/tuned@1")] == [
        ("compute/alice@1", "model/tuned@1", 300, 2),
        ("compute/alice@1", "model/base@1", 1200, 3),
        ("compute/bob@1", "model/base@1", None, 3),
    ]
    assert reg.contributors("compute/alice@1") == []
    eff = reg.effective("compute/alice@1")  # no licence: nothing from the 'unspecified' licence
    assert eff["deny"] == [{"use": u, "source": "uses.deny", "asset": "compute/alice@1", "path": ["compute/alice@1"]}
                           for u in ("military", "surveillance")]
    assert eff["duties"] == [] and eff["allow"] == []
    d = reg.check("model/tuned@1", ["inference", "military"])
    assert {(r.asset, r.rule, r.use, r.path) for r in d.reasons} == {
        ("compute/alice@1", "deny", "military", ("model/tuned@1", "compute/alice@1")),
        ("compute/bob@1", "allow-only", "military", ("model/tuned@1", "model/base@1", "compute/bob@1")),
    }
    assert reg.check("model/tuned@1", ["inference", "scientific-research", "commercial"]).allowed
    assert [h.asset for h in reg.trace("compute/alice@1", down=True)] == ["model/base@1", "model/tuned@1"]


def test_lineage_members_and_paths(lineage):
    ups = lineage.lineage("application/app@1")
    assert [(u.asset.id, u.path) for u in ups] == [
        ("application/app@1", ("application/app@1",)),
        ("model/base@1", ("application/app@1", "model/base@1")),
        ("dataset/web@1", ("application/app@1", "model/base@1", "dataset/web@1")),
    ]
    assert all(u.withdrawal is None for u in ups)
    with pytest.raises(NotFound):
        lineage.lineage("model/none@1")


# --- SQLite: two registries, one file ----------------------------------------------------------

def test_two_registries_share_withdrawals(tmp_path):
    path = tmp_path / "r.db"
    a = Registry(open_store(str(path)), TAX, LIC)
    b = Registry(open_store(str(path)), TAX, LIC)
    try:
        a.add_files([write(tmp_path, "l.yaml", LINEAGE)])
        assert b.check("application/app", ["inference", "academic-research"]).allowed
        a.withdraw("dataset/web@1", "takedown")
        d = b.check("application/app", ["inference", "academic-research"])
        assert not d.allowed and d.reasons[0].rule == "withdrawn"
        b.can("application/app", ["inference"])
        # b's decision reaches the shared log within SQLiteStore.DEFER_S (group commit), unprompted
        deadline = time.monotonic() + 5
        while [e.type for e in a.store.events()][-1] != "decision" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [e.type for e in a.store.events()][-2:] == ["withdraw", "decision"]
    finally:
        a.close()
        b.close()


def test_open(tmp_path, monkeypatch):
    ext = write(tmp_path, "ext.yaml", "uses: [{id: voice-cloning, parents: [speaker-identification]}]\n")
    reg = Registry.open("memory:", taxonomy_files=[ext])
    reg.add_files([write(tmp_path, "m.yaml", "id: model/m@1\nlicense: MIT\nuses: {deny: [biometric-identification]}\n")])
    d = reg.check("model/m", ["voice-cloning"])
    assert not d.allowed and d.reasons[0].use == "voice-cloning"
    reg.close()

    with pytest.raises(StoreError):
        Registry.open(str(tmp_path / "none.db"), create=False)
    monkeypatch.setenv("CHARTER_REGISTRY", str(tmp_path / "env.db"))
    reg = Registry.open()
    assert (ON_POSTGRES or isinstance(reg.store, SQLiteStore)) and (tmp_path / "env.db").exists()
    reg.close()


def test_index_ids_decides_as_the_store_lookup_does(tmp_path):
    path = tmp_path / "r.db"
    plain = Registry(open_store(str(path)), TAX, LIC)
    plain.add_files([write(tmp_path, "l.yaml", LINEAGE)])
    indexed = Registry(open_store(str(path)), TAX, LIC)
    assert indexed.index_ids() == 4
    asks = [("application/app@1", ("inference", "academic-research")), ("application/app@1", ("inference", "commercial")),
            ("model/base@1", ("inference", "military")), ("dataset/bench@1", ("fine-tuning",))]
    for ref, uses in asks:
        assert indexed.check(ref, uses) == plain.check(ref, uses)
    # registered after the index was read: looked up in the store; withdrawn after it: seen at once
    plain.add_files([write(tmp_path, "m.yaml", "id: model/later@1\nlicense: MIT\nderived_from: [{asset: dataset/web@1, relation: trained-on}]\n")])
    assert indexed.check("model/later@1", ["inference"]).allowed
    plain.withdraw("dataset/web@1", "takedown")
    d = indexed.check("model/later@1", ["inference"])
    assert not d.allowed and d.reasons[0].rule == "withdrawn"
    assert not indexed.check("application/app@1", ["inference", "academic-research"]).allowed
    plain.close()
    indexed.close()


def test_summaries_list_what_ls_lists_without_decoding_charters(tmp_path):
    reg = Registry(open_store(str(tmp_path / "r.db")), TAX, LIC)
    reg.add_files([write(tmp_path, "l.yaml", LINEAGE)])
    for kind, allowed in ((None, None), ("model", None), (None, ["inference", "academic-research"]), ("dataset", ["fine-tuning"])):
        assert reg.summaries(kind, allowed) == [(a.id, a.kind, a.name, a.version, a.licenses) for a, _ in reg.ls(kind, allowed)]
    assert reg.summaries(allowed=["inference", "academic-research"])[-1] == ("application/app@1", "application", "app", "1", ("Academic-Research-Only",))
    reg.close()
