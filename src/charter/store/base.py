"""The storage contract. Backends implement the primitives; validation lives here, once.

Invariants every backend keeps (tests/store/test_contract.py checks them):
  - a registered asset version is immutable; re-adding identical content is a no-op,
    different content under the same id is a Conflict;
  - lineage edges point only at registered assets (or assets in the same batch), so the
    graph is acyclic and an asset's upstream closure never changes after registration;
  - every write (a batch of assets, a withdrawal) is atomic;
  - the event log is append-only.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from charter.core.assets import Asset, Edge, Event, Property, Restriction, Withdrawal
from charter.core.identity import User
from charter.core.lineage import Lineage, compile_lineage
from charter.core.digests import content_digests, is_legacy_weights, legacy_folder_hash
from charter.errors import Conflict, Denied, InvalidInput, LineageCycle, NotFound, StoreError


_WRITES = [0]


def local_writes() -> int:
    """How many policy writes (registrations, withdrawals, lifts, restrictions, evaluations) any store
    in this process made: a Registry polls its store's change counter at once when this moved."""
    return _WRITES[0]


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


class Hop(NamedTuple):
    """One asset on a lineage trace and its shortest distance: the (asset, depth) pairs that
    ``upstream``/``downstream`` return (a backend may return Hops, or plain tuples). A named
    tuple, because a trace can hold hundreds of thousands and tuples build without a Python call."""

    asset: str
    depth: int


