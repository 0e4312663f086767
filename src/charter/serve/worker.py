"""The model process: the gateway's model work in a child process (``charter serve`` does this by default).

Why a process: a forward pass on the CPU is a run of short torch operations, each releasing the GIL and
taking it back at once, so while the model ran on a thread of the gateway's process the audit writer
thread, woken to commit the request's start record, rarely got the GIL before the forward pass ended; the
answer then waited for that COMMIT after the model (README "Gateway"). With the model in its own process
the gateway's threads are idle during the forward pass and the COMMIT overlaps it.

The protocol is length-prefixed JSON (4-byte big-endian length, then UTF-8 JSON) over the child's stdin
and stdout; nothing is unpickled. Every message carries the request's ``id``; the child answers requests
one at a time, in the order sent:

    parent -> child  {"op": "load", "model": ID, "assets": [Asset JSON, ...]}
                     {"op": "generate", "model": ID, "ids": [...], "max_tokens": N, "temperature": T,
                      "top_p": P, "stop": [...], "seed": S, "delay": SECONDS, "stream": BOOL}
                     {"op": "cancel"}   (stop that generate before its next token, or drop it if queued)
    child -> parent  {"ok": {"eos": [...], "context": N}}   (load)
                     {"emit": TEXT}                         (stream: text as it becomes final)
                     {"done": [TEXT, PROMPT_TOKENS, COMPLETION_TOKENS, FINISH_REASON]}
                     {"error": {"type": NAME, "message": ..., "charter": CharterError JSON or null}}

The child verifies every weights folder against its registered digest as the in-thread engine does (an
IntegrityError crosses back as itself). A child that dies fails the requests in flight (500s that are
audited); the next request starts a new child, which reloads the models loaded so far.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import itertools
import json
import os
import select
import struct
import subprocess
import sys
import time
from typing import Callable, Sequence

from charter.serve.osnames import MODEL_PROCESS, name_this_thread

_LEN = struct.Struct(">I")
MAX_FRAME = 1 << 30


class ModelProcessError(RuntimeError):
    """The model process failed or died; ``kind`` is the error's type name as the child raised it."""

    def __init__(self, message: str, kind: str = "ModelProcessError"):
        super().__init__(message)
        self.kind = kind


class Channel:
    """Frames over a pair of pipe file descriptors (its own buffer: ``pending`` must see bytes already read)."""

    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd
        self._buf = bytearray()

    def write(self, msg: dict) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode()
        out = memoryview(_LEN.pack(len(data)) + data)
        while out:
            out = out[os.write(self.wfd, out):]

    def _frame(self) -> dict | None:
        if len(self._buf) < 4:
            return None
        n = _LEN.unpack_from(self._buf)[0]
        if n > MAX_FRAME:
            raise ModelProcessError(f"a frame of {n} bytes from the model process (at most {MAX_FRAME})")
        if len(self._buf) < 4 + n:
            return None
        data = bytes(self._buf[4:4 + n])
        del self._buf[:4 + n]
        return json.loads(data)

    def read(self, timeout: float | None = None) -> dict | None:
        """The next message; None at end of input, or when ``timeout`` seconds pass without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (msg := self._frame()) is None:
            if deadline is not None and not select.select([self.rfd], [], [], max(deadline - time.monotonic(), 0))[0]:
                return None
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise EOFError("the other end closed the pipe")
            self._buf += chunk
        return msg


# --- the parent's side -----------------------------------------------------------------------------------

class Request:
    """One request in flight: ``done`` resolves to the child's answer (or its error)."""

    __slots__ = ("id", "done", "emit")

    def __init__(self, rid: int, done: asyncio.Future, emit: Callable[[str], None] | None):
        self.id, self.done, self.emit = rid, done, emit


