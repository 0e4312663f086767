"""evaluate(): requests gathered across benchmarks, merged, one model call per kind; results JSON-able."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from charter.errors import InvalidInput
from charter.evals import run

from .fakes import FakeLM


def test_one_call_per_request_kind_with_identical_requests_merged():
    lm = FakeLM()
    events = []
    res = run.evaluate(lm, ["crows-pairs", "stereoset", "winobias", "winogender", "bbq"], limit=12,
                       progress=lambda kind, done, total: events.append((kind, done, total)))
    assert list(res) == ["crows-pairs", "stereoset", "winobias", "winogender", "bbq"]
    assert sum(r["requests"] for r in res.values()) == 12 * 2 + 12 * 6 + 12 * 2 + 12 * 2 + 12 * 12
    assert lm.calls == [("loglikelihood", 12 * 2 + 12 * 3 + 12 * 2 + 12 * 2 + 12 * 12), ("continuation_tokens", 12 * 3)]
    assert ("loglikelihood", 252, 252) in events and ("continuation_tokens", 0, 36) in events
    for r in res.values():
        assert r["n"] == 12 and r["version"].startswith(r["name"] + "/") and r["limit"] == 12
        assert len(r["rows"]) == 12 and r["metrics"]
    json.dumps(res)


def test_identical_requests_are_asked_once(monkeypatch):
    twice = SimpleNamespace(NAME="twice", VERSION="twice/1", load=lambda limit: [1, 2],
                            requests=lambda items: [("loglikelihood", ("", "same"))] * 2 + [("loglikelihood", ("a", "b"))],
                            score=lambda items, out: [{"out": out}], aggregate=lambda rows, **kw: {"m": rows[0]["out"]})
    monkeypatch.setitem(run.BENCHMARKS, "twice", twice)
    lm = FakeLM({"same": -1.0, ("a", "b"): -2.0})
    res = run.evaluate(lm, ["twice", "twice"])
    assert lm.calls == [("loglikelihood", 2)] and res["twice"]["metrics"] == {"m": [-1.0, -1.0, -2.0]}


def test_benchmarks_and_their_names():
    assert set(run.BENCHMARKS) == {"crows-pairs", "bbq", "stereoset", "winobias", "winogender", "bold"}
    for name, mod in run.BENCHMARKS.items():
        assert mod.NAME == name and mod.VERSION.startswith(name + "/") and mod.METRICS
    with pytest.raises(InvalidInput, match="unknown benchmark 'crowspairs'") as e:
        run.evaluate(FakeLM(), ["crowspairs"])
    assert "crows-pairs" in e.value.hint


def test_a_model_without_token_counts_is_refused_for_stereoset():
    class Plain:
        name = "plain"

        def loglikelihood(self, requests):
            return [-1.0] * len(requests)

    with pytest.raises(InvalidInput, match="continuation_tokens"):
        run.evaluate(Plain(), ["stereoset"], limit=2)
    assert run.evaluate(Plain(), ["crows-pairs"], limit=2)["crows-pairs"]["n"] == 2
