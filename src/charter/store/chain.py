"""Hash chains: the gateway's audit log and the identities' action log are each one (``AuditEntry`` rows,
``hash == sha256(prev + record)``); :func:`walk_chain` is the one walk that verifies either."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Collection, Iterable, Iterator, Mapping, NamedTuple

GENESIS = "0" * 64  # the "previous hash" of the first entry


class AuditEntry(NamedTuple):
    """One entry of a hash-chained log. ``record`` is the canonical JSON text that was hashed:
    ``hash == chain_hash(prev, record)`` and ``prev`` is the previous entry's hash."""

    seq: int
    record: str
    prev: str
    hash: str

    @property
    def data(self) -> dict:
        return json.loads(self.record)


def audit_json(record: Mapping) -> str:
    """The canonical JSON text of an audit record: sorted keys, no whitespace, ASCII (so any text,
    even a lone surrogate from a client, stores and hashes the same in every backend)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def chain_hash(prev: str, record: str) -> str:
    """sha256 of the previous entry's hash followed by this entry's canonical JSON, in hex."""
    return hashlib.sha256((prev + record).encode()).hexdigest()


def paged(read: Callable[..., list[AuditEntry]], page: int = 10_000) -> Iterator[AuditEntry]:
    """Every entry, in order, read ``page`` at a time: ``read(after=SEQ, limit=N)`` is a store's
    ``audit_entries`` or ``action_entries``."""
    after = 0
    while True:
        batch = read(after=after, limit=page)
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1].seq


@dataclass(frozen=True)
class ChainWalk:
    """What :func:`walk_chain` found: ``entries`` that fit, the last one's hash (``GENESIS`` when none), the
    first seq where the chain breaks and why, and the hash at each seq ``walk_chain`` was asked to mark."""

    ok: bool
    entries: int
    head: str
    broken: int | None = None
    problem: str = ""
    marks: Mapping[int, str] = field(default_factory=dict)


def walk_chain(entries: Iterable[AuditEntry], marks: Collection[int] = ()) -> ChainWalk:
    """Walk a chain from its first entry; stop at the first entry that does not fit: a missing or out-of-order
    seq, a ``prev`` that is not the previous entry's hash, a hash its content does not give, a record that
    is not a JSON object."""
    seen: dict[int, str] = {0: GENESIS} if 0 in marks else {}
    prev, n, expect = GENESIS, 0, 1
    for e in entries:
        problem = _problem(e, expect, prev)
        if problem:
            return ChainWalk(False, n, prev, e.seq, problem, seen)
        prev, n, expect = e.hash, n + 1, e.seq + 1
        if e.seq in marks:
            seen[e.seq] = e.hash
    return ChainWalk(True, n, prev, None, "", seen)


def _problem(e: AuditEntry, expect: int, prev: str) -> str:
    if e.seq != expect:
        return f"entry {expect} is missing (the next entry is {e.seq})" if e.seq > expect else f"seq {e.seq} is out of order"
    if e.prev != prev:
        return f"entry {e.seq} does not follow entry {e.seq - 1}: its prev hash {e.prev[:12]}… is not {prev[:12]}…"
    if chain_hash(e.prev, e.record) != e.hash:
        return f"entry {e.seq} was altered: its content does not match its hash"
    try:
        ok = isinstance(json.loads(e.record), dict)
    except ValueError:
        ok = False
    return "" if ok else f"entry {e.seq} is not a JSON object"
