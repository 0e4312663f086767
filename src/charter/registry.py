"""The registry: storage + taxonomy + licence table, and the operations the CLI exposes."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Iterable, Sequence

from charter.core import charterfile, uses as uses_mod
from charter.core.assets import Asset, Withdrawal
from charter.core.ids import KINDS
from charter.core.uses import Taxonomy
from charter.errors import InvalidInput, NotFound, UsageError
from charter.policy import licenses as licenses_mod
from charter.policy.decide import Decision, Request, Upstream, decide
from charter.policy.licenses import LicenseTable
from charter.store import Store, open_store
from charter.store.base import Hop

_hop = partial(tuple.__new__, Hop)  # _hop((asset, depth)) -> Hop(asset, depth), no Python-level call


class Registry:
    """Library entry point. ``Registry.open()`` uses $CHARTER_REGISTRY or ./.charter/registry.db."""

    def __init__(self, store: Store, taxonomy: Taxonomy | None = None, licenses: LicenseTable | None = None, cache_size: int = 100_000):
        self.store = store
        self.taxonomy = taxonomy or uses_mod.load()
        self.licenses = licenses or licenses_mod.load(self.taxonomy)
        self._lineage: OrderedDict[str, tuple[Upstream, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._wd_version: object = None
        self._wd: dict[str, Withdrawal] = {}
        self._uses_memo: dict[tuple, tuple[str, ...]] = {}  # validated uses, for self._memo_tax
        self._memo_tax: Taxonomy | None = None
        self._lic_memo: tuple[LicenseTable, LicenseTable] | None = None  # (self.licenses, memoising view)

    @classmethod
    def open(cls, url: str | None = None, taxonomy_files: Sequence[Path] = (), create: bool = True) -> "Registry":
        tax = uses_mod.load(*taxonomy_files)
        return cls(open_store(url, create=create), tax)

    def close(self) -> None:
        self.store.close()

    # --- registration --------------------------------------------------------------
    def load_files(self, paths: Iterable[Path]) -> tuple[list[Asset], dict[str, str]]:
        """Parse and validate charter files; returns the assets and where each was defined."""
        assets: list[Asset] = []
        sources: dict[str, str] = {}
        for p in paths:
            for a in charterfile.load_file(Path(p), self.taxonomy):
                if a.id in sources:
                    raise InvalidInput(f"{a.id} is defined in {sources[a.id]} and {p}", hint="keep one definition", where=str(p), field="id")
                sources[a.id] = str(p)
                assets.append(a)
        return assets, sources

    def add_files(self, paths: Iterable[Path]) -> list[Asset]:
        """Parse every file first, then register all assets in one atomic write. Returns the new ones."""
        assets, sources = self.load_files(paths)
        return self.store.add(assets, sources)

    def add(self, assets: Sequence[Asset], sources: dict[str, str] | None = None) -> list[Asset]:
        return self.store.add(assets, sources)

    # --- lookup ----------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        """A full id, or ``kind/name`` for its latest registered version."""
        if "@" in ref:
            self.store.require(ref)
            return ref
        kind, _, name = ref.partition("/")
        if kind not in KINDS or not name:
            raise NotFound(f"{ref!r} is not an asset reference", hint="write kind/name@version, or kind/name for the latest version")
        versions = list(self.store.find(kind=kind, name=name))
        if not versions:
            self.store.require(ref + "@?")  # raises NotFound with a did-you-mean hint
        return versions[-1].id

    def get(self, ref: str) -> Asset:
        return self.store.require(self.resolve(ref))

    def check_uses(self, uses: Iterable[str]) -> tuple[str, ...]:
        uses = tuple(uses)
        if self._memo_tax is not self.taxonomy:
            self._uses_memo.clear()
            self._memo_tax = self.taxonomy
        try:
            hit = self._uses_memo.get(uses)
        except TypeError:  # unhashable items: no memo
            hit = None
        if hit is not None:
            return hit
        out = []
        for u in uses:
            for part in str(u).split(","):
                part = part.strip()
                if part:
                    out.append(self.taxonomy.check(part, field="uses"))
        if not out:
            raise UsageError("no uses given", hint="name at least one use, e.g. fine-tuning commercial")
        checked = tuple(dict.fromkeys(out))
        if len(self._uses_memo) >= 4096:
            self._uses_memo.clear()
        if all(type(u) is str for u in uses):  # only plain strings are safe keys
            self._uses_memo[uses] = checked
        return checked

    # --- decisions ---------------------------------------------------------------------
    def withdrawals(self) -> dict[str, Withdrawal]:
        v = self.store.withdrawals_version()
        if v != self._wd_version:
            self._wd = self.store.withdrawals()
            self._wd_version = v
        return self._wd

    def lineage(self, asset_id: str) -> tuple[Upstream, ...]:
        """E for an asset, with the shortest path to each member and current withdrawals."""
        base = self._lineage.get(asset_id)
        if base is None:
            base = _with_paths(asset_id, self.store.lineage(asset_id))
            if not base:
                self.store.require(asset_id)
            self._lineage[asset_id] = base
            if len(self._lineage) > self._cache_size:
                self._lineage.popitem(last=False)
        wd = self.withdrawals()
        if not wd or not any(u.asset.id in wd for u in base):
            return base
        return tuple(replace(u, withdrawal=wd.get(u.asset.id)) if u.asset.id in wd else u for u in base)

    def _licenses(self) -> LicenseTable:
        """``self.licenses`` with ``for_asset`` memoised, for the decision rule's hot loop."""
        memo = self._lic_memo
        if memo is None or memo[0] is not self.licenses:
            memo = self._lic_memo = (self.licenses, _memo_licenses(self.licenses))
        return memo[1]

    def check(self, ref: str, uses: Iterable[str]) -> Decision:
        """Decide without recording (for listings and previews)."""
        # A full id needs no separate lookup: lineage() raises the same NotFound as resolve().
        asset_id = ref if "@" in ref else self.resolve(ref)
        lineage = self.lineage(asset_id)
        uses_t = self.check_uses(uses)
        return decide(Request(asset_id, uses_t), lineage, self.taxonomy, self._licenses())

    def can(self, ref: str, uses: Iterable[str]) -> Decision:
        """Decide and append the decision, with its reasons, to the event log."""
        d = self.check(ref, uses)
        self.store.log("decision", d.asset, d.to_json())
        return d

    def ls(self, kind: str | None = None, allowed: Sequence[str] | None = None) -> list[tuple[Asset, Decision | None]]:
        uses_t = self.check_uses(allowed) if allowed else None
        out = []
        for a in self.store.find(kind=kind):
            if uses_t is None:
                out.append((a, None))
                continue
            d = decide(Request(a.id, uses_t), self.lineage(a.id), self.taxonomy, self._licenses())
            if d.allowed:
                out.append((a, d))
        return out

    # --- lineage ------------------------------------------------------------------------
    def trace(self, ref: str, down: bool, depth: int | None = None) -> list[Hop]:
        asset_id = self.resolve(ref)
        if down:
            rows = self.store.downstream(asset_id, depth)
        else:
            rows = [r for r in self.store.upstream(asset_id) if depth is None or r[1] <= depth]
        if set(map(type, rows)) <= {Hop}:  # the backend returned Hops already (SQLite does)
            return rows if type(rows) is list else list(rows)
        return list(map(_hop, rows))

    def withdraw(self, ref: str, reason: str) -> tuple[Withdrawal, list[Hop]]:
        asset_id = self.resolve(ref)
        w = self.store.withdraw(asset_id, reason)
        return w, self.trace(asset_id, down=True)

    def effective(self, ref: str) -> dict:
        """What an asset inherits: every restriction and duty in E, with where it comes from."""
        asset_id = self.resolve(ref)
        deny, allow, duties, withdrawn = [], [], [], []
        for up in self.lineage(asset_id):
            a = up.asset
            origin = {"asset": a.id, "path": list(up.path)}
            if up.withdrawal:
                withdrawn.append({**origin, "reason": up.withdrawal.reason, "time": up.withdrawal.time})
            lics = self.licenses.for_asset(a.licenses)
            for src, ds in [("uses.deny", a.deny)] + [(l.source, l.deny) for l in lics]:
                deny += [{"use": d, "source": src, **origin} for d in ds]
            for src, al in [("uses.allow", a.allow)] + [(l.source, l.allow) for l in lics]:
                allow += [{"use": x, "facet": self.taxonomy.facet[x], "source": src, **origin} for x in al]
            for src, du in [("duties", a.duties)] + [(l.source, l.duties) for l in lics]:
                duties += [{"duty": x, "source": src, **origin} for x in du]
        return {"deny": deny, "allow": allow, "duties": duties, "withdrawn": withdrawn}


