"""The storage contract: :class:`Store` is the composition of one contract per concern, each in its own module —
assets and lineage (assets.py), events (events.py: withdrawals, restrictions, lifts, properties, the event log),
data consent (consent.py), the gateway (gateway.py: API keys, audit), identities (identity.py), signatures
(signatures.py) and web signals (signals.py). Backends implement the primitives; validation lives in the
contracts, once; registration (:meth:`Store.add`) is here, since it reads every concern.

Invariants every backend keeps (tests/store/test_contract.py checks them):
  - a registered asset version is immutable; re-adding identical content is a no-op,
    different content under the same id is a Conflict;
  - lineage edges point only at registered assets (or assets in the same batch), so the
    graph is acyclic and an asset's upstream closure never changes after registration;
  - every write (a batch of assets, a withdrawal) is atomic;
  - the event log is append-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

from charter.core.assets import Asset, Restriction, Withdrawal
from charter.core.digests import content_digests, is_legacy_weights, legacy_folder_hash
from charter.core.lineage import compile_lineage
from charter.errors import Conflict, Denied, NotFound
from charter.store.assets import AssetStore, Hop, _missing_hint, _topological
from charter.store.chain import GENESIS, AuditEntry, audit_json, chain_hash
from charter.store.common import WRITES, local_writes, now
from charter.store.consent import ConsentStore, check_owner_withdrawal, withdraw_owners
from charter.store.events import EventStore
from charter.store.gateway import ApiKey, GatewayStore
from charter.store.identity import IdentityStore
from charter.store.signals import SignalSnapshot, SignalStore
from charter.store.signatures import SIGNATURE_KINDS, SignatureRecord, SignatureStore

__all__ = [  # what the contract's modules define, importable from here as before the split
    "GENESIS", "SIGNATURE_KINDS", "ApiKey", "AuditEntry", "Hop", "SignalSnapshot", "SignatureRecord", "Store",
    "audit_json", "chain_hash", "check_owner_withdrawal", "local_writes", "now", "withdraw_owners", "WRITES",
]


class Store(AssetStore, EventStore, ConsentStore, GatewayStore, IdentityStore, SignatureStore, SignalStore):
    """Every concern's contract in one object: what registry.py, serve/, cli/ and web/ are handed."""

    def close(self) -> None:
        pass

    # --- registration: validated against the assets, withdrawals and restrictions, written atomically ---
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
        WRITES[0] += 1
        return ordered

    def add_many(self, assets: Sequence[Asset], sources: Mapping[str, str] | None = None) -> list[Asset]:
        """``add`` for large batches (store/bulk.py): the same checks, rows and guarantees, one atomic write."""
        from charter.store import bulk

        got = bulk.add_many(self, assets, sources or {})
        WRITES[0] += bool(got)
        return got

    def _to_register(self, assets: Sequence[Asset], sources: Mapping[str, str], existing: Mapping[str, Asset]) -> list[Asset]:
        """The batch's assets not yet registered (``existing``: those that are), parents first; refused when an id
        comes twice with different content, a registered one differs, or a parent is neither registered nor in the batch."""
        return self._checked(assets, sources, existing)[0]

    def _checked(self, assets: Sequence[Asset], sources: Mapping[str, str], existing: Mapping[str, Asset]) -> tuple[list[Asset], set[str], set[str]]:
        """``_to_register``'s assets, with their ids and the parents they name outside the batch (computed once:
        each pass over a million assets costs a third of a second)."""
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
            return [], set(), set()
        batch = {a.id for a in new}
        ordered = new if _parents_first(new, batch) else _topological(new, sources)
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
        return ordered, batch, outside

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


def _parents_first(assets: Sequence[Asset], ids: set[str]) -> bool:
    """Whether every parent in the batch (``ids``) comes before its children already (one pass; a generator's or an
    export's order): then the batch is its own topological order and holds no cycle."""
    seen: set[str] = set()
    for a in assets:
        for e in a.derived_from:
            if e.parent in ids and e.parent not in seen:
                return False
        seen.add(a.id)
    return True
