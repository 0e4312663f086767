"""Web consent signals (data/signals.py reads them): the files sites served (robots.txt, tdmrep.json,
headers, HTML), stored as fetched, append-only."""

from __future__ import annotations

import json
from typing import Iterable, NamedTuple, Sequence

from charter.errors import InvalidInput
from charter.store.common import now
from charter.store.events import INSERT_EVENT


class SignalSnapshot(NamedTuple):
    """One file a site served (robots.txt, tdmrep.json, headers, HTML) at ``fetched_at``, as stored."""

    domain: str
    kind: str
    fetched_at: str
    sha256: str
    body: str
    source: str
    imported: str


class SignalStore:
    """Optional: a backend without it refuses (NotImplementedError)."""

    def _write_signals(self, rows: Sequence[SignalSnapshot]) -> int:
        """Append snapshots (one atomic write; an identical snapshot already stored is skipped); how many were new."""
        raise NotImplementedError(f"{type(self).__name__} stores no web signals")

    def signals(self, domains: Iterable[str] | None = None) -> list[SignalSnapshot]:
        """Stored snapshots (of ``domains``, or all), by domain, kind and fetch time."""
        raise NotImplementedError(f"{type(self).__name__} stores no web signals")

    def add_signals(self, rows: Sequence[SignalSnapshot]) -> int:
        for r in rows:
            if not r.domain or not r.kind or not r.fetched_at or len(r.sha256) != 64:
                raise InvalidInput(f"incomplete signal snapshot for {r.domain!r}", hint="each snapshot needs domain, kind, fetched_at and its body's sha256")
        return self._write_signals(rows)


class SQLSignals:
    """SignalStore in SQL, for SQLite and PostgreSQL (see store/dialect.py)."""

    def _write_signals(self, rows: Sequence[SignalSnapshot]) -> int:
        d = self.dialect
        insert = d.q(d.insert_ignore("signals(domain, kind, fetched_at, sha256, body, source, imported)", "VALUES (?,?,?,?,?,?,?)"))
        added = 0
        with self._tx() as cur:
            for r in rows:  # one statement each: its rowcount says whether the snapshot was new
                added += cur.execute(insert, (r.domain, r.kind, r.fetched_at, r.sha256, r.body, r.source, r.imported)).rowcount
            if added:
                cur.execute(d.q(INSERT_EVENT), (now(), "import-signals", "signals", json.dumps({"snapshots": added})))
        return added

    def signals(self, domains: Iterable[str] | None = None) -> list[SignalSnapshot]:
        d = self.dialect
        q = "SELECT domain, kind, fetched_at, sha256, body, source, imported FROM signals"
        if domains is None:
            return [SignalSnapshot(*r) for r in self._rows(q + " ORDER BY domain, kind, fetched_at, seq")]
        return [SignalSnapshot(*r) for r in self._rows(d.q(q + f" WHERE {d.any_of('domain')} ORDER BY domain, kind, fetched_at, seq"),
                                                       (d.values(sorted(set(domains))),))]
