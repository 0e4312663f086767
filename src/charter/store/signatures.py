"""Signatures (charter.trust): DSSE envelopes over charters, events and bundles, append-only."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Iterable, NamedTuple, Sequence

from charter.errors import InvalidInput, NotFound
from charter.store.common import now
from charter.store.events import INSERT_EVENT

SIGNATURE_KINDS = ("charter", "withdraw", "lift", "restrict", "lift-restrictions", "bundle")


class SignatureRecord(NamedTuple):
    """One stored DSSE envelope (charter.trust): a publisher's signature over a charter and its upstream
    digests (``kind`` charter), over a withdrawal, lift or restriction (an event kind), or over a bundle's
    manifest. ``digest``: sha256 of the envelope's canonical JSON (one row per envelope); ``source``:
    ``local`` or where it was imported from (``bundle:sha256:... FILE``, ``feed:sha256:... FILE``);
    ``applied``: for an imported event, the time of the local withdrawal or restriction it produced."""

    seq: int
    asset: str
    kind: str
    keyid: str
    digest: str
    envelope: str
    source: str = "local"
    time: str = ""
    applied: str = ""


class SignatureStore(ABC):
    @abstractmethod
    def signatures(self, assets: Iterable[str] | None = None, kind: str | None = None) -> list[SignatureRecord]:
        """Stored signatures (of these assets; of this kind), oldest first."""

    @abstractmethod
    def _write_signatures(self, records: Sequence[SignatureRecord]) -> None:
        """Atomically append the records (their ``seq`` is assigned here) and one ``sign`` event each;
        a record whose ``digest`` is already stored is skipped."""

    def add_signatures(self, records: Sequence[SignatureRecord]) -> list[SignatureRecord]:
        """Append signatures (``seq`` and ``time`` are filled in); one already stored (same envelope
        digest) is not repeated. Returns the new ones. The assets must be registered."""
        for r in records:
            if r.kind not in SIGNATURE_KINDS:
                raise InvalidInput(f"unknown signature kind {r.kind!r}", hint=f"one of {', '.join(SIGNATURE_KINDS)}", field="kind")
        missing = {r.asset for r in records} - self._known({r.asset for r in records})
        if missing:
            m = sorted(missing)[0]
            raise NotFound(f"no asset {m!r} in the registry", hint="register it (or import its bundle) before storing its signatures")
        have = {s.digest for s in self.signatures({r.asset for r in records})}
        t = now()
        new, seen = [], set(have)
        for r in records:
            if r.digest in seen:
                continue
            seen.add(r.digest)
            new.append(r._replace(time=r.time or t))
        if new:
            self._write_signatures(new)
        return new


class SQLSignatures:
    """SignatureStore in SQL, for SQLite and PostgreSQL (see store/dialect.py)."""

    def signatures(self, assets: Iterable[str] | None = None, kind: str | None = None) -> list[SignatureRecord]:
        d = self.dialect
        q = "SELECT seq, asset, kind, keyid, digest, envelope, source, time, applied FROM signatures"
        conds, args = [], []
        if assets is not None:
            conds.append(d.any_of("asset"))
            args.append(d.values(sorted(set(assets))))
        if kind is not None:
            conds.append("kind=?")
            args.append(kind)
        if conds:
            q += " WHERE " + " AND ".join(conds)
        return [SignatureRecord(*r) for r in self._rows(d.q(q + " ORDER BY seq"), args)]

    def _write_signatures(self, records: Sequence[SignatureRecord]) -> None:
        d = self.dialect
        with self._tx() as cur:
            cur.executemany(d.q(d.insert_ignore("signatures(asset, kind, keyid, digest, envelope, source, time, applied)", "VALUES (?,?,?,?,?,?,?,?)")),
                            [tuple(r)[1:] for r in records])
            cur.executemany(d.q(INSERT_EVENT), [(r.time, "sign", r.asset, json.dumps({"kind": r.kind, "keyid": r.keyid, "digest": r.digest,
                                                                                      "source": r.source}, sort_keys=True)) for r in records])
