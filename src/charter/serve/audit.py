"""The gateway's audit log: a record per request, allowed or not (two per completion), appended to a hash chain.

Each entry stores the canonical JSON of its record, the previous entry's hash and its own,
``sha256(prev + record)`` (``charter.store.chain.chain_hash``); the first entry's ``prev`` is 64 zeros.
Changing, removing or reordering an entry breaks the chain at that entry or the next one;
``verify`` walks it and names the first broken seq. Anchor the head hash elsewhere to detect a
cut-off tail or a chain rewritten whole as well: ``head`` gives (count, hash) to hand to a witness,
``Anchorer`` (``charter serve --anchor-file``) appends one such anchor at a time to a JSON Lines file
outside the registry, and ``verify`` checks any number of anchors.

The gateway appends through ``AuditWriter``: a thread that commits everything queued while the
previous batch was committing in one transaction (group commit), and resolves each request's future
only after COMMIT, so a request is answered once its decision's record is durable, without blocking the event loop
(an event loop's requests in a batch are resumed by one callback on that loop). A batch that fails to commit
fails every request in it: none is answered as if recorded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from charter.serve.osnames import AUDIT_WRITER, name_this_thread
from charter.store.base import now
from charter.store.chain import GENESIS, AuditEntry, audit_json, paged, walk_chain

OUTCOMES = ("allowed", "denied", "withdrawn", "unauthorized", "rate-limited", "overloaded", "invalid", "error")


def record(*, time: str, endpoint: str, status: int, outcome: str, application: str | None = None, key: str | None = None,
           model: str | None = None, uses=(), reasons=(), prompt_tokens: int | None = None, completion_tokens: int | None = None,
           error: str | None = None, code: str | None = None, duration_ms: float | None = None, stream: bool = False, client: str | None = None,
           request_id: str | None = None, phase: str | None = None, finish_reasons=None, disconnected: bool = False, conditions=()) -> dict:
    """The record of one request (the keys are the audit schema; see docs/cli-json.md). A completion has two,
    linked by ``request_id``: ``phase`` "start" (the decision, committed before any output leaves) and "end"
    (tokens, finish reasons, an error, whether the client went away); every other request has one, ``phase`` None."""
    return {
        "time": time,
        "endpoint": endpoint,
        "status": status,
        "decision": outcome,
        "application": application,
        "key": key,
        "model": model,
        "uses": list(uses),
        "reasons": [r if isinstance(r, Mapping) else r.to_json() for r in reasons],
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "error": error,
        "code": code,
        "duration_ms": None if duration_ms is None else round(duration_ms, 3),
        "stream": stream,
        "client": client,
        "request_id": request_id,
        "phase": phase,
        "finish_reasons": None if finish_reasons is None else list(finish_reasons),
        "disconnected": disconnected,
    } | ({"conditions": [c.to_json() for c in conditions]} if conditions else {})  # attested licence conditions it rests on


def suppressed(*, client: str | None, count: int, first: str, last: str) -> dict:
    """The one record that stands for ``count`` requests without a valid key refused 429 from one address
    (or, client None, from addresses beyond the tracked ones) between ``first`` and ``last``."""
    return {"time": last, "first": first, "endpoint": "*", "status": 429, "decision": "rate-limited", "application": None, "key": None,
            "model": None, "uses": [], "reasons": [], "count": count, "client": client, "stream": False, "code": "rate_limit_exceeded",
            "error": f"{count} request{'s' * (count != 1)} without a valid key over the per-address limit, answered 429 and counted here"}


def entries(store, page: int = 10_000) -> Iterator[AuditEntry]:
    return paged(store.audit_entries, page)


@dataclass
class Verification:
    ok: bool
    entries: int
    head: str  # the last entry's hash (GENESIS when empty): anchor it to detect a rewritten tail
    broken: int | None = None  # the first seq where the chain breaks
    problem: str = ""

    def to_json(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head": self.head, "broken_seq": self.broken, "problem": self.problem}


def head(store) -> tuple[int, str]:
    """(entries, hash of the last one): the anchor to hand to an outside witness. A chain alone cannot
    show that its tail was cut off or that it was rewritten whole; checked against an anchor, it can."""
    return store.audit_head()


def parse_anchor(text: str) -> tuple[int, str]:
    from charter.errors import UsageError

    count, _, h = str(text).partition(":")
    if not count.isdigit() or not _is_hash(h):
        raise UsageError(f"--expect {text!r} is not COUNT:HASH", hint="pass what `charter audit head` printed, e.g. 1200:<64 hex digits>")
    return int(count), h


def _is_hash(h) -> bool:
    return isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h)


def read_anchors(path: Path) -> list[tuple[int, str]]:
    """The anchors of a file ``Anchorer`` wrote: one JSON object ``{"count", "hash", "time"}`` a line.
    A line that is not one is an error naming file:line (a witness that cannot be read proves nothing)."""
    from charter.errors import InvalidInput

    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read the anchors file {path}: {e}", hint="pass the file `charter serve --anchor-file` writes", where=str(path)) from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            a = json.loads(line)
        except ValueError:
            a = None
        if not (isinstance(a, dict) and type(a.get("count")) is int and a["count"] >= 0 and _is_hash(a.get("hash"))):
            raise InvalidInput(f"{path}:{i}: not an anchor (a JSON object with an integer count and a 64-hex hash)",
                               hint="the file must be what `charter serve --anchor-file` appended, unedited", where=f"{path}:{i}")
        out.append((a["count"], a["hash"]))
    return out


def verify(store, expect: tuple[int, str] | Iterable[tuple[int, str]] | None = None) -> Verification:
    """Walk the chain from the first entry; stop at the first entry that does not fit. With ``expect``
    (one anchor from ``head``: COUNT, HASH, or several, e.g. ``read_anchors``), the chain must also still
    hold entry COUNT, with that hash, for every anchor: a cut-off tail or a chain rewritten from the
    start fails even though each link fits."""
    anchors = [] if expect is None else [expect] if isinstance(expect, tuple) and len(expect) == 2 and isinstance(expect[0], int) else list(expect)
    want: dict[int, str] = {}
    for count, h in anchors:
        if want.setdefault(count, h) != h:
            return Verification(False, 0, GENESIS, count, f"two anchors disagree about entry {count}: {want[count][:12]}… and {h[:12]}…")
    w = walk_chain(entries(store), marks=want)  # store/chain.py: the one chain walk (the action log's too)
    if not w.ok:
        return Verification(False, w.entries, w.head, w.broken, w.problem)
    n, prev, seen = w.entries, w.head, w.marks
    for count in sorted(want):
        if count > n:
            return Verification(False, n, prev, n + 1, f"the log has {n} entries, fewer than the {count} anchored: its tail was removed")
        if seen[count] != want[count]:
            return Verification(False, n, prev, count, f"entry {count} has hash {seen[count][:12]}…, not the anchored {want[count][:12]}…: the log was rewritten")
    return Verification(True, n, prev)


# --- writing: the gateway's audit writer and its anchors ------------------------------------------

class AuditWriter:
    """Appends audit records on its own thread and its own connection (``Store.audit_writer``), in
    batches: whatever was queued while one batch committed goes into the next, in one transaction
    (group commit: one fsync for the batch, not one per request). ``append`` resolves only after
    the COMMIT that made the record durable; a failed batch fails every request in it."""

    def __init__(self, store, max_batch: int = 2048):
        self.store = store.audit_writer()
        self._own = self.store is not store
        self.max_batch = max_batch
        self.batches = 0  # transactions committed (the group commit's effect: far fewer than records)
        self.records = 0
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="charter-audit-writer", daemon=True)
        self._thread.start()

    def submit(self, rec: Mapping) -> concurrent.futures.Future:
        """Queue a record; the future gives its AuditEntry once committed."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if self._closed:
            fut.set_exception(RuntimeError("the audit writer is closed"))
        else:
            self._q.put((rec, fut))
        return fut

    def settled(self, timeout: float | None = 60) -> None:
        """Wait until every record queued before this call is committed (or failed): a completion's end
        record is queued as it is answered, and committed by the writer's next batch."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if self._closed:
            return
        self._q.put((_SETTLED, fut))
        fut.result(timeout)

    async def append(self, rec: Mapping) -> AuditEntry:
        """Queue a record and wait (without blocking the loop) until its batch is committed. The writer
        wakes the loop once per batch, not once per record (``_settle_loop``)."""
        if self._closed:
            raise RuntimeError("the audit writer is closed")
        fut = asyncio.get_running_loop().create_future()
        self._q.put((rec, fut))
        return await fut

    def append_sync(self, rec: Mapping, timeout: float | None = 60) -> AuditEntry:
        return self.submit(rec).result(timeout)

    def close(self, timeout: float = 60) -> None:
        """Commit everything queued, then stop (and close the writer's own connection)."""
        if self._closed:
            return
        self._closed = True
        self._q.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        name_this_thread(AUDIT_WRITER)
        try:
            stop = False
            while not stop:
                batch = [self._q.get()]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._q.get_nowait())
                    except queue.Empty:
                        break
                stop = None in batch
                self._commit([b for b in batch if b is not None])
            late = []  # queued by a request that raced close(): failed, never left waiting
            while True:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    late.append((item[1], None, RuntimeError("the audit writer is closed")))
            _settle_all(late)
        finally:
            if self._own:
                self.store.close()

    def _commit(self, batch: list) -> None:
        texts, futs = [], []
        bad, marks = [], []
        for rec, fut in batch:
            if rec is _SETTLED:
                marks.append((fut, None, None))
                continue
            try:
                texts.append(rec if isinstance(rec, str) else audit_json(rec))
                futs.append(fut)
            except (TypeError, ValueError) as e:  # a record that is not JSON fails alone
                bad.append((fut, None, e))
        if bad:
            _settle_all(bad)
        if not texts:
            _settle_all(marks)
            return
        try:
            got = self.store._append_audit_many(texts)
        except Exception as e:  # nothing of the batch was committed: every request in it fails
            _settle_all([(fut, None, e) for fut in futs] + marks)
            return
        self.batches += 1
        self.records += len(got)
        _settle_all([(fut, e, None) for fut, e in zip(futs, got)] + marks)


