"""charter.serve.http.Corked: uvicorn's httptools protocol, each response in one write."""

from __future__ import annotations

import asyncio

from uvicorn.config import Config
from uvicorn.server import ServerState

from charter.serve.http import Corked


class Transport:
    """What the protocol writes, call by call (a socket's transport, without the socket)."""

    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data):
        self.writes.append(bytes(data))

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


async def app(scope, receive, send):
    if scope["path"] == "/stream":  # a body in three parts, with a turn of the loop between them
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for part in (b"data: 1\n\n", b"data: 2\n\n", b""):
            await send({"type": "http.response.body", "body": part, "more_body": bool(part)})
            await asyncio.sleep(0.01)
        return
    body = b'{"error":{"message":"denied"}}'
    if scope["path"] == "/after":  # work after the last send, before the app returns (the gateway's end record)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        scope["state"]["seen"].extend(scope["state"]["transport"].writes)  # (the scope's state is a copy; the list is shared)
        return
    await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def exchange(*requests: bytes, close: bool = False, state: dict | None = None) -> Transport:
    async def main():
        config = Config(app=app, http=Corked, lifespan="off", log_level="warning")
        config.load()
        t = Transport()
        app_state = state if state is not None else {}
        app_state["transport"] = t
        proto = Corked(config=config, server_state=ServerState(), app_state=app_state, _loop=asyncio.get_running_loop())
        proto.connection_made(t)
        for r in requests:
            proto.data_received(r)
            await asyncio.sleep(0.1)
        if close:
            proto.transport.write(b"tail")
            proto.transport.close()
        return t

    return asyncio.run(main())


def test_a_response_leaves_in_one_write():
    t = exchange(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
                 b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    assert len(t.writes) == 2  # one per response (uvicorn alone: headers, then body)
    for w in t.writes:
        assert w.startswith(b"HTTP/1.1 403 Forbidden\r\n") and w.endswith(b'\r\n\r\n{"error":{"message":"denied"}}')
        assert b"content-length: 30\r\n" in w


def test_a_stream_still_leaves_as_it_is_produced():
    t = exchange(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    joined = b"".join(t.writes)
    assert joined.startswith(b"HTTP/1.1 200 OK\r\n") and joined.endswith(b"data: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n")
    assert len(t.writes) == 3  # headers with the first part, the second part, the end: each in its own turn


def test_close_sends_what_is_held_first():
    t = exchange(close=True)
    assert t.writes == [b"tail"] and t.closed


def test_a_whole_response_leaves_before_the_app_goes_on():
    """Once the last body part is sent the response is written, not at the end of the loop's turn: what the
    app does after it (the gateway queues a completion's end record there) does not delay the answer."""
    state: dict = {"seen": []}
    t = exchange(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n", state=state)
    assert len(state["seen"]) == 1 and state["seen"][0].startswith(b"HTTP/1.1 200 OK\r\n") and state["seen"][0].endswith(b"\r\n\r\nok")
    assert t.writes == state["seen"]