class Store(ABC):
    # --- web consent signals (data/signals.py): snapshots as the sites served them, append-only -----
    def _write_signals(self, rows: Sequence["SignalSnapshot"]) -> int:
        """Append snapshots (one atomic write; an identical snapshot already stored is skipped); how many were new."""
        raise NotImplementedError(f"{type(self).__name__} stores no web signals")

    def signals(self, domains: Iterable[str] | None = None) -> list["SignalSnapshot"]:
        """Stored snapshots (of ``domains``, or all), by domain, kind and fetch time."""
        raise NotImplementedError(f"{type(self).__name__} stores no web signals")

    def add_signals(self, rows: Sequence["SignalSnapshot"]) -> int:
        for r in rows:
            if not r.domain or not r.kind or not r.fetched_at or len(r.sha256) != 64:
                raise InvalidInput(f"incomplete signal snapshot for {r.domain!r}", hint="each snapshot needs domain, kind, fetched_at and its body's sha256")
        return self._write_signals(rows)

    # --- primitives each backend implements ------------------------------------
    @abstractmethod
    def get_many(self, ids: Iterable[str]) -> dict[str, Asset]: ...

    @abstractmethod
    def find(self, kind: str | None = None, name: str | None = None) -> Iterator[Asset]:
        """Assets in registration order, optionally of one kind and/or name."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def upstream(self, asset: str) -> list[tuple[str, int]]:
        """(ancestor, shortest distance) along propagating relations, excluding the asset."""

    @abstractmethod
    def lineage(self, asset: str) -> list[Asset]:
        """The asset and every asset upstream of it (propagating relations)."""

    @abstractmethod
    def downstream(self, asset: str, depth: int | None = None) -> list[tuple[str, int]]:
        """(descendant, shortest distance) along propagating relations, within ``depth``."""

    @abstractmethod
    def children(self, asset: str) -> list[Edge]:
        """Direct edges whose parent is ``asset`` (any relation)."""

    @abstractmethod
    def withdrawals(self) -> dict[str, Withdrawal]: ...

    @abstractmethod
    def owner_withdrawals(self) -> dict[str, Withdrawal]:
        """Data contributors who withdrew consent: owner id -> Withdrawal (its ``asset`` is the owner id)."""

    @abstractmethod
    def _write_owner_withdrawals(self, ws: Sequence[Withdrawal]) -> None:
        """Atomically store the owners' withdrawals and one ``withdraw-owner`` event each."""

    @abstractmethod
    def withdrawals_version(self) -> object:
        """A value that changes whenever withdrawals, restrictions or properties may have changed, in any process."""

    @abstractmethod
    def events(self, after: int = 0, type: str | None = None, asset: str | None = None, limit: int | None = None) -> list[Event]: ...

    @abstractmethod
    def log(self, type: str, asset: str, data: Mapping) -> Event:
        """Append one event (its own atomic write)."""

    def log_many(self, events: Sequence[tuple[str, str, Mapping]]) -> None:
        """Append several (type, asset, data) events in one atomic write (this default: one by one)."""
        for e in events:
            self.log(*e)

    def summaries(self, ids: Sequence[str]) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        """(id, kind, name, version, licences) of each registered id, in the order given."""
        got = self.get_many(ids)
        return [(a.id, a.kind, a.name, a.version, a.licenses) for a in (got[i] for i in ids if i in got)]

    def listing(self, kind: str | None = None, contains: Sequence[str] = (), limit: int | None = None) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        """(id, kind, name, version, licences) of every asset (of ``kind``) whose id contains each of ``contains``
        (ASCII case-insensitive), in registration order, the first ``limit`` (this default decodes each charter; a
        backend may read the columns alone)."""
        words = [w.lower() for w in contains]
        out = [(a.id, a.kind, a.name, a.version, a.licenses) for a in self.find(kind=kind) if all(w in a.id.lower() for w in words)]
        return out if limit is None else out[:limit]

    def terms_index(self, upto: int) -> dict[str, int]:
        """asset id -> its stored terms id, for every asset registered up to ``upto`` (assets_version)
        that has one; empty where the backend keeps no terms keys."""
        return {}

    def log_deferred(self, type: str, asset: str, data) -> None:
        """Append an event, possibly later in a group (``data``: a mapping or an object with ``to_json()``).
        Backends that group (SQLite) write it before their next write, read of the events or close;
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

    @abstractmethod
    def compiled(self, asset: str) -> Lineage | None:
        """The asset's compiled lineage (E with shortest paths; see core/lineage.py), or None."""

    def terms_id(self, asset: str) -> tuple[int, int] | None:
        """(terms id, registration number) of a registered asset: the terms id names its lineage's
        interned terms key (core/lineage.terms_key); registration numbers grow (``assets_version``).
        None where the backend keeps none (the caller then folds the compiled lineage)."""
        return None

    def terms_ids(self, ids: Iterable[str] | None = None, kind: str | None = None, after: int | None = None) -> list[tuple[str, int | None, int]]:
        """(asset id, terms id, registration number) of the given registered assets, or of all (of
        ``kind``; registered after ``after``) in registration order."""
        if after is not None:
            return []
        got = self.get_many(ids) if ids is not None else {a.id: a for a in self.find(kind=kind)}
        return [(i, None, 0) for i in got]

    def terms_all(self) -> list[int]:
        """Every terms id."""
        return []

    def with_terms(self, tids: Iterable[int], upto: int, kind: str | None = None, licenses: bool = False) -> list[tuple]:
        """(registration number, asset id, terms id) of the assets (of ``kind``) registered up to ``upto``
        whose terms id is one of ``tids``, in registration order; ``licenses``: with each asset's licences, a 4th item."""
        want = set(tids)
        rows = [(r, i, t) for i, t, r in self.terms_ids(kind=kind) if t in want and r <= upto]
        if licenses:
            got = self.get_many([i for _, i, _ in rows])
            return [(r, i, t, got[i].licenses) for r, i, t in rows]
        return rows

    def assets_version(self) -> int:
        """The registration number of the last registered asset (0 when none): an asset with a higher one
        was registered after this was read."""
        return 0

    def terms_docs(self, tids: Iterable[int]) -> dict[int, str]:
        """Terms id -> its terms key."""
        return {}

    @abstractmethod
    def _compiled_many(self, ids: Iterable[str]) -> dict[str, Lineage]:
        """Compiled lineages of registered assets."""

    @abstractmethod
    def _write_assets(self, assets: Sequence[Asset], lineages: Mapping[str, Lineage], time: str,
                      inherit: Callable[[], tuple[Sequence[Withdrawal], Sequence[Restriction]]]) -> None:
        """Atomically store assets (in order), their compiled lineages, closures and content digests, one
        register event each, and the withdrawals and restrictions they inherit from earlier versions: what
        ``inherit()`` returns, called inside the write transaction, under its lock (it may raise to refuse)."""

    @abstractmethod
    def _write_withdrawal(self, w: Withdrawal) -> None:
        """Atomically store the withdrawal and its event."""

    @abstractmethod
    def _write_lift(self, w: Withdrawal) -> None:
        """Atomically store that the asset's withdrawal was lifted (``w.reason`` says why) and its ``lift`` event."""

    @abstractmethod
    def _holders(self, digests: Iterable[str]) -> dict[str, set[str]]:
        """Registered assets whose content (``core.digests.content_digests``) has each digest: digest -> asset ids."""

    def close(self) -> None:
        pass

    def _known(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are registered (backends may answer without decoding assets)."""
        return set(self.get_many(ids))

    # --- shared logic ------------------------------------------------------------
    def get(self, asset: str) -> Asset | None:
        return self.get_many([asset]).get(asset)

    def require(self, asset: str) -> Asset:
        a = self.get(asset)
        if a is None:
            raise NotFound(f"no asset {asset!r} in the registry", hint=_missing_hint(self, asset))
        return a

    def add(self, assets: Sequence[Asset], sources: Mapping[str, str] | None = None) -> list[Asset]:
        """Register a batch atomically. Returns the assets that were new.

        ``sources`` maps asset id -> where it came from (file:line), for error messages.
        """
        sources = sources or {}
        ordered = self._to_register(assets, sources, self.get_many([a.id for a in assets]))
        if not ordered:
            return []
        batch = {a.id for a in ordered}
        lineages = self._compiled_many({e.parent for a in ordered for e in a.derived_from if e.propagates and e.parent not in batch})
        for a in ordered:
            lineages[a.id] = compile_lineage(a, lineages)
        t = now()
        self._write_assets(ordered, {a.id: lineages[a.id] for a in ordered}, t, self._under_write_lock(ordered, sources, t))
        _WRITES[0] += 1
        return ordered

    def add_many(self, assets: Sequence[Asset], sources: Mapping[str, str] | None = None) -> list[Asset]:
        """``add`` for large batches (store/bulk.py): the same checks, rows and guarantees, one atomic write."""
        from charter.store import bulk

        got = bulk.add_many(self, assets, sources or {})
        _WRITES[0] += bool(got)
        return got

    def _to_register(self, assets: Sequence[Asset], sources: Mapping[str, str], existing: Mapping[str, Asset]) -> list[Asset]:
        """The batch's assets not yet registered (``existing``: those that are), parents first; refused when an id
        comes twice with different content, a registered one differs, or a parent is neither registered nor in the batch."""
        new: list[Asset] = []
        first: dict[str, Asset] = {}
        for a in assets:
            prev = first.setdefault(a.id, a)
            if prev is not a and prev.content_hash != a.content_hash:
                raise Conflict(f"{a.id} appears twice in the batch with different content",
                               hint="give each version its own id", where=sources.get(a.id, ""))
            if prev is not a:
                continue
            old = existing.get(a.id)
            if old is None:
                new.append(a)
            elif old.content_hash != a.content_hash:
                raise Conflict(
                    f"{a.id} is already registered with different content",
                    hint=f"registered versions are immutable: bump the version (e.g. {a.kind}/{a.name}@<next>)",
                    where=sources.get(a.id, ""),
                )
        if not new:
            return []
        ordered = new if _parents_first(new) else _topological(new, sources)
        batch = {a.id for a in ordered}
        outside = {p for a in ordered for e in a.derived_from for p in [e.parent] if p not in batch}
        known = self._known(outside)
        for a in ordered:
            for e in a.derived_from:
                if e.parent not in batch and e.parent not in known:
                    raise NotFound(
                        f"{a.id} derives from {e.parent}, which is not registered",
                        hint=f"register {e.parent} first or in the same command; {_missing_hint(self, e.parent)}",
                        where=sources.get(a.id, ""),
                        field="derived_from",
                    )
        return ordered

    def _under_write_lock(self, assets: Sequence[Asset], sources: Mapping[str, str], time: str) -> Callable[[], tuple[list[Withdrawal], list[Restriction]]]:
        """What a registration reads of the policy state, for ``_write_assets`` to call inside its write transaction:
        read before it, a withdrawal another process committed in between would be missed (content of a withdrawn
        asset registered anyway; a new version registered without its name's withdrawal or restrictions)."""
        def check() -> tuple[list[Withdrawal], list[Restriction]]:
            self._refuse_withdrawn_content(assets, sources)
            return self._inherited(assets, time)
        return check

    def _refuse_withdrawn_content(self, assets: Sequence[Asset], sources: Mapping[str, str]) -> None:
        """A withdrawal binds the content too: the same data files or weights under another id are refused."""
        withdrawn = self.withdrawals()  # first: with none (the usual case) no asset's digests are computed
        if not withdrawn:
            return
        mine = {a.id: content_digests(a) for a in assets}
        wanted = set().union(*mine.values()) if mine else set()
        if not wanted:
            return
        self._add_legacy_weights(assets, withdrawn, mine)
        wanted = set().union(*mine.values())
        for digest, holders in self._holders(wanted).items():
            for h in sorted(holders & withdrawn.keys()):
                w = withdrawn[h]
                a = next(x for x in assets if digest in mine[x.id])
                raise Denied(f"{a.id} has the content of {h}, withdrawn at {w.time}: {w.reason}",
                             hint=f"a withdrawal binds its data and weights; if it was a mistake: charter withdraw --lift {h} --reason ...")

    def _add_legacy_weights(self, assets: Sequence[Asset], withdrawn: Mapping[str, Withdrawal], mine: dict[str, frozenset[str]]) -> None:
        """Weights withdrawn under the folder hash charter used before ``folder-v2`` are bound too: when such a
        withdrawal exists, each new weights folder's legacy hash joins its digests (one more read, cached)."""
        legacy = [a for a in self.get_many(withdrawn).values() if is_legacy_weights(a)]
        if not legacy:
            return
        for a in assets:
            folder = Path(((a.notes or {}).get("weights") or {}).get("path") or "")
            if (a.notes or {}).get("weights") and folder.is_dir():
                mine[a.id] = mine[a.id] | {legacy_folder_hash(folder)}

    def _inherited(self, assets: Sequence[Asset], time: str) -> tuple[list[Withdrawal], list[Restriction]]:
        """Withdrawals and restrictions a new version inherits from the other versions of its name (until lifted)."""
        withdrawn, restricted = self.withdrawals(), self.restrictions()
        if not withdrawn and not restricted:
            return [], []
        by_name: dict[str, list[str]] = {}
        for i in list(withdrawn) + list(restricted):
            by_name.setdefault(i.rsplit("@", 1)[0], []).append(i)
        ws: list[Withdrawal] = []
        rs: list[Restriction] = []
        for a in assets:
            for other in sorted(set(by_name.get(a.id.rsplit("@", 1)[0], ()))):
                if other == a.id:
                    continue
                if other in withdrawn and not any(w.asset == a.id for w in ws):
                    w = withdrawn[other]
                    ws.append(Withdrawal(a.id, f"{w.reason} (inherited from {other}, withdrawn {w.time})", time))
                for r in restricted.get(other, ()):
                    rs.append(Restriction(a.id, r.deny, f"{r.reason} (inherited from {other}, restricted {r.time})", time))
        return ws, rs

    def withdraw(self, asset: str, reason: str) -> Withdrawal:
        self.require(asset)
        prior = self.withdrawals().get(asset)
        if prior is not None:
            raise Conflict(f"{asset} was already withdrawn at {prior.time}: {prior.reason}", hint="nothing to do; `charter trace --down` lists what it affects")
        if not reason.strip():
            raise InvalidInput("a withdrawal needs a reason", hint="pass --reason TEXT")
        w = Withdrawal(asset, reason.strip(), now())
        self._write_withdrawal(w)
        _WRITES[0] += 1
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
        _WRITES[0] += 1
        return w

    # --- after registration: restrictions and evaluated properties ------------------------------
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
    def _write_properties(self, props: Sequence[Property]) -> None:
        """Atomically store the properties and one ``evaluate`` event per asset and benchmark."""

    def restrict(self, asset: str, deny: Sequence[str], reason: str) -> Restriction:
        self.require(asset)
        if not reason.strip():
            raise InvalidInput("a restriction needs a reason", hint="pass --reason TEXT")
        if not deny:
            raise InvalidInput("a restriction needs at least one use to deny", hint="pass --deny USE")
        r = Restriction(asset, tuple(dict.fromkeys(deny)), reason.strip(), now())
        self._write_restriction(r)
        _WRITES[0] += 1
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
        _WRITES[0] += 1
        return lift

    def attach(self, props: Sequence[Property]) -> list[Property]:
        """Attach evaluated properties (stamped now unless they carry a time)."""
        for p in props:
            self.require(p.asset)
        t = now()
        props = [p if p.time else replace(p, time=t) for p in props]
        if props:
            self._write_properties(props)
            _WRITES[0] += 1
        return props

    # --- the gateway (charter.serve): API keys, stored hashed, and the hash-chained audit log ---
    @abstractmethod
    def _write_api_key(self, key: "ApiKey") -> None:
        """Store a new key record (its hash, never the key)."""

    @abstractmethod
    def _write_key_revocation(self, key_id: str, time: str) -> None:
        """Mark a key revoked (the only change a key record ever gets)."""

    @abstractmethod
    def api_key(self, key_hash: str) -> "ApiKey | None":
        """The key record whose hash is ``key_hash`` (revoked ones included), or None."""

    @abstractmethod
    def api_keys(self, application: str | None = None) -> list["ApiKey"]:
        """Key records in creation order, optionally of one application."""

    @abstractmethod
    def api_keys_version(self) -> object:
        """A value that changes whenever a key is added or revoked, in any process."""

    def generations(self) -> tuple[object, object]:
        """(``withdrawals_version()``, ``api_keys_version()``) at once: the gateway asks on every request
        (a backend answers both with one read where it can)."""
        return self.withdrawals_version(), self.api_keys_version()

    @abstractmethod
    def _append_audit(self, record: str) -> "AuditEntry":
        """In one atomic write: read the last entry's hash and append ``record`` (canonical JSON)
        as the next entry, its hash ``chain_hash(prev, record)`` (``GENESIS`` for the first)."""

    @abstractmethod
    def audit_entries(self, after: int = 0, limit: int | None = None) -> list["AuditEntry"]:
        """Audit entries with seq > ``after``, in seq order."""

    def add_api_key(self, application: str, key_id: str, key_hash: str) -> "ApiKey":
        a = self.require(application)
        if a.kind != "application":
            raise InvalidInput(f"{application} is a {a.kind}, not an application", hint="keys belong to applications: `charter app add` one first")
        k = ApiKey(key_id, key_hash, application, now(), None)
        self._write_api_key(k)
        return k

    def revoke_api_key(self, key_id: str) -> "ApiKey":
        k = next((k for k in self.api_keys() if k.key_id == key_id), None)
        if k is None:
            raise NotFound(f"no API key {key_id!r}", hint="`charter app keys APP` lists an application's keys")
        if k.revoked:
            raise Conflict(f"key {key_id} was already revoked at {k.revoked}", hint="nothing to do")
        t = now()
        self._write_key_revocation(key_id, t)
        return k._replace(revoked=t)

    def append_audit(self, record: Mapping) -> "AuditEntry":
        """Append one record (a JSON object) to the audit log, chained to the one before."""
        return self._append_audit(audit_json(record))

    def _append_audit_many(self, records: Sequence[str]) -> list["AuditEntry"]:
        """Append several records (canonical JSON) in one atomic write, chained in order: the gateway's
        group commit (one transaction, one fsync, per batch). This default appends them one by one."""
        return [self._append_audit(r) for r in records]

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the last audit entry; (0, GENESIS) when the log is empty."""
        last, after = None, 0
        while batch := self.audit_entries(after=after, limit=10_000):
            last, after = batch[-1], batch[-1].seq
        return (last.seq, last.hash) if last else (0, GENESIS)

    # --- identities (charter.core.identity): users, the action log, registrants, consent tokens ----------
    actor: str = ""  # whose writes these are: recorded with each registration (the Registry sets it)

    def users(self) -> dict[str, "User"]:
        """Current users by name (each user's last row; role ``none`` ones included)."""
        raise StoreError(f"{type(self).__name__} does not record users", hint="use a SQLite or memory registry")

    def _write_user(self, user: "User", time: str) -> None:
        raise StoreError(f"{type(self).__name__} does not record users", hint="use a SQLite or memory registry")

    def append_action(self, record: Mapping) -> "AuditEntry":
        """Append one record (canonical JSON) to the action log, chained to the one before, now."""
        raise StoreError(f"{type(self).__name__} does not keep an action log", hint="use a SQLite or memory registry")

    def stage_action(self, record: Mapping) -> None:
        """The record of the write this thread is about to make: appended in that write's own transaction
        (so a write and its record commit together or not at all). This default appends it now."""
        self.append_action(record)

    def unstage_action(self) -> None:
        """Forget a staged record whose write did not happen (it failed before writing)."""

    def action_entries(self, after: int = 0, limit: int | None = None, *, actor: str | None = None, asset: str | None = None) -> list["AuditEntry"]:
        """Action log entries with seq > ``after``, in order; optionally only one actor's or one asset's."""
        raise StoreError(f"{type(self).__name__} does not keep an action log", hint="use a SQLite or memory registry")

    def registered_by(self, asset_id: str) -> str | None:
        """Who registered ``asset_id`` (None when unknown: registered before schema 10)."""
        return None

    def _write_consent_token(self, token_hash: str, owner: str, time: str) -> None:
        raise StoreError(f"{type(self).__name__} does not keep consent tokens", hint="use a SQLite or memory registry")

    def consent_token(self, token_hash: str) -> tuple[str, str | None] | None:
        """(owner, revoked time) of a token by its hash; None when unknown."""
        raise StoreError(f"{type(self).__name__} does not keep consent tokens", hint="use a SQLite or memory registry")

    def audit_writer(self) -> "Store":
        """A store to append audit entries through from another thread (the gateway's audit writer).
        This one by default; SQLite opens a second connection, so that a commit's fsync never holds
        the connection that requests are decided through."""
        return self

    # --- signatures (charter.trust): DSSE envelopes over charters and events, append-only ----------
    @abstractmethod
    def signatures(self, assets: Iterable[str] | None = None, kind: str | None = None) -> list["SignatureRecord"]:
        """Stored signatures (of these assets; of this kind), oldest first."""

    @abstractmethod
    def _write_signatures(self, records: Sequence["SignatureRecord"]) -> None:
        """Atomically append the records (their ``seq`` is assigned here) and one ``sign`` event each;
        a record whose ``digest`` is already stored is skipped."""

    def add_signatures(self, records: Sequence["SignatureRecord"]) -> list["SignatureRecord"]:
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


def _evaluate_events(props: Sequence[Property]) -> dict[tuple[str, str], dict]:
    """One ``evaluate`` event per (asset, time): its benchmarks, versions, runs and metric values."""
    out: dict[tuple[str, str], dict] = {}
    for p in props:
        e = out.setdefault((p.asset, p.time), {"benchmarks": {}})
        b = e["benchmarks"].setdefault(p.benchmark, {"version": p.version, "run": p.run, "metrics": {}})
        b["metrics"][p.metric] = p.value
    return out


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


def withdraw_owners(store: "Store", owners: Sequence[str], reason: str) -> tuple[list[Withdrawal], list[str]]:
    """Record that these data contributors withdrew consent. Returns (new, already withdrawn)."""
    owners, reason = check_owner_withdrawal(owners, reason)
    prior = store.owner_withdrawals()
    t = now()
    new = [Withdrawal(o, reason.strip(), t) for o in owners if o not in prior]
    if new:
        store._write_owner_withdrawals(new)
        _WRITES[0] += 1
    return new, [o for o in owners if o in prior]


def _parents_first(assets: Sequence[Asset]) -> bool:
    """Whether every parent in the batch comes before its children already (one pass; a generator's or an export's
    order): then the batch is its own topological order and holds no cycle."""
    ids = {a.id for a in assets}
    seen: set[str] = set()
    for a in assets:
        for e in a.derived_from:
            if e.parent in ids and e.parent not in seen:
                return False
        seen.add(a.id)
    return True


def _topological(assets: Sequence[Asset], sources: Mapping[str, str]) -> list[Asset]:
    """Order a batch parents-first; a cycle inside the batch is a LineageCycle."""
    by_id = {a.id: a for a in assets}
    done: dict[str, Asset] = {}
    state: dict[str, int] = {}
    stack_path: list[str] = []

    for root in by_id:
        if root in done:
            continue
        stack = [(root, iter([e.parent for e in by_id[root].derived_from]))]
        state[root] = 1
        stack_path.append(root)
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                stack_path.pop()
                state[node] = 2
                done[node] = by_id[node]
                continue
            if nxt not in by_id or state.get(nxt) == 2:
                continue
            if state.get(nxt) == 1:
                cyc = stack_path[stack_path.index(nxt):] + [nxt]
                raise LineageCycle(
                    f"lineage cycle: {' -> '.join(cyc)}",
                    hint="an asset cannot be derived, directly or not, from itself; remove one derived_from entry",
                    where=sources.get(nxt, ""),
                    field="derived_from",
                )
            state[nxt] = 1
            stack_path.append(nxt)
            stack.append((nxt, iter([e.parent for e in by_id[nxt].derived_from])))
    return list(done.values())


def _missing_hint(store: "Store", asset: str) -> str:
    import difflib

    kind, _, rest = asset.partition("/")
    name = rest.rsplit("@", 1)[0]
    same = [a.id for a in store.find(kind=kind, name=name)] if name else []
    if same:
        return f"registered versions: {', '.join(same[-5:])}"
    if store.count() <= 50000:
        close = difflib.get_close_matches(asset, [a.id for a in store.find(kind=kind or None)], n=1, cutoff=0.6)
        if close:
            return f"did you mean {close[0]!r}?"
    return "`charter ls` lists registered assets"


# --- the gateway's records (charter.serve) -------------------------------------------------------

GENESIS = "0" * 64  # the "previous hash" of the first audit entry


class SignalSnapshot(NamedTuple):
    """One file a site served (robots.txt, tdmrep.json, headers, HTML) at ``fetched_at``, as stored."""

    domain: str
    kind: str
    fetched_at: str
    sha256: str
    body: str
    source: str
    imported: str


class ApiKey(NamedTuple):
    """An application's API key, as stored: an id (shown, logged) and the key's sha256 (never the key)."""

    key_id: str
    hash: str
    application: str
    created: str
    revoked: str | None


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


class AuditEntry(NamedTuple):
    """One entry of the audit log. ``record`` is the canonical JSON text that was hashed:
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
