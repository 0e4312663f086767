"""Events after registration: withdrawals and lifts, restrictions and their lifts, evaluated properties, and the
append-only event log they (and registrations, signatures, signals) write to."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Mapping, Sequence

from charter.core.assets import Event, Property, Restriction, Withdrawal
from charter.errors import Conflict, InvalidInput
from charter.store.common import WRITES, now

INSERT_EVENT = "INSERT INTO events(time, type, asset, data) VALUES (?,?,?,?)"


class EventStore(ABC):
    @abstractmethod
    def withdrawals(self) -> dict[str, Withdrawal]: ...

    @abstractmethod
    def withdrawals_version(self) -> object:
        """A value that changes whenever withdrawals, restrictions or properties may have changed, in any process."""

    @abstractmethod
    def _write_withdrawal(self, w: Withdrawal) -> None:
        """Atomically store the withdrawal and its event."""

    @abstractmethod
    def _write_lift(self, w: Withdrawal) -> None:
        """Atomically store that the asset's withdrawal was lifted (``w.reason`` says why) and its ``lift`` event."""

    @abstractmethod
    def restrictions(self) -> dict[str, tuple[Restriction, ...]]:
        """Uses denied to assets after registration: asset id -> its restrictions, oldest first."""

    @abstractmethod
    def _write_restriction(self, r: Restriction) -> None:
        """Atomically store the restriction and its ``restrict`` event."""

    @abstractmethod
    def _write_restriction_lift(self, lift: Restriction) -> None:
        """Atomically store that the asset's restrictions so far are lifted (``lift.deny``: the uses they
        denied; the restrictions stay in the history) and its ``lift-restrictions`` event."""

    @abstractmethod
    def properties(self, asset: str) -> list[Property]:
        """Every property attached to the asset, oldest first."""

    @abstractmethod
    def evaluated(self) -> list[tuple[str, int, int]]:
        """Every asset with an evaluated property: (asset, properties attached, distinct benchmarks), by asset id."""

    @abstractmethod
    def _write_properties(self, props: Sequence[Property]) -> None:
        """Atomically store the properties and one ``evaluate`` event per asset and benchmark."""

    @abstractmethod
    def events(self, after: int = 0, type: str | None = None, asset: str | None = None, limit: int | None = None) -> list[Event]: ...

    @abstractmethod
    def log(self, type: str, asset: str, data: Mapping) -> Event:
        """Append one event (its own atomic write)."""

    def log_many(self, events: Sequence[tuple[str, str, Mapping]]) -> None:
        """Append several (type, asset, data) events in one atomic write (this default: one by one)."""
        for e in events:
            self.log(*e)

    def log_deferred(self, type: str, asset: str, data) -> None:
        """Append an event, possibly later in a group (``data``: a mapping or an object with ``to_json()``).
        Backends that group (store/deferred.py) write it before their next write, read of the events or close;
        this default writes it at once."""
        self.log(type, asset, data.to_json() if hasattr(data, "to_json") else data)

    pending: list | None = None
    """Where a grouping backend queues deferred events, ``(time.time(), type, asset, data)`` each, for a caller
    that appends itself (``Registry.can``: no call per decision); after appending the first or the
    ``DEFER_MAX``-th it calls :meth:`grouped`. None: use :meth:`log_deferred`."""

    def grouped(self) -> None:
        """Arm the group's timer, or write a full group."""

    def flush(self) -> None:
        """Write any deferred events now."""

    # --- validation, then the write ------------------------------------------------------------
    def withdraw(self, asset: str, reason: str) -> Withdrawal:
        self.require(asset)
        prior = self.withdrawals().get(asset)
        if prior is not None:
            raise Conflict(f"{asset} was already withdrawn at {prior.time}: {prior.reason}", hint="nothing to do; `charter trace --down` lists what it affects")
        if not reason.strip():
            raise InvalidInput("a withdrawal needs a reason", hint="pass --reason TEXT")
        w = Withdrawal(asset, reason.strip(), now())
        self._write_withdrawal(w)
        WRITES[0] += 1
        return w

    def lift(self, asset: str, reason: str) -> Withdrawal:
        """Lift the asset's withdrawal (itself an appended event; the withdrawal stays in the history)."""
        self.require(asset)
        if asset not in self.withdrawals():
            raise Conflict(f"{asset} is not withdrawn", hint="nothing to lift; `charter show` lists its history")
        if not reason.strip():
            raise InvalidInput("lifting a withdrawal needs a reason", hint="pass --reason TEXT")
        w = Withdrawal(asset, reason.strip(), now())
        self._write_lift(w)
        WRITES[0] += 1
        return w

    def restrict(self, asset: str, deny: Sequence[str], reason: str) -> Restriction:
        self.require(asset)
        if not reason.strip():
            raise InvalidInput("a restriction needs a reason", hint="pass --reason TEXT")
        if not deny:
            raise InvalidInput("a restriction needs at least one use to deny", hint="pass --deny USE")
        r = Restriction(asset, tuple(dict.fromkeys(deny)), reason.strip(), now())
        self._write_restriction(r)
        WRITES[0] += 1
        return r

    def lift_restrictions(self, asset: str, reason: str) -> Restriction:
        """Lift every restriction of the asset so far (its own, or inherited by a new version), as an
        appended event; restrictions added later apply again. Returns the lift: the uses it frees."""
        self.require(asset)
        current = self.restrictions().get(asset)
        if not current:
            raise Conflict(f"{asset} has no restrictions", hint="nothing to lift; `charter show` lists its history")
        if not reason.strip():
            raise InvalidInput("lifting restrictions needs a reason", hint="pass --reason TEXT")
        lift = Restriction(asset, tuple(dict.fromkeys(u for r in current for u in r.deny)), reason.strip(), now())
        self._write_restriction_lift(lift)
        WRITES[0] += 1
        return lift

    def attach(self, props: Sequence[Property]) -> list[Property]:
        """Attach evaluated properties (stamped now unless they carry a time)."""
        for p in props:
            self.require(p.asset)
        t = now()
        props = [p if p.time else replace(p, time=t) for p in props]
        if props:
            self._write_properties(props)
            WRITES[0] += 1
        return props