_SETTLED = object()  # a queue entry that writes nothing: its future resolves once what came before it is committed


def _settle_all(outcomes: list) -> None:
    """Resolve a batch's futures: thread futures here, each event loop's futures in one callback on that
    loop (one wake-up per batch, not one per request)."""
    loops: dict = {}
    for fut, result, exc in outcomes:
        if isinstance(fut, asyncio.Future):
            loops.setdefault(fut.get_loop(), []).append((fut, result, exc))
        else:
            _settle(fut, result, exc)
    for loop, items in loops.items():
        try:
            loop.call_soon_threadsafe(_settle_loop, items)
        except RuntimeError:  # the loop is closed: nobody is waiting any more (the records are written all the same)
            pass


def _settle_loop(items: list) -> None:
    for fut, result, exc in items:
        if not fut.done():  # a request cancelled (a client gone, a shutdown) is left so
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result)


def _settle(fut: concurrent.futures.Future, result=None, exception: BaseException | None = None) -> None:
    """Resolve a request's future; one its request cancelled (a client gone, a shutdown) is left so:
    the record is written all the same."""
    try:
        if exception is not None:
            fut.set_exception(exception)
        else:
            fut.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


def default_anchor_file(registry: str | os.PathLike) -> Path:
    """Where ``charter serve`` writes anchors unless told: beside the registry file, REGISTRY.anchors.jsonl."""
    p = Path(registry)
    return p.with_name(p.name.removesuffix(".db") + ".anchors.jsonl")


