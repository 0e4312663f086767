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
from abc import ABC, abstractmethod
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

from charter.core.assets import Asset, Edge, Event, Withdrawal
from charter.core.lineage import Lineage, compile_lineage
from charter.errors import Conflict, InvalidInput, LineageCycle, NotFound


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


class Hop(NamedTuple):
    """One asset on a lineage trace and its shortest distance: the (asset, depth) pairs that
    ``upstream``/``downstream`` return (a backend may return Hops, or plain tuples). A named
    tuple, because a trace can hold hundreds of thousands and tuples build without a Python call."""

    asset: str
    depth: int


class Store(ABC):
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
        """A value that changes whenever withdrawals may have changed, in any process."""

    @abstractmethod
    def events(self, after: int = 0, type: str | None = None, asset: str | None = None, limit: int | None = None) -> list[Event]: ...

    @abstractmethod
    def log(self, type: str, asset: str, data: Mapping) -> Event:
        """Append one event (its own atomic write)."""

    @abstractmethod
    def compiled(self, asset: str) -> Lineage | None:
        """The asset's compiled lineage (E with shortest paths; see core/lineage.py), or None."""

    @abstractmethod
    def _compiled_many(self, ids: Iterable[str]) -> dict[str, Lineage]:
        """Compiled lineages of registered assets."""

    @abstractmethod
    def _write_assets(self, assets: Sequence[Asset], lineages: Mapping[str, Lineage], time: str) -> None:
        """Atomically store assets (in order), their compiled lineages and closures, and one register event each."""

    @abstractmethod
    def _write_withdrawal(self, w: Withdrawal) -> None:
        """Atomically store the withdrawal and its event."""

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
        existing = self.get_many([a.id for a in assets])
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
        ordered = _topological(new, sources)
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
        lineages = self._compiled_many({e.parent for a in ordered for e in a.derived_from if e.propagates and e.parent not in batch})
        for a in ordered:
            lineages[a.id] = compile_lineage(a, lineages)
        self._write_assets(ordered, {a.id: lineages[a.id] for a in ordered}, now())
        return ordered

    def withdraw(self, asset: str, reason: str) -> Withdrawal:
        self.require(asset)
        prior = self.withdrawals().get(asset)
        if prior is not None:
            raise Conflict(f"{asset} was already withdrawn at {prior.time}: {prior.reason}", hint="nothing to do; `charter trace --down` lists what it affects")
        if not reason.strip():
            raise InvalidInput("a withdrawal needs a reason", hint="pass --reason TEXT")
        w = Withdrawal(asset, reason.strip(), now())
        self._write_withdrawal(w)
        return w


def withdraw_owners(store: "Store", owners: Sequence[str], reason: str) -> tuple[list[Withdrawal], list[str]]:
    """Record that these data contributors withdrew consent. Returns (new, already withdrawn)."""
    if not reason.strip():
        raise InvalidInput("a withdrawal needs a reason", hint="pass --reason TEXT")
    owners = list(dict.fromkeys(o.strip() for o in owners if o and o.strip()))
    if not owners:
        raise InvalidInput("no owners given", hint="pass --owner ID or --owners-file FILE")
    prior = store.owner_withdrawals()
    t = now()
    new = [Withdrawal(o, reason.strip(), t) for o in owners if o not in prior]
    if new:
        store._write_owner_withdrawals(new)
    return new, [o for o in owners if o in prior]


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
