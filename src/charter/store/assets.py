"""Assets and lineage: registered charters (immutable), their typed edges, compiled lineages, closures in
both directions, content digests and interned terms. Registration itself (``Store.add``) is in base.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Hashable, Iterable, Iterator, Mapping, NamedTuple, Sequence, TypeVar

from charter.core.assets import Asset, Edge, Restriction, Withdrawal
from charter.core.lineage import Lineage
from charter.errors import LineageCycle, NotFound

K = TypeVar("K", bound=Hashable)


class Hop(NamedTuple):
    """One asset on a lineage trace and its shortest distance: the (asset, depth) pairs that
    ``upstream``/``downstream`` return (a backend may return Hops, or plain tuples). A named
    tuple, because a trace can hold hundreds of thousands and tuples build without a Python call."""

    asset: str
    depth: int


class AssetStore(ABC):
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

    def child_counts(self, ids: Iterable[str]) -> dict[str, int]:
        """For each of ``ids``, how many edges of a propagating relation lead to its children (0 for none or an
        unregistered id): what a graph page needs to count a collapsed family without reading it."""
        return {i: sum(1 for e in self.children(i) if e.propagates) for i in ids}

    @abstractmethod
    def compiled(self, asset: str) -> Lineage | None:
        """The asset's compiled lineage (E with shortest paths; see core/lineage.py), or None."""

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
    def _holders(self, digests: Iterable[str]) -> dict[str, set[str]]:
        """Registered assets whose content (``core.digests.content_digests``) has each digest: digest -> asset ids."""

    def _known(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are registered (backends may answer without decoding assets)."""
        return set(self.get_many(ids))

    def get(self, asset: str) -> Asset | None:
        return self.get_many([asset]).get(asset)

    def require(self, asset: str) -> Asset:
        a = self.get(asset)
        if a is None:
            raise NotFound(f"no asset {asset!r} in the registry", hint=_missing_hint(self, asset))
        return a

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

    # --- interned terms: each asset's lineage terms key, stored once per distinct key ----------------
    def terms_index(self, upto: int) -> dict[str, int]:
        """asset id -> its stored terms id, for every asset registered up to ``upto`` (assets_version)
        that has one; empty where the backend keeps no terms keys."""
        return {}

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


def parents_first(parents: Mapping[K, Iterable[K]]) -> tuple[list[K], list[K]]:
    """Depth-first over a child -> parents graph: (its nodes, each after its parents; the first cycle found,
    its members closed, or []). Parents that are not keys of ``parents`` are left out of both."""
    order: list[K] = []
    state: dict[K, int] = {}  # 1 on the path, 2 done
    for root in parents:
        if root in state:
            continue
        stack = [(root, iter(parents[root]))]
        path = [root]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
                order.append(node)
            elif nxt not in parents or state.get(nxt) == 2:
                continue
            elif state.get(nxt) == 1:
                return order, path[path.index(nxt):] + [nxt]
            else:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(parents[nxt])))
    return order, []


def _topological(assets: Sequence[Asset], sources: Mapping[str, str]) -> list[Asset]:
    """Order a batch parents-first; a cycle inside the batch is a LineageCycle."""
    by_id = {a.id: a for a in assets}
    order, cyc = parents_first({i: [e.parent for e in a.derived_from] for i, a in by_id.items()})
    if cyc:
        raise LineageCycle(
            f"lineage cycle: {' -> '.join(cyc)}",
            hint="an asset cannot be derived, directly or not, from itself; remove one derived_from entry",
            where=sources.get(cyc[0], ""),
            field="derived_from",
        )
    return [by_id[i] for i in order]


def _missing_hint(store: "AssetStore", asset: str) -> str:
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
