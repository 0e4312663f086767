"""A tiny in-memory Store for tests and scratch work. Same contract as SQLite, no persistence."""

from __future__ import annotations

import copy
import json
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from charter.core.assets import Asset, Edge, Event, Property, Restriction, Withdrawal
from charter.core.digests import content_digests
from charter.core.lineage import Lineage, closure, terms_key
from charter.errors import Conflict
from charter.core.identity import User
from charter.store.base import Store
from charter.store.chain import GENESIS, AuditEntry, audit_json, chain_hash
from charter.store.common import now
from charter.store.events import _evaluate_events
from charter.store.gateway import ApiKey
from charter.store.signals import SignalSnapshot
from charter.store.signatures import SignatureRecord


class MemoryStore(Store):
    def __init__(self) -> None:
        self._assets: dict[str, Asset] = {}
        self._up: dict[str, dict[str, int]] = {}
        self._lineages: dict[str, Lineage] = {}
        self._down: dict[str, dict[str, int]] = {}
        self._children: dict[str, list[Edge]] = {}
        self._withdrawals: dict[str, Withdrawal] = {}
        self._lifts = 0
        self._owner_withdrawals: dict[str, Withdrawal] = {}
        self._events: list[Event] = []
        self._restrictions: dict[str, list[Restriction]] = {}
        self._properties: dict[str, list[Property]] = {}
        self._terms: dict[str, int] = {}  # terms key -> tid
        self._terms_doc: dict[int, str] = {}
        self._asset_terms: dict[str, int] = {}
        self._signals: dict[tuple, SignalSnapshot] = {}

    def get_many(self, ids: Iterable[str]) -> dict[str, Asset]:
        return {i: self._assets[i] for i in ids if i in self._assets}

    def find(self, kind: str | None = None, name: str | None = None) -> Iterator[Asset]:
        for a in list(self._assets.values()):
            if (kind is None or a.kind == kind) and (name is None or a.name == name):
                yield a

    def count(self) -> int:
        return len(self._assets)

    def upstream(self, asset: str) -> list[tuple[str, int]]:
        return sorted(self._up.get(asset, {}).items(), key=lambda x: (x[1], x[0]))

    def lineage(self, asset: str) -> list[Asset]:
        if asset not in self._assets:
            return []
        return [self._assets[asset]] + [self._assets[a] for a, _ in self.upstream(asset)]

    def downstream(self, asset: str, depth: int | None = None) -> list[tuple[str, int]]:
        rows = self._down.get(asset, {}).items()
        return sorted(((d, k) for d, k in rows if depth is None or k <= depth), key=lambda x: (x[1], x[0]))

    def children(self, asset: str) -> list[Edge]:
        return list(self._children.get(asset, []))

    def _write_signals(self, rows: Sequence[SignalSnapshot]) -> int:
        new = {(r.domain, r.kind, r.fetched_at, r.sha256): r for r in rows}
        new = {k: r for k, r in new.items() if k not in self._signals}
        self._signals.update(new)
        if new:
            self.log("import-signals", "signals", {"snapshots": len(new)})
        return len(new)

    def signals(self, domains: Iterable[str] | None = None) -> list[SignalSnapshot]:
        keep = None if domains is None else set(domains)
        return sorted((r for r in self._signals.values() if keep is None or r.domain in keep), key=lambda r: (r.domain, r.kind, r.fetched_at))

    def withdrawals(self) -> dict[str, Withdrawal]:
        return dict(self._withdrawals)

    def withdrawals_version(self) -> object:
        return len(self._withdrawals), self._lifts, len(self._owner_withdrawals), sum(map(len, self._restrictions.values())), sum(map(len, self._properties.values()))

    def owner_withdrawals(self) -> dict[str, Withdrawal]:
        return dict(self._owner_withdrawals)

    def _write_owner_withdrawals(self, ws: Sequence[Withdrawal]) -> None:
        data = [json.loads(json.dumps({"reason": w.reason})) for w in ws]  # the only step that can fail; do it first
        for w, d in zip(ws, data):
            self._owner_withdrawals[w.asset] = w
            self.log("withdraw-owner", w.asset, d)

    def events(self, after: int = 0, type: str | None = None, asset: str | None = None, limit: int | None = None) -> list[Event]:
        out = [e for e in self._events if e.seq > after and (type is None or e.type == type) and (asset is None or e.asset == asset)]
        return out[:limit] if limit else out

    def log(self, type: str, asset: str, data: Mapping) -> Event:
        e = Event(len(self._events) + 1, now(), type, asset, copy.deepcopy(dict(data)))
        self._events.append(e)
        return e

    def compiled(self, asset: str) -> Lineage | None:
        return self._lineages.get(asset)

    def terms_id(self, asset: str) -> tuple[int, int] | None:
        return self._asset_terms.get(asset)

    def terms_ids(self, ids: Iterable[str] | None = None, kind: str | None = None, after: int | None = None) -> list[tuple[str, int | None, int]]:
        if after is not None:
            return [(i, *t) for i, t in self._asset_terms.items() if t[1] > after]
        if ids is not None:
            return [(i, *self._asset_terms[i]) for i in dict.fromkeys(ids) if i in self._assets]
        return [(i, *self._asset_terms[i]) for i, a in self._assets.items() if kind is None or a.kind == kind]

    def terms_all(self) -> list[int]:
        return list(self._terms_doc)

    def assets_version(self) -> int:
        return len(self._asset_terms)

    def terms_docs(self, tids: Iterable[int]) -> dict[int, str]:
        return {t: self._terms_doc[t] for t in tids if t in self._terms_doc}

    def _compiled_many(self, ids: Iterable[str]) -> dict[str, Lineage]:
        return {i: self._lineages[i] for i in ids if i in self._lineages}

    def _write_assets(self, assets: Sequence[Asset], lineages: Mapping[str, Lineage], time: str,
                      inherit: Callable[[], tuple[Sequence[Withdrawal], Sequence[Restriction]]]) -> None:
        withdrawals, restrictions = inherit()  # one process, one thread: nothing can come in between
        hashes = [a.content_hash for a in assets]  # the only step that can fail; do it first
        for a, h in zip(assets, hashes):  # nothing below can fail half-way, so this is atomic
            self._assets[a.id] = a
            self._lineages[a.id] = lineages[a.id]
            key = terms_key(lineages[a.id])
            tid = self._terms.setdefault(key, len(self._terms) + 1)
            self._terms_doc[tid] = key
            self._asset_terms[a.id] = (tid, len(self._asset_terms) + 1)
            self._up[a.id] = up = closure(lineages[a.id])
            for anc, d in up.items():
                self._down.setdefault(anc, {})[a.id] = d
            for e in a.derived_from:
                self._children.setdefault(e.parent, []).append(e)
            self.log("register", a.id, {"hash": h})
        self._note_registrants([a.id for a in assets])
        for w in withdrawals:
            self._write_withdrawal(w)
        for r in restrictions:
            self._write_restriction(r)

    def _write_withdrawal(self, w: Withdrawal) -> None:
        self._withdrawals[w.asset] = w
        self.log("withdraw", w.asset, {"reason": w.reason})

    def _write_lift(self, w: Withdrawal) -> None:
        del self._withdrawals[w.asset]
        self._lifts += 1
        self.log("lift", w.asset, {"reason": w.reason})

    def _holders(self, digests: Iterable[str]) -> dict[str, set[str]]:
        wanted = set(digests)
        out: dict[str, set[str]] = {}
        for a in self._assets.values():
            for d in content_digests(a) & wanted:
                out.setdefault(d, set()).add(a.id)
        return out

    # --- after registration: restrictions and evaluated properties ------------------------------
    def restrictions(self) -> dict[str, tuple[Restriction, ...]]:
        return {a: tuple(rs) for a, rs in self._restrictions.items() if rs}

    def _write_restriction(self, r: Restriction) -> None:
        self._restrictions.setdefault(r.asset, []).append(r)
        self.log("restrict", r.asset, {"deny": list(r.deny), "reason": r.reason})

    def _write_restriction_lift(self, lift: Restriction) -> None:
        self._restrictions[lift.asset] = []
        self._lifts += 1  # keeps withdrawals_version moving: the restriction count just went down
        self.log("lift-restrictions", lift.asset, {"deny": list(lift.deny), "reason": lift.reason})

    def properties(self, asset: str) -> list[Property]:
        return list(self._properties.get(asset, []))

    def evaluated(self) -> list[tuple[str, int, int]]:
        return [(a, len(ps), len({p.benchmark for p in ps})) for a, ps in sorted(self._properties.items()) if ps]

    def _write_properties(self, props: Sequence[Property]) -> None:
        events = _evaluate_events(props)
        for p in props:
            json.dumps(p.to_json(), allow_nan=False)  # the only step that can fail; all before writing
        for p in props:
            self._properties.setdefault(p.asset, []).append(p)
        for (a, _), e in events.items():
            self.log("evaluate", a, e)

    # --- the gateway: API keys and the hash-chained audit log --------------------------------
    def _gateway(self) -> tuple[dict[str, ApiKey], list[AuditEntry]]:
        if not hasattr(self, "_keys"):
            self._keys: dict[str, ApiKey] = {}  # key_id -> record, in creation order
            self._audit: list[AuditEntry] = []
        return self._keys, self._audit

    def _write_api_key(self, key: ApiKey) -> None:
        keys, _ = self._gateway()
        if key.key_id in keys or any(k.hash == key.hash for k in keys.values()):
            raise Conflict(f"API key {key.key_id} already exists", hint="make a new key")
        keys[key.key_id] = key

    def _write_key_revocation(self, key_id: str, time: str) -> None:
        keys, _ = self._gateway()
        if keys[key_id].revoked is None:
            keys[key_id] = keys[key_id]._replace(revoked=time)

    def api_key(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self._gateway()[0].values() if k.hash == key_hash), None)

    def api_keys(self, application: str | None = None) -> list[ApiKey]:
        return [k for k in self._gateway()[0].values() if application is None or k.application == application]

    def api_keys_version(self) -> object:
        keys = self._gateway()[0]
        return len(keys), sum(k.revoked is not None for k in keys.values())

    def _append_audit(self, record: str) -> AuditEntry:
        audit = self._gateway()[1]
        prev = audit[-1].hash if audit else GENESIS
        e = AuditEntry(len(audit) + 1, record, prev, chain_hash(prev, record))
        audit.append(e)
        return e

    def audit_entries(self, after: int = 0, limit: int | None = None) -> list[AuditEntry]:
        out = [e for e in self._gateway()[1] if e.seq > after]
        return out[:limit] if limit else out

    # --- identities ----------------------------------------------------------------------------
    def users(self) -> dict[str, User]:
        return dict(getattr(self, "_users", {}))

    def _write_user(self, user: User, time: str) -> None:
        if not hasattr(self, "_users"):
            self._users: dict[str, User] = {}
        self._users[user.name] = user

    def append_action(self, record: Mapping) -> AuditEntry:
        if not hasattr(self, "_actions"):
            self._actions: list[AuditEntry] = []
        text = audit_json(record)
        prev = self._actions[-1].hash if self._actions else GENESIS
        e = AuditEntry(len(self._actions) + 1, text, prev, chain_hash(prev, text))
        self._actions.append(e)
        return e

    def action_entries(self, after: int = 0, limit: int | None = None, *, actor: str | None = None, asset: str | None = None) -> list[AuditEntry]:
        out = [e for e in getattr(self, "_actions", []) if e.seq > after and (actor is None or e.data["actor"] == actor)
               and (asset is None or e.data.get("asset") == asset)]
        return out[:limit] if limit else out

    def registered_by(self, asset_id: str) -> str | None:
        return getattr(self, "_registrants", {}).get(asset_id)

    def _note_registrants(self, ids) -> None:
        if not hasattr(self, "_registrants"):
            self._registrants: dict[str, str] = {}
        for i in ids:
            self._registrants.setdefault(i, self.actor)

    def _write_consent_token(self, token_hash: str, owner: str, time: str) -> None:
        if not hasattr(self, "_tokens"):
            self._tokens: dict[str, tuple[str, str | None]] = {}
        self._tokens[token_hash] = (owner, None)

    def consent_token(self, token_hash: str) -> tuple[str, str | None] | None:
        return getattr(self, "_tokens", {}).get(token_hash)

    # --- signatures (charter.trust) ------------------------------------------------------------
    def signatures(self, assets: Iterable[str] | None = None, kind: str | None = None) -> list[SignatureRecord]:
        rows = getattr(self, "_signatures", [])
        want = set(assets) if assets is not None else None
        return [r for r in rows if (want is None or r.asset in want) and (kind is None or r.kind == kind)]

    def _write_signatures(self, records: Sequence[SignatureRecord]) -> None:
        if not hasattr(self, "_signatures"):
            self._signatures: list[SignatureRecord] = []
        have = {r.digest for r in self._signatures}
        for r in records:
            if r.digest not in have:
                have.add(r.digest)
                self._signatures.append(r._replace(seq=len(self._signatures) + 1))
                self.log("sign", r.asset, {"kind": r.kind, "keyid": r.keyid, "digest": r.digest, "source": r.source})
