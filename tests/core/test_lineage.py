"""Compiled lineage: composed from parents at registration, shortest paths, BFS tie-breaks."""

from charter.core.assets import Asset, Edge
from charter.core.lineage import Terms, closure, compile_lineage, dumps, loads


def asset(aid, *parents, rel="trained-on", deny=()):
    kind, rest = aid.split("/", 1)
    name, version = rest.split("@")
    return Asset(aid, kind, name, version, deny=tuple(deny), licenses=("MIT",),
                 derived_from=tuple(Edge(aid, p, rel) for p in parents))


def build(*assets):
    out = {}
    for a in assets:  # parents first
        out[a.id] = compile_lineage(a, out)
    return out


def test_diamond_shortest_path_and_first_parent_tie_break():
    # d <- b <- a, d <- c <- a, and a shortcut: e <- d directly
    lin = build(
        asset("dataset/d@1"),
        asset("model/b@1", "dataset/d@1"),
        asset("model/c@1", "dataset/d@1"),
        asset("model/a@1", "model/b@1", "model/c@1"),
        asset("model/e@1", "model/a@1", "dataset/d@1"),
    )
    a = {u.asset.id: u.path for u in lin["model/a@1"]}
    # tie between b and c: the earlier parent in derived_from (b) wins
    assert a == {"model/a@1": ("model/a@1",), "model/b@1": ("model/a@1", "model/b@1"),
                 "model/c@1": ("model/a@1", "model/c@1"), "dataset/d@1": ("model/a@1", "model/b@1", "dataset/d@1")}
    e = {u.asset.id: u.path for u in lin["model/e@1"]}
    assert e["dataset/d@1"] == ("model/e@1", "dataset/d@1")  # the direct edge is shorter
    assert [u.asset.id for u in lin["model/e@1"]] == ["model/e@1", "dataset/d@1", "model/a@1", "model/b@1", "model/c@1"]
    assert closure(lin["model/e@1"]) == {"dataset/d@1": 1, "model/a@1": 1, "model/b@1": 2, "model/c@1": 2}


def test_evaluated_on_does_not_enter():
    lin = build(asset("dataset/bench@1"), asset("model/m@1", "dataset/bench@1", rel="evaluated-on"))
    assert [u.asset.id for u in lin["model/m@1"]] == ["model/m@1"]


def test_roundtrip_keeps_terms_and_paths():
    lin = build(asset("dataset/d@1", deny=["military"]), asset("model/b@1", "dataset/d@1"), asset("model/a@1", "model/b@1"))
    back = loads(dumps(lin["model/a@1"]))
    assert back == lin["model/a@1"]
    assert back[2].asset == Terms("dataset/d@1", ("MIT",), (), ("military",), ())
    assert back[2].path == ("model/a@1", "model/b@1", "dataset/d@1")
