"""serve/worker.py: the model process answers exactly as the model thread does, stops when asked, survives
its child's death, refuses swapped weights, and reads nothing but its own JSON frames."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys

import pytest

from charter.errors import IntegrityError
from tests.serve.conftest import MODEL, OTHER, SWAPPED


def _run(coro_fn):
    """Run ``coro_fn(proc)`` on a fresh loop with a fresh model process, closed at the end."""
    from charter.serve.worker import ModelProcess

    proc = ModelProcess(threads=1)

    async def go():
        try:
            return await coro_fn(proc)
        finally:
            proc.close()

    return asyncio.run(go())


def _assets(reg, mid):
    from charter.serve.engine import Engine

    return list(Engine.assets_for(reg, mid).values())


CASES = [  # (prompt, params): greedy, seeded sampling with top_p, a stop sequence
    ("the river", dict(max_tokens=8, temperature=0.0, top_p=1.0, stop=[], seed=None)),
    ("good morning", dict(max_tokens=12, temperature=0.9, top_p=0.5, stop=[], seed=3)),
    ("the river", dict(max_tokens=12, temperature=1.0, top_p=1.0, stop=["e"], seed=7)),
]


def test_generations_match_the_model_thread(reg, engine):
    """Text, token counts, finish reason and the streamed pieces, item for item, as Engine.generate on a thread."""
    lm = engine.load(MODEL, engine.assets_for(reg, MODEL))
    want = []
    for prompt, p in CASES:
        pieces: list[str] = []
        g = engine.generate(lm, engine.encode(lm, prompt, 1 << 20, p["max_tokens"]), emit=pieces.append, **p)
        want.append(([g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason], pieces))
    assert any(w[0][2] > 0 for w in want)

    async def go(proc):
        info = await proc.load(MODEL, _assets(reg, MODEL))
        assert info == {"eos": sorted(lm.eos), "context": lm.context}
        got = []
        for prompt, p in CASES:
            ids = engine.encode(lm, prompt, 1 << 20, p["max_tokens"])
            pieces: list[str] = []
            streamed = await proc.generate(MODEL, ids, p, emit=pieces.append).done
            plain = await proc.generate(MODEL, ids, p).done
            assert plain == streamed
            got.append((streamed, pieces))
        return got

    assert _run(go) == want


def test_a_cancel_stops_the_generation_and_drops_a_queued_one(reg, engine):
    lm = engine.load(MODEL, engine.assets_for(reg, MODEL))
    ids = engine.encode(lm, "the river", 1 << 20, 200)
    slow = dict(max_tokens=200, temperature=1.0, top_p=1.0, stop=[], seed=1, delay=0.02)

    async def go(proc):
        await proc.load(MODEL, _assets(reg, MODEL))
        first = asyncio.Event()
        running = proc.generate(MODEL, ids, slow, emit=lambda s: first.set())
        queued = proc.generate(MODEL, ids, slow)
        await asyncio.wait_for(first.wait(), 30)
        proc.cancel(queued)  # still waiting its turn: never started
        proc.cancel(running)
        a, b = await asyncio.wait_for(asyncio.gather(running.done, queued.done), 30)
        after = await proc.generate(MODEL, ids, dict(slow, max_tokens=3, delay=0)).done  # the protocol is still in step
        return a, b, after

    a, b, after = _run(go)
    assert a[3] == "cancelled" and 0 < a[2] < 200
    assert b == ["", len(ids), 0, "cancelled"]
    assert after[1:3] == [len(ids), 3] or after[3] == "stop"


def test_a_dead_child_fails_what_is_in_flight_and_the_next_request_starts_a_new_one(reg, engine):
    from charter.serve.worker import ModelProcessError

    lm = engine.load(MODEL, engine.assets_for(reg, MODEL))
    ids = engine.encode(lm, "the river", 1 << 20, 50)
    p = dict(max_tokens=50, temperature=0.0, top_p=1.0, stop=[], seed=None)

    async def go(proc):
        await proc.load(MODEL, _assets(reg, MODEL))
        want = await proc.generate(MODEL, ids, p).done
        first = asyncio.Event()
        doomed = proc.generate(MODEL, ids, dict(p, delay=0.05), emit=lambda s: first.set())
        await asyncio.wait_for(first.wait(), 30)
        old = proc.pid
        os.kill(old, signal.SIGKILL)
        with pytest.raises(ModelProcessError, match=r"the model process exited \(code -9\)"):
            await asyncio.wait_for(doomed.done, 30)
        again = await asyncio.wait_for(proc.generate(MODEL, ids, p).done, 60)  # reloaded in the new child first
        return want, again, old, proc.pid, proc.starts

    want, again, old, new, starts = _run(go)
    assert again == want and new != old and starts == 2


def test_swapped_weights_are_refused_in_the_child_with_the_same_error(reg, swapped):
    from charter.serve.engine import Engine

    e = Engine()
    try:
        with pytest.raises(IntegrityError) as here:
            e.load(SWAPPED, e.assets_for(reg, SWAPPED))
    finally:
        e.close()

    async def go(proc):
        with pytest.raises(IntegrityError) as there:
            await proc.load(SWAPPED, _assets(reg, SWAPPED))
        return there.value

    there = _run(go)
    assert (there.message, there.where, there.hint) == (here.value.message, here.value.where, here.value.hint)


def test_loading_two_models_and_an_unknown_one(reg):
    from charter.serve.worker import ModelProcessError

    async def go(proc):
        await proc.load(MODEL, _assets(reg, MODEL))
        await proc.load(OTHER, _assets(reg, OTHER))
        with pytest.raises(ModelProcessError, match="model/nope@1 was never loaded in the model process") as e:
            await proc.generate("model/nope@1", [1, 2], dict(max_tokens=1)).done
        return e.value.kind

    assert _run(go) == "ModelProcessError"


def _frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def test_the_child_answers_malformed_requests_with_errors_and_keeps_serving(tmp_path):
    """Whatever arrives is JSON or a clear error (never unpickled, never a crash); the protocol stays in step."""
    import json

    p = subprocess.Popen([sys.executable, "-m", "charter.serve.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    from charter.serve.worker import Channel

    ch = Channel(p.stdout.fileno(), p.stdin.fileno())
    try:
        ch.write({"id": 1, "op": "launch-missiles"})
        assert ch.read(60) == {"id": 1, "error": {"type": "ModelProcessError", "message": "unknown request 'launch-missiles'", "charter": None}}
        os.write(p.stdin.fileno(), _frame(json.dumps([1, 2, 3]).encode()))  # not an object
        assert ch.read(60)["error"]["message"] == "unknown request 'None'"
        ch.write({"id": 3, "op": "generate", "model": "model/x@1", "ids": [1], "max_tokens": 1})
        assert ch.read(60)["error"]["message"] == "model/x@1 was never loaded in the model process"
        ch.write({"id": 4, "op": "load", "model": "model/x@1", "assets": [{"id": "not an asset"}]})
        err = ch.read(60)["error"]
        assert err["type"] and err["message"]
        ch.write({"id": 5, "op": "cancel"})  # a cancel for nothing running: ignored
        ch.write({"id": 6, "op": "nope"})
        assert ch.read(60)["id"] == 6
    finally:
        p.stdin.close()
        assert p.wait(30) == 0  # the end of its input ends it
        p.stdout.close()
        p.stderr.close()


def test_a_frame_larger_than_the_limit_stops_the_parent_reading(monkeypatch):
    from charter.serve import worker

    r, w = os.pipe()
    try:
        os.write(w, struct.pack(">I", worker.MAX_FRAME + 1))
        with pytest.raises(worker.ModelProcessError, match="at most"):
            worker.Channel(r, w).read(5)
    finally:
        os.close(r)
        os.close(w)