class ModelProcess:
    """The child process holding the models, driven from the event loop: requests are written to its
    stdin as they come (it answers them in order, one at a time) and its answers are read by a reader
    callback on the loop, so a request costs no thread hop on this side. Started on first use on the
    running loop; a child that dies fails the requests in flight, and the next request starts a new one
    (reloading the models loaded so far); a request on another event loop than the child's restarts it
    there. Use from the event loop's thread only."""

    def __init__(self, threads: int | None = None):
        self.threads = threads
        self._p: subprocess.Popen | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rfd = self._wfd = -1
        self._out = bytearray()  # frames not yet taken by the pipe
        self._in = bytearray()
        self._pending: dict[int, Request] = {}
        self._ids = itertools.count(1)
        self._assets: dict[str, list[dict]] = {}  # model id -> its assets' JSON: what a new child reloads
        self.starts = 0  # children started (a restart after a death counts)

    @property
    def pid(self) -> int | None:
        return self._p.pid if self._p is not None else None

    # --- requests ---
    async def load(self, model_id: str, assets: Sequence) -> dict:
        """Load ``model_id`` in the child (verified there); its {"eos": [...], "context": N}."""
        js = [a.to_json() for a in assets]
        out = await self._request({"op": "load", "model": model_id, "assets": js}).done
        self._assets[model_id] = js
        return out

    def generate(self, model_id: str, ids: list[int], params: dict, emit: Callable[[str], None] | None = None) -> Request:
        """Send a generation; ``done`` gives [text, prompt_tokens, completion_tokens, finish_reason]. With
        ``emit`` it streams (text as it becomes final, on the loop)."""
        return self._request({"op": "generate", "model": model_id, "ids": list(ids), "stream": emit is not None, **params}, emit)

    def cancel(self, req: Request) -> None:
        """Stop a generation before its next token (or before it starts); its ``done`` still resolves."""
        if req.id in self._pending and self._p is not None:
            self._send({"op": "cancel", "id": req.id})

    def _request(self, msg: dict, emit=None) -> Request:
        self._ensure()
        req = Request(next(self._ids), self._loop.create_future(), emit)
        self._pending[req.id] = req
        self._send({**msg, "id": req.id})
        return req

    # --- the child ---
    def _ensure(self) -> None:
        loop = asyncio.get_running_loop()
        if self._p is not None and self._loop is loop:
            return
        if self._p is not None:
            self._stop("the model process was started on another event loop")
        argv = [sys.executable, "-m", "charter.serve.worker"] + (["--threads", str(self.threads)] if self.threads else [])
        self._p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, close_fds=True)
        self.starts += 1
        self._loop, self._rfd, self._wfd = loop, self._p.stdout.fileno(), self._p.stdin.fileno()
        self._in.clear()
        self._out.clear()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        loop.add_reader(self._rfd, self._readable)
        for mid, assets in self._assets.items():  # a new child: what the old one had loaded, first (answers unawaited)
            req = Request(next(self._ids), loop.create_future(), None)
            req.done.add_done_callback(_quiet)
            self._pending[req.id] = req
            self._send({"op": "load", "model": mid, "assets": assets, "id": req.id})

    def _send(self, msg: dict) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode()
        idle = not self._out
        self._out += _LEN.pack(len(data)) + data
        if idle:
            self._writable()

    def _writable(self) -> None:
        try:
            while self._out:
                n = os.write(self._wfd, self._out)
                del self._out[:n]
        except BlockingIOError:  # the pipe is full: the rest when the child has read some
            self._loop.add_writer(self._wfd, self._writable)
            return
        except OSError:  # the child is gone
            self._stop(None)
            return
        self._loop.remove_writer(self._wfd)

    def _readable(self) -> None:
        try:
            while True:
                chunk = os.read(self._rfd, 1 << 16)
                if not chunk:
                    return self._stop(None)
                self._in += chunk
        except BlockingIOError:
            pass
        except OSError:
            return self._stop(None)
        while len(self._in) >= 4:
            n = _LEN.unpack_from(self._in)[0]
            if n > MAX_FRAME:
                return self._stop(f"a frame of {n} bytes from the model process (at most {MAX_FRAME})")
            if len(self._in) < 4 + n:
                break
            data = bytes(self._in[4:4 + n])
            del self._in[:4 + n]
            self._answer(json.loads(data))

    def _answer(self, msg: dict) -> None:
        req = self._pending.get(msg.get("id")) if isinstance(msg, dict) else None
        if req is None:
            return
        if "emit" in msg:
            if req.emit is not None:
                req.emit(msg["emit"])
            return
        del self._pending[req.id]
        if req.done.done():
            return
        try:
            req.done.set_result(_result(msg))
        except Exception as e:
            req.done.set_exception(e)

    def _stop(self, why: str | None) -> None:
        """Let the child go (closing its input ends it) and fail every request in flight."""
        p, self._p = self._p, None
        if p is None:
            return
        try:
            self._loop.remove_reader(self._rfd)
            self._loop.remove_writer(self._wfd)
        except RuntimeError:  # the loop is closed already
            pass
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            code = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            code = p.wait()
        why = why or f"the model process exited (code {code}); the next request starts a new one"
        pending, self._pending = self._pending, {}
        for req in pending.values():
            if not req.done.done():
                req.done.set_exception(ModelProcessError(why))

    def close(self) -> None:
        """Stop the child (from the event loop's thread, or once that loop has stopped)."""
        self._stop("the gateway is shutting down")