class Anchorer:
    """Every ``every`` seconds, appends the audit log's head ``{"count", "hash", "time"}`` as one JSON
    line to ``path`` (opened for append only, fsynced), when it moved since the last anchor; also once
    at start and at stop. The file lives outside the registry: whoever can rewrite the registry's audit
    table must also rewrite every copy of this file to go unnoticed (``charter audit verify --anchors``)."""

    def __init__(self, registry: str, path: Path, every: float):
        from charter.store import open_store

        self.path, self.every = Path(path), every
        self.store = open_store(registry, create=False)  # its own connection, read-only use
        self.last: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="charter-audit-anchors", daemon=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.anchor()  # fail at start (an unwritable file) rather than later, silently

    def anchor(self) -> tuple[int, str]:
        h = self.store.audit_head()
        if h != self.last:
            line = json.dumps({"count": h[0], "hash": h[1], "time": now()}, separators=(",", ":")) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())  # one write of one short line: whole, even with several writers
                os.fsync(fd)
            finally:
                os.close(fd)
            self.last = h
        return h

    def start(self) -> "Anchorer":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.anchor()
            except Exception as e:  # keep serving; say so where the operator looks
                import sys

                print(f"charter gateway: could not write an audit anchor to {self.path}: {e}", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        try:
            self.anchor()
        finally:
            self.store.close()


@dataclass
class Row:
    application: str
    use: str
    decision: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict:
        return {"application": self.application, "use": self.use, "decision": self.decision, "requests": self.requests,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass
class Summary:
    rows: list[Row] = field(default_factory=list)
    requests: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)
    first: str | None = None
    last: str | None = None
    unfinished: list[str] = field(default_factory=list)  # request ids of completions started and never ended (a crash, a kill)

    def to_json(self) -> dict:
        return {"requests": self.requests, "first": self.first, "last": self.last, "by_decision": self.by_decision,
                "rows": [r.to_json() for r in self.rows], "unfinished_streams": self.unfinished}


def summarize(store, application: str | None = None) -> Summary:
    """Requests and tokens per application x use x decision (a request counts once under each of its uses;
    one without uses, e.g. a model listing or an unauthenticated request, under "-"). A completion counts once,
    by its start record (its decision); its end record adds its tokens. An aggregate record of keyless
    429s counts as the requests it stands for."""
    rows: dict[tuple[str, str, str], Row] = {}
    s = Summary()
    open_streams: dict[str, str] = {}
    for e in entries(store):
        r = e.data
        app = r.get("application") or "-"
        if application is not None and app != application:
            continue
        phase = r.get("phase")
        n = 0 if phase == "end" else r.get("count") or 1
        dec = r.get("decision") or "-"
        if phase == "start":
            open_streams[r.get("request_id")] = dec
        elif phase == "end":  # its tokens go to the row its start was counted in
            dec = open_streams.pop(r.get("request_id"), dec)
        s.requests += n
        s.first = s.first or r.get("time")
        s.last = r.get("time")
        if n:
            s.by_decision[dec] = s.by_decision.get(dec, 0) + n
        for use in r.get("uses") or ["-"]:
            key = (app, use, dec)
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(app, use, dec)
            row.requests += n
            row.prompt_tokens += r.get("prompt_tokens") or 0
            row.completion_tokens += r.get("completion_tokens") or 0
    s.rows = sorted(rows.values(), key=lambda x: (x.application, x.use, OUTCOMES.index(x.decision) if x.decision in OUTCOMES else 99))
    s.unfinished = [k for k in open_streams if k]
    return s
