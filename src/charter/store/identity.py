"""Identities (charter.core.identity): users and their roles, who registered each asset, and the hash-chained
action log (every write's actor, allowed or refused; store/chain.py)."""

from __future__ import annotations

import json
import threading
from typing import Mapping

from charter.core.identity import User
from charter.errors import StoreError
from charter.store.chain import GENESIS, AuditEntry, audit_json, chain_hash


class IdentityStore:
    """Optional: a backend without it refuses (StoreError)."""

    actor: str = ""  # whose writes these are: recorded with each registration (the Registry sets it)

    def users(self) -> dict[str, User]:
        """Current users by name (each user's last row; role ``none`` ones included)."""
        raise StoreError(f"{type(self).__name__} does not record users", hint="use a SQLite or memory registry")

    def _write_user(self, user: User, time: str) -> None:
        raise StoreError(f"{type(self).__name__} does not record users", hint="use a SQLite or memory registry")

    def append_action(self, record: Mapping) -> AuditEntry:
        """Append one record (canonical JSON) to the action log, chained to the one before, now."""
        raise StoreError(f"{type(self).__name__} does not keep an action log", hint="use a SQLite or memory registry")

    def stage_action(self, record: Mapping) -> None:
        """The record of the write this thread is about to make: appended in that write's own transaction
        (so a write and its record commit together or not at all). This default appends it now."""
        self.append_action(record)

    def unstage_action(self) -> None:
        """Forget a staged record whose write did not happen (it failed before writing)."""

    def action_entries(self, after: int = 0, limit: int | None = None, *, actor: str | None = None, asset: str | None = None) -> list[AuditEntry]:
        """Action log entries with seq > ``after``, in order; optionally only one actor's or one asset's."""
        raise StoreError(f"{type(self).__name__} does not keep an action log", hint="use a SQLite or memory registry")

    def registered_by(self, asset_id: str) -> str | None:
        """Who registered ``asset_id`` (None when unknown: registered before schema 10)."""
        return None


class SQLIdentity:
    """IdentityStore in SQL, for SQLite and PostgreSQL (see store/dialect.py). The store's ``_tx()`` appends
    the staged record (``_staged``) with ``_insert_action`` inside each write; ``_action_tx()`` is a write
    transaction for a record alone."""

    def users(self) -> dict[str, User]:
        q = "SELECT name, role, namespaces FROM user_events WHERE seq IN (SELECT max(seq) FROM user_events GROUP BY name) ORDER BY name"
        return {n: User(n, r, tuple(json.loads(ns))) for n, r, ns in self._rows(q)}

    def _write_user(self, user: User, time: str) -> None:
        with self._tx() as cur:
            cur.execute(self.dialect.q("INSERT INTO user_events(name, role, namespaces, time, actor) VALUES (?,?,?,?,?)"),
                        (user.name, user.role, json.dumps(list(user.namespaces)), time, self.actor or "unknown"))

    def _insert_action(self, cur, record: Mapping) -> AuditEntry:
        # inside a write transaction, under the write lock: the last hash is still the last one when this is written
        text = audit_json(record)
        row = cur.execute("SELECT seq, hash FROM actions ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        h = chain_hash(prev, text)
        cur.execute(self.dialect.q("INSERT INTO actions VALUES (?,?,?,?,?,?,?,?)"),
                    (seq, record["actor"], record["action"], record.get("asset"), self.dialect.flag(record["allowed"]), text, prev, h))
        return AuditEntry(seq, text, prev, h)

    def append_action(self, record: Mapping) -> AuditEntry:
        with self._action_tx() as cur:
            return self._insert_action(cur, record)

    def stage_action(self, record: Mapping) -> None:
        self._staged[threading.get_ident()] = dict(record)

    def unstage_action(self) -> None:
        self._staged.pop(threading.get_ident(), None)

    def action_entries(self, after: int = 0, limit: int | None = None, *, actor: str | None = None, asset: str | None = None) -> list[AuditEntry]:
        q, args = "SELECT seq, record, prev, hash FROM actions WHERE seq>?", [after]
        if actor is not None:
            q, args = q + " AND actor=?", args + [actor]
        if asset is not None:
            q, args = q + " AND asset=?", args + [asset]
        return [AuditEntry(*r) for r in self._rows(self.dialect.q(q + " ORDER BY seq LIMIT ?"), args + [self.dialect.limit(limit)])]

    def registered_by(self, asset_id: str) -> str | None:
        row = self._one(self.dialect.q("SELECT r.actor FROM registrations r JOIN assets a ON a.rid=r.rid WHERE a.id=?"), (asset_id,))
        return row[0] if row else None
