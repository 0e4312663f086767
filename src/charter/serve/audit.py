"""The gateway's audit log: one record per request, allowed or not, appended to a hash chain.

Each entry stores the canonical JSON of its record, the previous entry's hash and its own,
``sha256(prev + record)`` (``charter.store.base.chain_hash``); the first entry's ``prev`` is 64 zeros.
Changing, removing or reordering an entry breaks the chain at that entry or the next one;
``verify`` walks it and names the first broken seq. Anchor the head hash elsewhere to detect a
rewritten tail as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from charter.store.base import GENESIS, AuditEntry, chain_hash

OUTCOMES = ("allowed", "denied", "withdrawn", "unauthorized", "rate-limited", "overloaded", "invalid", "error")


def record(*, time: str, endpoint: str, status: int, outcome: str, application: str | None = None, key: str | None = None,
           model: str | None = None, uses=(), reasons=(), prompt_tokens: int | None = None, completion_tokens: int | None = None,
           error: str | None = None, duration_ms: float | None = None, stream: bool = False, client: str | None = None) -> dict:
    """The record of one request (the keys are the audit schema; see docs/cli-json.md)."""
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
        "duration_ms": None if duration_ms is None else round(duration_ms, 3),
        "stream": stream,
        "client": client,
    }


def entries(store, page: int = 10_000) -> Iterator[AuditEntry]:
    after = 0
    while True:
        batch = store.audit_entries(after=after, limit=page)
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1].seq


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
    last = None
    for last in entries(store):
        pass
    return (last.seq, last.hash) if last else (0, GENESIS)


def parse_anchor(text: str) -> tuple[int, str]:
    from charter.errors import UsageError

    count, _, h = str(text).partition(":")
    if not count.isdigit() or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise UsageError(f"--expect {text!r} is not COUNT:HASH", hint="pass what `charter audit head` printed, e.g. 1200:<64 hex digits>")
    return int(count), h


def verify(store, expect: tuple[int, str] | None = None) -> Verification:
    """Walk the chain from the first entry; stop at the first entry that does not fit. With ``expect``
    (an anchor from ``head``: COUNT, HASH), the chain must also still hold entry COUNT, with that hash:
    a cut-off tail or a chain rewritten from the start fails even though each link fits."""
    prev, n, expect_seq = GENESIS, 0, 1
    anchored = GENESIS if expect and expect[0] == 0 else None
    for e in entries(store):
        problem = ""
        if e.seq != expect_seq:
            problem = f"entry {expect_seq} is missing (the next entry is {e.seq})" if e.seq > expect_seq else f"seq {e.seq} is out of order"
        elif e.prev != prev:
            problem = f"entry {e.seq} does not follow entry {e.seq - 1}: its prev hash {e.prev[:12]}… is not {prev[:12]}…"
        elif chain_hash(e.prev, e.record) != e.hash:
            problem = f"entry {e.seq} was altered: its content does not match its hash"
        else:
            try:
                ok = isinstance(json.loads(e.record), dict)
            except ValueError:
                ok = False
            if not ok:
                problem = f"entry {e.seq} is not a JSON object"
        if problem:
            return Verification(False, n, prev, e.seq, problem)
        prev, n, expect_seq = e.hash, n + 1, e.seq + 1
        if expect and e.seq == expect[0]:
            anchored = e.hash
    if expect is not None:
        count, want = expect
        if n < count:
            return Verification(False, n, prev, n + 1, f"the log has {n} entries, fewer than the {count} anchored: its tail was removed")
        if anchored != want:
            return Verification(False, n, prev, count, f"entry {count} has hash {anchored[:12]}…, not the anchored {want[:12]}…: the log was rewritten")
    return Verification(True, n, prev)


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

    def to_json(self) -> dict:
        return {"requests": self.requests, "first": self.first, "last": self.last, "by_decision": self.by_decision,
                "rows": [r.to_json() for r in self.rows]}


def summarize(store, application: str | None = None) -> Summary:
    """Requests and tokens per application x use x decision (a request counts once under each of its uses;
    one without uses, e.g. a model listing or an unauthenticated request, under "-")."""
    rows: dict[tuple[str, str, str], Row] = {}
    s = Summary()
    for e in entries(store):
        r = e.data
        app = r.get("application") or "-"
        if application is not None and app != application:
            continue
        s.requests += 1
        s.first = s.first or r.get("time")
        s.last = r.get("time")
        dec = r.get("decision") or "-"
        s.by_decision[dec] = s.by_decision.get(dec, 0) + 1
        for use in r.get("uses") or ["-"]:
            row = rows.get((app, use, dec))
            if row is None:
                row = rows[(app, use, dec)] = Row(app, use, dec)
            row.requests += 1
            row.prompt_tokens += r.get("prompt_tokens") or 0
            row.completion_tokens += r.get("completion_tokens") or 0
    s.rows = sorted(rows.values(), key=lambda x: (x.application, x.use, OUTCOMES.index(x.decision) if x.decision in OUTCOMES else 99))
    return s
