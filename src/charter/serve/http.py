"""uvicorn's httptools protocol, with each response leaving in one write.

uvicorn writes a response's status line and headers as soon as the app sends ``http.response.start``,
and its body when the app sends ``http.response.body``: two ``send`` system calls and two TCP segments
for every small JSON answer (py-spy: ~12% of the gateway's time under a flood of refusals). Here the
connection's transport holds what is written during one turn of the event loop and sends it together at
the end of that turn (``loop.call_soon``), or as soon as a response is complete, as TCP_CORK would: the
same bytes in the same order, no later than the turn in which they were written. Closing or aborting the
connection, and flow control, act on the real transport (a close sends what is held first).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _Held:
    """A transport that sends the writes of one event-loop turn in one ``write``."""

    __slots__ = ("_t", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._t, self._loop, self._held = transport, loop, []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        held, self._held = self._held, []
        if held and not self._t.is_closing():
            self._t.write(held[0] if len(held) == 1 else b"".join(held))

    def writelines(self, chunks) -> None:
        for c in chunks:
            self.write(c)

    def write_eof(self) -> None:
        self.flush()
        self._t.write_eof()

    def close(self) -> None:
        self.flush()
        self._t.close()

    def abort(self) -> None:
        self._held = []
        self._t.abort()

    def get_write_buffer_size(self) -> int:
        return self._t.get_write_buffer_size() + sum(map(len, self._held))

    def __getattr__(self, name):  # everything else (extra info, reading, flow control) is the transport's
        return getattr(self._t, name)


class Corked(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Held(transport, self.loop))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        # A whole response leaves now, not at the end of the turn: what the app does after its last send
        # (the gateway queues a completion's end record) then runs after the answer is out, not before it.
        self.transport.flush()
        super().on_response_complete()