class SQLEvents:
    """EventStore's writes and reads in SQL, for SQLite and PostgreSQL (store/dialect.py: the store's
    ``dialect``, ``_tx()`` yielding a cursor, ``_rows`` and ``_one``)."""

    def _write_withdrawal(self, w: Withdrawal) -> None:
        with self._tx() as cur:
            self._still(cur, w.asset, "withdraw")
            self._add_withdrawal(cur, w, "withdraw")

    def _write_lift(self, w: Withdrawal) -> None:
        with self._tx() as cur:
            self._still(cur, w.asset, "lift")
            self._add_withdrawal(cur, w, "lift")

    def _still(self, cur, asset: str, action: str) -> None:
        # Checked again under the write lock: two processes withdrawing (or lifting) the same asset at once both
        # passed the check made before the transaction; only the first may write.
        row = cur.execute(self.dialect.q("SELECT e.action, e.time FROM withdrawal_events e JOIN assets a ON a.rid=e.asset WHERE a.id=? "
                                         "ORDER BY e.seq DESC LIMIT 1"), (asset,)).fetchone()
        withdrawn = row is not None and row[0] == "withdraw"
        if action == "withdraw" and withdrawn:
            raise Conflict(f"{asset} was already withdrawn at {row[1]} (by another process, just now)", hint="nothing to do")
        if action == "lift" and not withdrawn:
            raise Conflict(f"{asset} is not withdrawn (another process lifted it just now)", hint="nothing to lift")

    def _add_withdrawal(self, cur, w: Withdrawal, action: str) -> None:
        q = self.dialect.q
        cur.execute(q("INSERT INTO withdrawal_events(asset, action, reason, time) SELECT rid, ?, ?, ? FROM assets WHERE id=?"),
                    (action, w.reason, w.time, w.asset))
        cur.execute(q(INSERT_EVENT), (w.time, action, w.asset, json.dumps({"reason": w.reason})))

    def restrictions(self) -> dict[str, tuple[Restriction, ...]]:
        out: dict[str, list[Restriction]] = {}
        # the current ones: those after the asset's last lift (a lift records the last seq it covers)
        q = ("SELECT asset, deny, reason, time FROM restrictions r WHERE r.seq > "
             "coalesce((SELECT max(upto) FROM restriction_lifts l WHERE l.asset=r.asset), 0) ORDER BY seq")
        for a, d, r, t in self._rows(self.dialect.q(q)):
            out.setdefault(a, []).append(Restriction(a, tuple(json.loads(d)), r, t))
        return {a: tuple(rs) for a, rs in out.items()}

    def _write_restriction(self, r: Restriction) -> None:
        with self._tx() as cur:
            self._add_restriction(cur, r)

    def _add_restriction(self, cur, r: Restriction) -> None:
        q = self.dialect.q
        cur.execute(q("INSERT INTO restrictions(asset, deny, reason, time) VALUES (?,?,?,?)"), (r.asset, json.dumps(list(r.deny)), r.reason, r.time))
        cur.execute(q(INSERT_EVENT), (r.time, "restrict", r.asset, json.dumps({"deny": list(r.deny), "reason": r.reason})))

    def _write_restriction_lift(self, lift: Restriction) -> None:
        q = self.dialect.q
        with self._tx() as cur:
            cur.execute(q("INSERT INTO restriction_lifts(asset, upto, reason, time) SELECT ?, max(seq), ?, ? FROM restrictions WHERE asset=?"),
                        (lift.asset, lift.reason, lift.time, lift.asset))
            cur.execute(q(INSERT_EVENT), (lift.time, "lift-restrictions", lift.asset, json.dumps({"deny": list(lift.deny), "reason": lift.reason})))

    def properties(self, asset: str) -> list[Property]:
        return [Property.from_json(json.loads(d)) for (d,) in self._rows(self.dialect.q("SELECT doc FROM properties WHERE asset=? ORDER BY seq"), (asset,))]

    def evaluated(self) -> list[tuple[str, int, int]]:
        q = "SELECT asset, count(*), count(DISTINCT benchmark) FROM properties GROUP BY asset ORDER BY asset"
        return [tuple(r) for r in self._rows(q, ())]

    def _write_properties(self, props: Sequence[Property]) -> None:
        q = self.dialect.q
        docs = [json.dumps(p.to_json(), sort_keys=True, allow_nan=False) for p in props]  # may fail: before writing
        with self._tx() as cur:
            cur.executemany(q("INSERT INTO properties(asset, benchmark, metric, doc) VALUES (?,?,?,?)"),
                            [(p.asset, p.benchmark, p.metric, d) for p, d in zip(props, docs)])
            cur.executemany(q(INSERT_EVENT), [(t, "evaluate", a, json.dumps(e, sort_keys=True)) for (a, t), e in _evaluate_events(props).items()])

    def events(self, after: int = 0, type: str | None = None, asset: str | None = None, limit: int | None = None) -> list[Event]:
        self.flush()
        q, args = "SELECT seq, time, type, asset, data FROM events WHERE seq>?", [after]
        if type is not None:
            q += " AND type=?"
            args.append(type)
        if asset is not None:
            q += " AND asset=?"
            args.append(asset)
        rows = self._rows(self.dialect.q(q + " ORDER BY seq LIMIT ?"), [*args, self.dialect.limit(limit)])
        return [Event(s, t, ty, a, json.loads(d)) for s, t, ty, a, d in rows]

    def log_many(self, events: Sequence[tuple[str, str, Mapping]]) -> None:
        if not events:
            return
        t = now()
        dumps = json.dumps
        with self._tx() as cur:
            cur.executemany(self.dialect.q(INSERT_EVENT), [(t, ty, a, dumps(d, sort_keys=True)) for ty, a, d in events])


def _evaluate_events(props: Sequence[Property]) -> dict[tuple[str, str], dict]:
    """One ``evaluate`` event per (asset, time): its benchmarks, versions, runs and metric values."""
    out: dict[tuple[str, str], dict] = {}
    for p in props:
        e = out.setdefault((p.asset, p.time), {"benchmarks": {}})
        b = e["benchmarks"].setdefault(p.benchmark, {"version": p.version, "run": p.run, "metrics": {}})
        b["metrics"][p.metric] = p.value
    return out