def _quiet(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: a failed reload shows as the next generate's error instead


def _result(reply: dict | None):
    if reply is None or not isinstance(reply, dict):
        raise ModelProcessError(f"an unexpected message from the model process: {str(reply)[:200]}")
    if "error" in reply:
        raise _error(reply["error"])
    if "ok" in reply:
        return reply["ok"]
    if "done" in reply:
        return reply["done"]
    raise ModelProcessError(f"an unexpected message from the model process: {str(reply)[:200]}")


def _error(e: dict) -> Exception:
    """The child's error as the parent raises it: a CharterError as its own class, anything else by name."""
    import charter.errors as errors

    c = e.get("charter")
    if c is not None:
        cls = next((k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.CharterError)
                    and k.__name__ == e.get("type")), errors.CharterError)
        try:
            return cls(c.get("message", ""), hint=c.get("hint", ""), where=c.get("where", ""), field=c.get("field", ""))
        except TypeError:  # a subclass with its own constructor (Denied, NotPermitted): the base class, same text
            return errors.CharterError(c.get("message", ""), hint=c.get("hint", ""), where=c.get("where", ""), field=c.get("field", ""))
    return ModelProcessError(str(e.get("message", "")), str(e.get("type", "Exception")))


# --- the child's side ------------------------------------------------------------------------------------

def _error_json(e: BaseException) -> dict:
    from charter.errors import CharterError

    return {"type": type(e).__name__, "message": str(e), "charter": e.to_json() if isinstance(e, CharterError) else None}


def serve(ch: Channel, threads: int | None = None) -> None:
    """The child's loop: requests answered one at a time, in order, until the parent closes its end.
    While a generation runs, what arrives is read between tokens: a cancel for it stops it, a cancel for
    a request still queued drops that request, anything else waits its turn."""
    from charter.core.assets import Asset
    from charter.serve.engine import Engine

    engine = Engine(threads)
    queued: collections.deque = collections.deque()
    dropped: set = set()
    state = {"current": None, "stop": False, "last": 0}  # the request generating, whether to stop it, the last id started
    assets: dict[str, dict] = {}  # model id -> its assets as last sent (a failed load is retried by a generate)

    def take(msg) -> None:
        if isinstance(msg, dict) and msg.get("op") == "cancel":
            rid = msg.get("id")
            if rid == state["current"]:
                state["stop"] = True
            elif isinstance(rid, int) and rid > state["last"]:
                dropped.add(rid)
        else:
            queued.append(msg)

    def stop_asked() -> bool:  # asked before every token
        try:
            while (m := ch.read(0)) is not None:
                take(m)
        except EOFError:
            os._exit(0)  # the parent is gone: nobody to answer
        return state["stop"]

    def load(mid: str):
        hit = engine.loaded(mid)
        if hit is None:
            if mid not in assets:
                raise ModelProcessError(f"{mid} was never loaded in the model process")
            hit = engine.load(mid, assets[mid])
        return hit

    while True:
        if not queued:
            try:
                take(ch.read())
            except EOFError:
                return
            continue
        msg = queued.popleft()
        rid = msg.get("id") if isinstance(msg, dict) else None
        if isinstance(rid, int):
            state["last"] = max(state["last"], rid)
        state["current"], state["stop"] = rid, False
        try:
            op = msg.get("op") if isinstance(msg, dict) else None
            if rid in dropped:
                dropped.discard(rid)
                ch.write({"id": rid, "done": ["", len(msg.get("ids") or ()), 0, "cancelled"]})
            elif op == "load":
                assets[msg["model"]] = {a.id: a for a in map(Asset.from_json, msg["assets"])}
                lm = load(msg["model"])
                gc.collect()  # what is loaded lives as long as the process: out of the collector's full passes (as app.py)
                gc.freeze()
                ch.write({"id": rid, "ok": {"eos": sorted(lm.eos), "context": lm.context}})
            elif op == "generate":
                lm = load(msg["model"])
                emit = (lambda s: ch.write({"id": rid, "emit": s})) if msg.get("stream") else None
                g = engine.generate(lm, msg["ids"], msg["max_tokens"], msg.get("temperature", 1.0), msg.get("top_p", 1.0),
                                    msg.get("stop") or (), msg.get("seed"), emit=emit, cancelled=stop_asked, delay=msg.get("delay") or 0)
                ch.write({"id": rid, "done": [g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason]})
            else:
                raise ModelProcessError(f"unknown request {str(op)[:50]!r}")
        except Exception as e:
            ch.write({"id": rid, "error": _error_json(e)})
        finally:
            state["current"] = None


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m charter.serve.worker", description="the gateway's model process (started by the gateway)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    name_this_thread(MODEL_PROCESS)
    rfd, wfd = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the protocol
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    serve(Channel(rfd, wfd), args.threads)


if __name__ == "__main__":
    main()
