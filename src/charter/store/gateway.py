"""The gateway's records (charter.serve): applications' API keys, stored hashed, and the hash-chained audit log
(one entry per request; store/chain.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Mapping, NamedTuple, Sequence

from charter.errors import Conflict, InvalidInput, NotFound
from charter.store.chain import GENESIS, AuditEntry, audit_json, chain_hash
from charter.store.common import now


class ApiKey(NamedTuple):
    """An application's API key, as stored: an id (shown, logged) and the key's sha256 (never the key)."""

    key_id: str
    hash: str
    application: str
    created: str
    revoked: str | None


class GatewayStore(ABC):
    @abstractmethod
    def _write_api_key(self, key: ApiKey) -> None:
        """Store a new key record (its hash, never the key)."""

    @abstractmethod
    def _write_key_revocation(self, key_id: str, time: str) -> None:
        """Mark a key revoked (the only change a key record ever gets)."""

    @abstractmethod
    def api_key(self, key_hash: str) -> ApiKey | None:
        """The key record whose hash is ``key_hash`` (revoked ones included), or None."""

    @abstractmethod
    def api_keys(self, application: str | None = None) -> list[ApiKey]:
        """Key records in creation order, optionally of one application."""

    @abstractmethod
    def api_keys_version(self) -> object:
        """A value that changes whenever a key is added or revoked, in any process."""

    def generations(self) -> tuple[object, object]:
        """(``withdrawals_version()``, ``api_keys_version()``) at once: the gateway asks on every request
        (a backend answers both with one read where it can)."""
        return self.withdrawals_version(), self.api_keys_version()

    @abstractmethod
    def _append_audit(self, record: str) -> AuditEntry:
        """In one atomic write: read the last entry's hash and append ``record`` (canonical JSON)
        as the next entry, its hash ``chain_hash(prev, record)`` (``GENESIS`` for the first)."""

    @abstractmethod
    def audit_entries(self, after: int = 0, limit: int | None = None) -> list[AuditEntry]:
        """Audit entries with seq > ``after``, in seq order."""

    def add_api_key(self, application: str, key_id: str, key_hash: str) -> ApiKey:
        a = self.require(application)
        if a.kind != "application":
            raise InvalidInput(f"{application} is a {a.kind}, not an application", hint="keys belong to applications: `charter app add` one first")
        k = ApiKey(key_id, key_hash, application, now(), None)
        self._write_api_key(k)
        return k

    def revoke_api_key(self, key_id: str) -> ApiKey:
        k = next((k for k in self.api_keys() if k.key_id == key_id), None)
        if k is None:
            raise NotFound(f"no API key {key_id!r}", hint="`charter app keys APP` lists an application's keys")
        if k.revoked:
            raise Conflict(f"key {key_id} was already revoked at {k.revoked}", hint="nothing to do")
        t = now()
        self._write_key_revocation(key_id, t)
        return k._replace(revoked=t)

    def append_audit(self, record: Mapping) -> AuditEntry:
        """Append one record (a JSON object) to the audit log, chained to the one before."""
        return self._append_audit(audit_json(record))

    def _append_audit_many(self, records: Sequence[str]) -> list[AuditEntry]:
        """Append several records (canonical JSON) in one atomic write, chained in order: the gateway's
        group commit (one transaction, one fsync, per batch). This default appends them one by one."""
        return [self._append_audit(r) for r in records]

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the last audit entry; (0, GENESIS) when the log is empty."""
        last, after = None, 0
        while batch := self.audit_entries(after=after, limit=10_000):
            last, after = batch[-1], batch[-1].seq
        return (last.seq, last.hash) if last else (0, GENESIS)

    def audit_writer(self) -> "GatewayStore":
        """A store to append audit entries through from another thread (the gateway's audit writer).
        This one by default; SQLite opens a second connection, so that a commit's fsync never holds
        the connection that requests are decided through."""
        return self


class SQLGateway:
    """GatewayStore in SQL, for SQLite and PostgreSQL (see store/dialect.py). The store provides
    ``_audit_tx()``: a transaction that holds the audit chain's lock (and moves no generation)."""

    _KEY_ORDER = "rowid"  # the api_keys column that gives creation order

    def _write_api_key(self, key: ApiKey) -> None:
        with self._tx() as cur:  # a transaction of its own: its COMMIT moves the keys' generation
            cur.execute(self.dialect.q("INSERT INTO api_keys(key_id, hash, application, created, revoked) VALUES (?,?,?,?,?)"), tuple(key))

    def _write_key_revocation(self, key_id: str, time: str) -> None:
        with self._tx() as cur:
            cur.execute(self.dialect.q("UPDATE api_keys SET revoked=? WHERE key_id=? AND revoked IS NULL"), (time, key_id))

    def api_key(self, key_hash: str) -> ApiKey | None:
        row = self._one(self.dialect.q("SELECT key_id, hash, application, created, revoked FROM api_keys WHERE hash=?"), (key_hash,))
        return ApiKey(*row) if row else None

    def api_keys(self, application: str | None = None) -> list[ApiKey]:
        q, args = "SELECT key_id, hash, application, created, revoked FROM api_keys", []
        if application is not None:
            q, args = q + " WHERE application=?", [application]
        return [ApiKey(*r) for r in self._rows(self.dialect.q(f"{q} ORDER BY {self._KEY_ORDER}"), args)]

    def _append_audit(self, record: str) -> AuditEntry:
        return self._append_audit_many([record])[0]

    def _append_audit_many(self, records: Sequence[str]) -> list[AuditEntry]:
        # The last hash is read under the audit chain's lock (held to COMMIT): batches of several server
        # processes interleave whole and the chain stays one chain.
        out: list[AuditEntry] = []
        with self._audit_tx() as cur:
            row = cur.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            for record in records:
                seq, h = seq + 1, chain_hash(prev, record)
                out.append(AuditEntry(seq, record, prev, h))
                prev = h
            cur.executemany(self.dialect.q("INSERT INTO audit VALUES (?,?,?,?)"), [tuple(e) for e in out])
        return out

    def audit_head(self) -> tuple[int, str]:
        row = self._one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        return (row[0], row[1]) if row else (0, GENESIS)

    def audit_entries(self, after: int = 0, limit: int | None = None) -> list[AuditEntry]:
        return [AuditEntry(*r) for r in self._rows(self.dialect.q("SELECT seq, record, prev, hash FROM audit WHERE seq>? ORDER BY seq LIMIT ?"),
                                                    (after, self.dialect.limit(limit)))]