class _MemoLicenses(LicenseTable):
    """A view of a licence table with ``for_asset`` memoised (the table is immutable)."""

    def __init__(self, by_key):
        super().__init__(by_key=by_key)
        object.__setattr__(self, "_memo", {})

    def for_asset(self, licenses: tuple[str, ...]) -> tuple[licenses_mod.License, ...]:
        if type(licenses) is not tuple:
            return LicenseTable.for_asset(self, licenses)
        hit = self._memo.get(licenses)
        if hit is None:
            hit = LicenseTable.for_asset(self, licenses)
            if len(self._memo) < 10_000:
                self._memo[licenses] = hit
        return hit


def _memo_licenses(table: LicenseTable) -> LicenseTable:
    return _MemoLicenses(table.by_key) if type(table) is LicenseTable else table


def _with_paths(asset_id: str, members: list[Asset]) -> tuple[Upstream, ...]:
    """Breadth-first from the asked asset over propagating parents: shortest path to each member."""
    by_id = {a.id: a for a in members}
    me = by_id.get(asset_id)
    if me is None:
        return ()
    if len(by_id) == 1:  # a root: the common case needs no search
        return (Upstream(me, (asset_id,)),)
    paths = {asset_id: (asset_id,)}
    queue = deque([asset_id])
    while queue:
        cur = queue.popleft()
        for p in by_id[cur].parents:
            if p not in paths and p in by_id:
                paths[p] = paths[cur] + (p,)
                queue.append(p)
    order = sorted([(len(path), i) for i, path in paths.items()])
    return tuple([Upstream(by_id[i], paths[i]) for _, i in order])
