"""Data consent: the data contributors (record owners) who withdrew consent, and the consent tokens that let an
owner withdraw their own records without registry access."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Sequence

from charter.core.assets import Withdrawal
from charter.errors import InvalidInput, StoreError
from charter.store.common import WRITES, now
from charter.store.events import INSERT_EVENT


class ConsentStore(ABC):
    @abstractmethod
    def owner_withdrawals(self) -> dict[str, Withdrawal]:
        """Data contributors who withdrew consent: owner id -> Withdrawal (its ``asset`` is the owner id)."""

    @abstractmethod
    def _write_owner_withdrawals(self, ws: Sequence[Withdrawal]) -> None:
        """Atomically store the owners' withdrawals and one ``withdraw-owner`` event each."""

    def _write_consent_token(self, token_hash: str, owner: str, time: str) -> None:
        raise StoreError(f"{type(self).__name__} does not keep consent tokens", hint="use a SQLite or memory registry")

    def consent_token(self, token_hash: str) -> tuple[str, str | None] | None:
        """(owner, revoked time) of a token by its hash; None when unknown."""
        raise StoreError(f"{type(self).__name__} does not keep consent tokens", hint="use a SQLite or memory registry")


class SQLConsent:
    """ConsentStore in SQL, for SQLite and PostgreSQL (see store/dialect.py)."""

    def owner_withdrawals(self) -> dict[str, Withdrawal]:
        return {o: Withdrawal(o, r, t) for o, r, t in self._rows("SELECT owner, reason, time FROM owner_withdrawals ORDER BY owner")}

    def _write_owner_withdrawals(self, ws: Sequence[Withdrawal]) -> None:
        q = self.dialect.q
        with self._tx() as cur:
            cur.executemany(q("INSERT INTO owner_withdrawals VALUES (?,?,?)"), [(w.asset, w.reason, w.time) for w in ws])
            cur.executemany(q(INSERT_EVENT), [(w.time, "withdraw-owner", w.asset, json.dumps({"reason": w.reason})) for w in ws])

    def _write_consent_token(self, token_hash: str, owner: str, time: str) -> None:
        with self._tx() as cur:
            cur.execute(self.dialect.q("INSERT INTO consent_tokens VALUES (?,?,?,?,NULL)"), (token_hash, owner, time, self.actor or "unknown"))

    def consent_token(self, token_hash: str) -> tuple[str, str | None] | None:
        row = self._one(self.dialect.q("SELECT owner, revoked FROM consent_tokens WHERE hash=?"), (token_hash,))
        return (row[0], row[1]) if row else None


def check_owner_withdrawal(owners: Sequence[str], reason: str) -> tuple[list[str], str]:
    """Validate an owner withdrawal before anything is read or written: (owner ids, deduplicated, in
    order; the reason), both stripped. An empty id is an error, not silently dropped."""
    owners = list(owners)
    if not reason.strip():
        raise InvalidInput("a withdrawal needs a reason", hint="pass --reason TEXT")
    for i, o in enumerate(owners, 1):
        if not isinstance(o, str) or not o.strip():
            raise InvalidInput(f"owner id #{i} is empty", hint="pass each owner's id as it appears in the records' owner column", field="owner")
    if not owners:
        raise InvalidInput("no owners given", hint="pass --owner ID or --owners-file FILE")
    return list(dict.fromkeys(o.strip() for o in owners)), reason.strip()


def withdraw_owners(store: "ConsentStore", owners: Sequence[str], reason: str) -> tuple[list[Withdrawal], list[str]]:
    """Record that these data contributors withdrew consent. Returns (new, already withdrawn)."""
    owners, reason = check_owner_withdrawal(owners, reason)
    prior = store.owner_withdrawals()
    t = now()
    new = [Withdrawal(o, reason.strip(), t) for o in owners if o not in prior]
    if new:
        store._write_owner_withdrawals(new)
        WRITES[0] += 1
    return new, [o for o in owners if o in prior]
