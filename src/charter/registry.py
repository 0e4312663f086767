"""The registry: storage + taxonomy + licence table, and the operations the CLI exposes."""

from __future__ import annotations

import difflib
from collections import OrderedDict
from contextlib import contextmanager
from functools import partial
import time
from pathlib import Path
from typing import Iterable, Sequence

from charter.core import charterfile, identity, uses as uses_mod
from charter.core.assets import Asset, Property, Restriction, Withdrawal, licence_free
from charter.core.ids import KINDS
from charter.core.uses import Taxonomy
from charter.errors import InvalidInput, NotFound, NotPermitted
from charter.policy import licenses as licenses_mod
from charter.policy import effective as eff_mod
from charter.policy.decide import Decision, Request, Upstream, decide
from charter.policy.effective import ALLOW, DENY, Bits, LazyDecision, allowed_decision, verdict
from charter.policy.licenses import Duty, LicenseTable
from charter.store import Store, open_store
from charter.store.base import WRITES
from charter.store.base import Hop
from charter.store.bulk import no_gc  # batch work allocates ~100,000 acyclic objects: a third to a half of can_many at 1M assets was the cycle collector

_hop = partial(tuple.__new__, Hop)  # _hop((asset, depth)) -> Hop(asset, depth), no Python-level call
_clock = time.monotonic
_now = time.time
_new = object.__new__
_set = object.__setattr__
_ALL = -1  # every bit


def _hot_entry(e: eff_mod.Effective, lineage, attest: tuple[str, ...] = ()) -> tuple:
    """check's inline entry for effective terms: (denied mask, mask of uses needing the full verdict, allow
    constraints, lineage or None). Withdrawn: every use denied; terms the fold does not model: every use to decide().
    A licence condition on an asked use denies it unless attested (effective.verdict): where the asset attests
    nothing, its conditions' uses are simply denied here (the inline path serves only callers that attest nothing);
    where it attests some, they go to the full verdict, which lists the conditions a permission rests on."""
    if e.slow:
        return (_ALL if e.withdrawn else e.deny, _ALL, e.allow, lineage)
    if attest:
        return (_ALL if e.withdrawn else e.deny, e.cond_any, e.allow, lineage)
    return (_ALL if e.withdrawn else e.deny | e.cond_any, 0, e.allow, lineage)


class Registry:
    """Library entry point. ``Registry.open()`` uses $CHARTER_REGISTRY or ./.charter/registry.db."""

    POLL_S = 0.002
    """How long a decision may rely on the last poll of the store's change counter: a withdrawal,
    restriction or evaluation committed by another process is seen within this (one made through
    this process's stores at once). Polling on every decision would cost more than the decision."""

    def __init__(self, store: Store, taxonomy: Taxonomy | None = None, licenses: LicenseTable | None = None, cache_size: int = 100_000):
        self.store = store
        self.taxonomy = taxonomy or uses_mod.load()
        self.licenses = licenses or licenses_mod.load(self.taxonomy)
        self._lineage: OrderedDict[str, tuple[Upstream, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._wd_version: object = None
        self._bits = Bits(self.taxonomy)
        self._reqs: dict[tuple, tuple[tuple[str, ...], int]] = {}  # uses as asked -> (validated uses, bitmask)
        # asset id -> (effective terms, asked asset's attestations, its lineage or None when folded from the
        # stored terms key): valid while the change counter stands still
        self._eff: dict[str, tuple[eff_mod.Effective, tuple[str, ...], tuple[Upstream, ...] | None]] = {}
        self._by_tid: dict[int, tuple[eff_mod.Effective, tuple[str, ...]]] = {}  # stored terms key -> fold (never changes)
        self._ids: dict[str, int] | None = None  # asset id -> stored terms id, when index_ids() was called
        self._defer = store.log_deferred
        self._pending = store.pending
        self._defer_max = getattr(store, "DEFER_MAX", 1)
        self._touched: set[str] = set()  # assets with a withdrawn or restricted member in E (folded from their lineage)
        self._preloaded = False
        self._mark = 0  # the store's assets_version when _touched was computed: later assets fold their lineage
        self._polled = self._deadline = -1.0
        # asset id -> (denied mask, mask of uses needing the full verdict, allow constraints, lineage or None): check's inline path
        self._hot: dict[str, tuple[int, int, tuple, tuple | None]] = {}
        self._local = -1
        self._wd: dict[str, Withdrawal] = {}
        self._rs: dict[str, tuple[Restriction, ...]] = {}
        self._props: dict[str, dict[tuple[str, str], Property]] = {}
        self.actor = getattr(store, "authenticated_actor", None) or identity.default_actor()

    @property
    def actor(self) -> str:
        """Who this registry's writes are recorded for: on a server that authenticates (PostgreSQL) the role it
        connected as; locally ``charter --as NAME``, ``$CHARTER_ACTOR``, else the OS user."""
        return self.store.actor

    @actor.setter
    def actor(self, name: str) -> None:
        if not name or not name.strip() or any(c in name for c in "\n\r\t"):
            raise InvalidInput(f"actor name {name!r} is empty or has control characters", hint="pass --as NAME")
        fixed = getattr(self.store, "authenticated_actor", None)
        if fixed and name.strip() != fixed:
            raise InvalidInput(f"this registry's server authenticated you as {fixed}; you cannot act as {name.strip()}",
                               hint="connect as that role (the user in the registry URL) instead of passing --as", field="--as")
        self.store.actor = name.strip()

    # --- who may write what (charter.core.identity) ----------------------------------------------
    def guard(self, action: str, assets: Sequence[tuple[str, str | None]] = (), detail: dict | None = None) -> None:
        """Check the actor may make ``action`` on each (asset id, kind), then stage its record so that the
        write that follows commits it with itself; a refusal is recorded at once and raised (exit 3)."""
        targets = list(assets) or [(None, None)]
        users = self.store.users()  # once per write, however many assets it registers
        for asset, kind in targets if users else targets[:1]:  # without users every write is allowed alike
            registered = self.store.registered_by(asset) if asset is not None and action == "restrict" and users else None
            p = identity.permit(users, self.actor, action, asset, kind, registered)
            if not p.allowed:
                self.store.append_action(self._action(action, asset, p, detail, len(targets)))
                raise NotPermitted(f"{self.actor} may not {action}{f' {asset}' if asset else ''}: {p.detail}", rule=p.code,
                                   actor=self.actor, action=action, asset=asset, hint="ask the asset's owner or an admin (`charter user ls`)")
        ids = [a for a, _ in targets if a is not None]
        first = targets[0][0]
        self.store.stage_action(self._action(action, first if len(ids) <= 1 else None, p, detail, len(targets), ids if len(ids) > 1 else None))

    def _action(self, action: str, asset, p: identity.Permit, detail, n: int, ids=None) -> dict:
        from charter.store.base import now

        rec = {"time": now(), "actor": self.actor, "action": action, "asset": asset, "allowed": p.allowed, "rule": p.code, "detail": detail or {}}
        if ids is not None:  # a batch: its size, its first ids, and a digest of them all
            import hashlib

            rec["assets"] = {"n": n, "first": ids[:20], "sha256": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()}
        return rec

    @contextmanager
    def guarded(self, action: str, assets: Sequence[tuple[str, str | None]] = (), detail: dict | None = None):
        self.guard(action, assets, detail)
        try:
            yield
        finally:
            self.store.unstage_action()  # written with the write; dropped when the write failed before writing

    @contextmanager
    def consent_guarded(self, owners: Sequence[str], token: str, detail: dict | None = None):
        """Like ``guarded``, for a data contributor acting with a consent token (``charter consent-token``):
        allowed for the token's own owner only, whoever the actor is."""
        import hashlib

        got = self.store.consent_token(hashlib.sha256(token.encode()).hexdigest())
        owners = list(owners)
        if got is None or got[1] is not None or owners != [got[0]]:
            why = ("no such consent token" if got is None else f"the token was revoked at {got[1]}" if got[1] is not None
                   else f"the token acts for {got[0]} only, not for {', '.join(owners)}")
            p = identity.Permit(False, "bad-token", why)
            self.store.append_action(self._action("withdraw-records", None, p, {**(detail or {}), "owners": owners}, 1))
            raise NotPermitted(f"consent token refused: {why}", rule="bad-token", actor=self.actor, action="withdraw-records",
                               hint="ask the registry's curator for a token of your own (`charter consent-token OWNER`)")
        p = identity.Permit(True, "token", f"a consent token of {got[0]}")
        self.store.stage_action(self._action("withdraw-records", None, p, {**(detail or {}), "owners": owners}, 1))
        try:
            yield
        finally:
            self.store.unstage_action()

    def consent_token(self, owner: str) -> str:
        """Issue a token that lets ``owner`` (a data contributor) withdraw their own records, and nothing
        else, without registry access. Shown once; stored as its sha256."""
        import hashlib
        import secrets

        from charter.store.base import now

        owner = owner.strip()
        if not owner:
            raise InvalidInput("a consent token needs an owner id", field="OWNER", hint="charter consent-token OWNER")
        token = "ct-" + secrets.token_urlsafe(32)
        with self.guarded("consent-token", [], {"owner": owner}):
            self.store._write_consent_token(hashlib.sha256(token.encode()).hexdigest(), owner, now())
        return token

    def actions(self, ref: str | None = None, actor: str | None = None) -> list[dict]:
        """The action log (who did what to what, when; refusals too), oldest first, optionally one asset's
        or one actor's: each entry's record with its ``seq``."""
        asset = self.resolve(ref) if ref else None
        out, after = [], 0
        while batch := self.store.action_entries(after=after, limit=10_000, actor=actor, asset=asset):
            out += [{"seq": e.seq, **e.data} for e in batch]
            after = batch[-1].seq
        return out

    def verify_actions(self) -> tuple[bool, int, str]:
        """Walk the whole action log's hash chain: (intact, entries, the first problem or "")."""
        from charter.store.chain import paged, walk_chain

        w = walk_chain(paged(self.store.action_entries))
        return w.ok, w.entries, w.problem

    def add_user(self, name: str, role: str, namespaces: Sequence[str] = ()) -> identity.User:
        """Add a user or change one (append-only). The first user of a registry must be an admin; after
        that only admins may."""
        if role not in identity.ROLES:
            raise InvalidInput(f"unknown role {role!r}", hint=f"one of {', '.join(identity.ROLES)}", field="--role")
        name = name.strip()
        if not name or any(c in name for c in "\n\r\t"):
            raise InvalidInput(f"user name {name!r} is empty or has control characters", hint="pass a plain name", field="NAME")
        from charter.store.base import now

        users = self.store.users()
        if not users and role != "admin":
            raise InvalidInput(f"the registry's first user must be an admin, not a {role}", hint="charter user add NAME --role admin",
                               field="--role")
        user = identity.User(name, role, tuple(dict.fromkeys(n.strip() for n in namespaces if n.strip())))
        if users:
            p = identity.permit(users, self.actor, "user")
            if not p.allowed or users.get(self.actor, identity.User("", "none")).role != "admin":
                p = p if not p.allowed else identity.Permit(False, "role-cannot", f"{self.actor} is not an admin: only admins add or change users")
                self.store.append_action(self._action("user", None, p, {"user": user.to_json()}, 1))
                raise NotPermitted(f"{self.actor} may not add or change users: {p.detail}", rule=p.code, actor=self.actor, action="user",
                                   hint="ask an admin")
            p = identity.Permit(True, "admin", f"{self.actor} is an admin")
        else:
            p = identity.Permit(True, "open-registry", "the registry's first user")
        self.store.stage_action(self._action("user", None, p, {"user": user.to_json()}, 1))
        try:
            self.store._write_user(user, now())
        finally:
            self.store.unstage_action()
        return user

    @classmethod
    def open(cls, url: str | None = None, taxonomy_files: Sequence[Path] = (), create: bool = True,
             license_files: Sequence[Path] = ()) -> "Registry":
        tax = uses_mod.load(*taxonomy_files)
        return cls(open_store(url, create=create), tax, licenses_mod.load(tax, extra=tuple(license_files)))

    def close(self) -> None:
        self.store.close()

    # --- registration --------------------------------------------------------------
    def load_files(self, paths: Iterable[Path], data_root: Path | None = None) -> tuple[list[Asset], dict[str, str]]:
        """Parse and validate charter files (data files found, checked to lie under the data root, and
        hashed); returns the assets and where each was defined."""
        assets: list[Asset] = []
        sources: dict[str, str] = {}
        for p in paths:
            for a in charterfile.load_file(Path(p), self.taxonomy, data_root):
                if a.id in sources:
                    raise InvalidInput(f"{a.id} is defined in {sources[a.id]} and {p}", hint="keep one definition", where=str(p), field="id")
                sources[a.id] = str(p)
                assets.append(a)
        return assets, sources

    def add_files(self, paths: Iterable[Path], data_root: Path | None = None) -> list[Asset]:
        """Parse every file first, then register all assets in one atomic write. Returns the new ones."""
        assets, sources = self.load_files(paths, data_root)
        return self.add(assets, sources)

    BULK_MIN = 2_000
    """From this many assets, ``add`` (and so ``charter add``) registers through the bulk path (``add_many``)."""

    def add(self, assets: Sequence[Asset], sources: dict[str, str] | None = None) -> list[Asset]:
        return self._add(assets, sources, len(assets) >= self.BULK_MIN)

    def add_many(self, assets: Sequence[Asset], sources: dict[str, str] | None = None) -> list[Asset]:
        """Register a large batch in one atomic write through the bulk path (store/bulk.py): what ``add`` does,
        with the batch's rows computed in one pass and written sorted (PostgreSQL: COPY)."""
        return self._add(assets, sources, True)

    def _add(self, assets: Sequence[Asset], sources: dict[str, str] | None, many: bool) -> list[Asset]:
        for a in assets:
            if a.attest:
                self.check_attest(a.attest, where=(sources or {}).get(a.id, a.id), field=f"{a.id}.attest")
        with self.guarded("add", [(a.id, a.kind) for a in assets]):
            return (self.store.add_many if many else self.store.add)(assets, sources)

    def check_attest(self, attest: Iterable[str], where: str = "", field: str = "--attest") -> tuple[str, ...]:
        """Attested condition ids must name a condition in the licence table: a typo would attest nothing."""
        known = self.licenses.conditions
        out = tuple(dict.fromkeys(attest))
        for c in out:
            if c not in known:
                near = difflib.get_close_matches(c, list(known), n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"the licence conditions are {', '.join(sorted(known)) or 'none'}"
                raise InvalidInput(f"{c!r} is not a licence condition", hint=hint, where=where, field=field)
        return out

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
        """Validate requested uses (commas also separate); raises UnknownUse or UsageError."""
        return self.taxonomy.parse_uses(tuple(map(str, uses)))

    # --- decisions ---------------------------------------------------------------------
    def withdrawals(self) -> dict[str, Withdrawal]:
        self._refresh()
        return self._wd

    def restrictions(self) -> dict[str, tuple[Restriction, ...]]:
        """Uses denied to assets after registration and not lifted: asset id -> its restrictions."""
        self._refresh()
        return self._rs

    def _refresh(self) -> None:
        """Re-read what may change after registration (withdrawals, restrictions, properties) when
        the store says anything changed, in this process or another: live policy, no restart."""
        v = self.store.withdrawals_version()
        self._polled = _clock()
        self._deadline = self._polled + self.POLL_S
        self._local = WRITES[0]
        if v != self._wd_version:
            self._wd = self.store.withdrawals()
            self._rs = self.store.restrictions()
            self._props = {}
            self._eff = {}
            self._hot = {}
            self._mark = self.store.assets_version()  # read first: an asset registered meanwhile counts as later
            touched: set[str] = set()
            for x in (*self._wd, *self._rs):
                if x not in touched:
                    touched.add(x)
                    touched.update(h[0] for h in self.store.downstream(x))
            self._touched = touched
            self._wd_version = v

    def _fresh(self) -> None:
        """``_refresh`` unless this process wrote nothing and the last poll is under POLL_S old."""
        if self._local != WRITES[0] or _clock() - self._polled > self.POLL_S:
            self._refresh()

    def properties(self, asset_id: str) -> dict[tuple[str, str], Property]:
        """The latest evaluation of each (benchmark, metric) of an asset. An application is what its
        model is: without its own evaluations, those of the model it is deployed from count."""
        self._refresh()
        got = self._props.get(asset_id)
        if got is None:
            got = {(p.benchmark, p.metric): p for p in self.store.properties(asset_id)}
            if not got:
                a = self.store.require(asset_id)
                model = next((e.parent for e in a.derived_from if e.relation == "deployed-from"), None) if a.kind == "application" else None
                if model is not None:
                    got = self.properties(model)
            self._props[asset_id] = got
        return got

    def lineage(self, asset_id: str) -> tuple[Upstream, ...]:
        """E for an asset, with the shortest path to each member and current withdrawals."""
        base = self._lineage.get(asset_id)
        if base is None:
            base = self.store.compiled(asset_id)
            if base is None:
                self.store.require(asset_id)
            self._lineage[asset_id] = base
            if len(self._lineage) > self._cache_size:
                self._lineage.popitem(last=False)
        wd = self.withdrawals()
        rs = self._rs
        if (not wd or not any(u.asset.id in wd for u in base)) and (not rs or not any(u.asset.id in rs for u in base)):
            return base
        return tuple(u._replace(withdrawal=wd.get(u.asset.id), restrictions=rs.get(u.asset.id, ()))
                     if u.asset.id in wd or u.asset.id in rs else u for u in base)

    def check(self, ref: str, uses: Iterable[str], attest: Iterable[str] = ()) -> Decision:
        """Decide without recording (for listings and previews). ``attest``: licence condition ids the
        requester attests (on top of those the asked asset's charter attests).

        The asset's effective terms (policy/effective.py) decide; a denial's reasons are built by the
        reference ``decide()`` when first read, and lineages the fold does not model exactly (OR
        licences, requirements, attested conditions) are decided by ``decide()`` at once."""
        # A full id needs no separate lookup: lineage() raises the same NotFound as resolve().
        asset_id = ref if "@" in ref else self.resolve(ref)
        req = self._reqs.get(uses) if type(uses) is tuple else None
        if req is None:
            req = self._request(uses)
        uses_t, mask = req
        if attest:
            return self._decide(asset_id, uses_t, self.check_attest(attest))
        # the common case inline (no attestation, terms cached, no change to poll for): a dict lookup and a
        # few integer operations (effective.verdict, unrolled)
        hot = self._hot.get(asset_id)
        if hot is None or WRITES[0] != self._local or _clock() > self._deadline:
            return self._decide(asset_id, uses_t)
        deny, stop, allow, lineage = hot
        if stop & mask:  # OR alternatives, requirements, a condition on an asked use: the full verdict
            return self._decide(asset_id, uses_t)
        if not deny & mask:
            for fm, ok in allow:
                m = mask & fm
                if not m or m & ~ok:
                    break
            else:
                d = _new(Decision)
                _set(d, "__dict__", {"asset": asset_id, "uses": uses_t, "allowed": True, "reasons": (), "conditions": ()})
                return d
        d = _new(LazyDecision)
        _set(d, "__dict__", {"asset": asset_id, "uses": uses_t, "allowed": False,
                             "_args": ((), lineage or partial(self._compiled, asset_id), self.taxonomy, self.licenses, None)})
        return d

    def _request(self, uses: Iterable[str]) -> tuple[tuple[str, ...], int]:
        """(validated uses, their bitmask), memoised by the uses as asked."""
        key = uses if type(uses) is tuple else tuple(map(str, uses))
        got = self._reqs.get(key)
        if got is None:
            u = self.taxonomy.parse_uses(key)
            got = (u, self._bits.mask(u))
            if len(self._reqs) >= 65536:
                self._reqs.clear()
            self._reqs[key] = got
        return got

    PRELOAD_TERMS = 200_000
    """A registry with at most this many distinct terms keys folds them all the first time one is needed
    (about 20,000 for 1,000,000 assets: a few tenths of a second, once per process), so that a first
    request for any asset costs one lookup; above it, keys are folded one by one as they are met."""

    def _static(self, tid: int, key: str | None = None) -> tuple[eff_mod.Effective, tuple[str, ...]]:
        got = self._by_tid.get(tid)
        if got is None:
            if key is None:
                if not self._preloaded:
                    self._preload()
                    got = self._by_tid.get(tid)
                    if got is not None:
                        return got
                key = self.store.terms_docs([tid])[tid]
            got = self._by_tid[tid] = eff_mod.from_key(key, self._bits, self.licenses)
        return got

    def _preload(self) -> None:
        with no_gc():
            self._preload_terms()

    def _preload_terms(self) -> None:
        self._preloaded = True
        tids = self.store.terms_all()
        if len(tids) <= self.PRELOAD_TERMS:
            need = [t for t in tids if t not in self._by_tid]
            fold, bits, lic = eff_mod.from_key, self._bits, self.licenses
            for i in range(0, len(need), 5000):
                for t, key in self.store.terms_docs(need[i:i + 5000]).items():
                    self._by_tid[t] = fold(key, bits, lic)

    def index_ids(self) -> int:
        """Hold every registered asset's stored terms id in memory, so that the first decision about any
        asset needs no store lookup (one SQLite read per cold decision costs 8-13 µs, most of a cold
        decision). One read of the registry: about 1.5 s and 130 MB per million assets. For long-lived
        processes that decide about many different assets; returns how many assets it indexed. Assets
        registered later are looked up in the store as before (registrations never change)."""
        self._refresh()
        self._ids = self.store.terms_index(self._mark)
        if not self._preloaded:
            self._preload()
        return len(self._ids)

    def _terms(self, asset_id: str, hit: tuple[int | None, int] | None = None):
        """(effective terms, the asked asset's attestations, its lineage or None): from the stored terms
        key (one lookup; ``hit``: its (terms id, registration number) when already read) unless a member
        of E is withdrawn or restricted, or the asset is newer than that knowledge: then from the lineage."""
        self._fresh()
        got = self._eff.get(asset_id)
        if got is None:
            if hit is None and asset_id not in self._touched:
                tid = self._ids.get(asset_id) if self._ids else None
                hit = (tid, 0) if tid is not None else self.store.terms_id(asset_id)
            if hit is None or hit[0] is None or hit[1] > self._mark or asset_id in self._touched:
                lineage = self.lineage(asset_id)
                got = (eff_mod.terms(lineage, self._bits, self.licenses), lineage[0].asset.attest, lineage)
            else:
                got = (*self._static(hit[0]), None)
            if len(self._eff) >= self._cache_size:
                self._eff.clear()  # (dropping the oldest one by one would cost a scan of the dict each time)
                self._hot.clear()
            self._eff[asset_id] = got
            self._hot[asset_id] = _hot_entry(got[0], got[2], got[1])
        return got

    def _compiled(self, asset_id: str) -> tuple[Upstream, ...]:
        """The compiled lineage (no member withdrawn or restricted when the fold was read from the terms key)."""
        base = self._lineage.get(asset_id)
        return base if base is not None else self.store.compiled(asset_id)

    def _decide(self, asset_id: str, uses_t: tuple[str, ...], att: tuple[str, ...] = (), hit: tuple[int, int] | None = None) -> Decision:
        e, attest, lineage = self._terms(asset_id, hit)
        v = verdict(e, self._bits.mask(uses_t), att + attest if e.cond_any else ())
        if v == ALLOW:
            return allowed_decision(asset_id, uses_t)
        if v == DENY:
            return LazyDecision(asset_id, uses_t, att, lineage or partial(self._compiled, asset_id), self.taxonomy, self.licenses)
        lineage = lineage or self.lineage(asset_id)
        return decide(Request(asset_id, uses_t, att), lineage, self.taxonomy, self.licenses, self._properties_if_required(asset_id, lineage))

    def allowed_ids(self, uses: Iterable[str], kind: str | None = None) -> list[str]:
        """Every registered asset (of ``kind``), in registration order, whose lineage permits ``uses``:
        one verdict per distinct stored terms key, a fold of the lineage only where a member of E is
        withdrawn or restricted, ``decide()`` only where the fold cannot say."""
        with no_gc():
            return self._allowed_ids(uses, kind)

    def _allowed_ids(self, uses: Iterable[str], kind: str | None = None, licenses: bool = False) -> list:
        """allowed_ids, with the cycle collector paused by the caller; ``licenses``: (id, licences) pairs."""
        uses_t = self.check_uses(uses)
        mask = self._bits.mask(uses_t)
        self._fresh()
        touched, mark = self._touched, self._mark
        all_tids = self.store.terms_all()
        if not all_tids:  # a backend without terms keys: every asset through its lineage
            ids = [i for i, _, _ in self.store.terms_ids(kind=kind) if self._decide(i, uses_t).allowed]
            return self._with_licenses(ids) if licenses else ids
        need = [t for t in all_tids if t not in self._by_tid]
        for i in range(0, len(need), 5000):
            for t, key in self.store.terms_docs(need[i:i + 5000]).items():
                self._static(t, key)
        # one verdict per distinct terms key; the store returns only the assets whose key may allow
        verdicts: dict[int, int] = {}
        for t in all_tids:
            e, attest = self._by_tid[t]
            v = verdict(e, mask, attest if e.cond_any else ())
            if v != DENY:
                verdicts[t] = v
        rows = self.store.with_terms(verdicts, mark, kind, licenses)
        ref_memo: dict[int, bool] = {}
        out: list[tuple] = []
        for row in rows:
            rid, aid, tid = row[:3]
            if aid in touched:
                continue
            if verdicts[tid] == ALLOW:
                out.append((rid, aid, row[3] if licenses else None))
                continue
            ok = ref_memo.get(tid)  # decide(): alike for every asset with this key unless properties count
            if ok is None:
                ok = self._decide(aid, uses_t, hit=(tid, rid)).allowed
                if not self._by_tid[tid][0].req:
                    ref_memo[tid] = ok
            if ok:
                out.append((rid, aid, row[3] if licenses else None))
        # assets with a withdrawn or restricted member, and those registered since: each through its lineage
        later = self.store.terms_ids(ids=touched) + self.store.terms_ids(after=mark)
        prefix = kind + "/" if kind else ""
        extra = [(r, i) for i, t, r in later if i.startswith(prefix) and self._decide(i, uses_t).allowed]
        if extra:
            lic = dict(self._with_licenses([i for _, i in extra])) if licenses else {}
            out = sorted({(r, i): x for r, i, x in out + [(r, i, lic.get(i)) for r, i in extra]}.items())
            out = [(r, i, x) for (r, i), x in out]
        return [(i, x) for _, i, x in out] if licenses else [i for _, i, _ in out]

    def _with_licenses(self, ids: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
        return [(row[0], row[4]) for row in self.store.summaries(ids)]

    def _properties_if_required(self, asset_id: str, lineage) -> dict | None:
        return self.properties(asset_id) if any(u.asset.requires for u in lineage) else None

    attested: tuple[str, ...] = ()
    """Licence conditions the caller attests for every ``can`` it makes (the CLI's ``--attest``): a
    pipeline step (adapt, curate, train, eval) decides through ``can``, so the attestation reaches it."""

    def can(self, ref: str, uses: Iterable[str], attest: Iterable[str] = ()) -> Decision:
        """Decide and append the decision, with its reasons and the conditions it rests on, to the event log
        (in a group with the decisions around it: written within 50 ms, and before the store's next write, read
        of the events or close; see ``Store.log_deferred``). ``attest`` adds to :attr:`attested`."""
        d = self.check(ref, uses, (*attest, *self.attested) if self.attested else attest)
        p = self._pending
        if p is None:
            self._defer("decision", d.asset, d)
            return d
        # Store.log_deferred, inline: group commit; a denial's reasons are built when the group is written
        p.append((_now(), "decision", d.asset, d))
        if len(p) == 1 or len(p) >= self._defer_max:
            self.store.grouped()
        return d

    def can_many(self, pairs: Iterable[tuple[str, Iterable[str]]], log: bool = True) -> list[Decision]:
        """``can`` for many (asset ref, uses) pairs: one decision each, in order, and (``log``) every
        decision appended to the event log in one write before it returns. The stored terms of the assets not yet cached
        are read in a few batched queries; each distinct set of uses is parsed once."""
        with no_gc():
            out = self._many(pairs)
        if log:  # written before returning, in one transaction (after any decisions still grouped)
            self.store.log_many([("decision", d.asset, d.to_json()) for d in out])
        return out

    def _many(self, pairs: Iterable[tuple[str, Iterable[str]]]) -> list[Decision]:
        """The decisions of can_many (no log)."""
        pairs = [(ref if "@" in ref else self.resolve(ref), uses) for ref, uses in pairs]
        self._fresh()
        hot, touched = self._hot, self._touched
        local: dict[str, tuple] = {}  # this batch's assets read from their stored terms keys, as check's inline entries
        want = {aid for aid, _ in pairs if aid not in hot and aid not in touched}
        if want:
            rows = self.store.terms_ids(ids=sorted(want))  # in key order: the index pages are read in order
            by_tid, mark = self._by_tid, self._mark
            need = {t for _, t, _ in rows if t is not None and t not in by_tid}
            for t, key in self.store.terms_docs(need).items():
                self._static(t, key)
            of_tid: dict[int, tuple] = {}
            for aid, t, r in rows:
                if t is not None and r <= mark:
                    h = of_tid.get(t)
                    if h is None:
                        h = of_tid[t] = _hot_entry(by_tid[t][0], None, by_tid[t][1])
                    local[aid] = h
            # kept for check's inline path too when they fit (the full terms, for the rare reference verdict,
            # are read again by _terms if needed); one dictionary to look in below either way
            if len(hot) + len(local) <= self._cache_size:
                hot.update(local)
                local = hot
            else:
                local.update(hot)
        else:
            local = hot
        reqs, request = self._reqs, self._request
        tax, lic = self.taxonomy, self.licenses
        out = []
        append = out.append
        for aid, uses in pairs:  # check's inline path, unrolled (no call per pair)
            pu = reqs.get(uses) if type(uses) is tuple else None
            if pu is None:
                pu = request(uses)
            uses_t, mask = pu
            h = local.get(aid)
            if h is None:
                h = hot.get(aid)
                if h is None:
                    e, attest, lineage = self._terms(aid)
                    h = _hot_entry(e, lineage, attest)
            deny, stop, allow, lineage = h
            if stop & mask:  # OR alternatives, requirements, a condition on an asked use: the full verdict
                append(self._decide(aid, uses_t))
                continue
            if not deny & mask:
                for fm, ok in allow:
                    m = mask & fm
                    if not m or m & ~ok:
                        break
                else:
                    d = _new(Decision)
                    _set(d, "__dict__", {"asset": aid, "uses": uses_t, "allowed": True, "reasons": (), "conditions": ()})
                    append(d)
                    continue
            d = _new(LazyDecision)
            _set(d, "__dict__", {"asset": aid, "uses": uses_t, "allowed": False,
                                 "_args": ((), lineage or partial(self._compiled, aid), tax, lic, None)})
            append(d)
        return out

    def ls(self, kind: str | None = None, allowed: Sequence[str] | None = None) -> list[tuple[Asset, Decision | None]]:
        if not allowed:
            return [(a, None) for a in self.store.find(kind=kind)]
        uses_t = self.check_uses(allowed)
        ids = self.allowed_ids(uses_t, kind)
        got: dict[str, Asset] = {}
        for i in range(0, len(ids), 10_000):
            got.update(self.store.get_many(ids[i:i + 10_000]))
        return [(got[i], allowed_decision(i, uses_t)) for i in ids]

    def summaries(self, kind: str | None = None, allowed: Sequence[str] | None = None) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
        """``ls`` without decoding whole charters: (id, kind, name, version, licences) of each asset listed."""
        if not allowed:
            return [(a.id, a.kind, a.name, a.version, a.licenses) for a in self.store.find(kind=kind)]
        with no_gc():
            listed = self._allowed_ids(allowed, kind, licenses=True)
            out = []
            for i, lic in listed:
                k, rest = i.split("/", 1)
                name, version = rest.rsplit("@", 1)
                out.append((i, k, name, version, lic))
        return out

    # --- lineage ------------------------------------------------------------------------
    def trace(self, ref: str, down: bool, depth: int | None = None) -> list[Hop]:
        asset_id = self.resolve(ref)
        if down:
            rows = self.store.downstream(asset_id, depth)
        else:
            rows = [r for r in self.store.upstream(asset_id) if depth is None or r[1] <= depth]
        return [r if type(r) is Hop else _hop(r) for r in rows]

    def withdraw(self, ref: str, reason: str) -> tuple[Withdrawal, list[Hop]]:
        asset_id = self.resolve(ref)
        with self.guarded("withdraw", [(asset_id, None)], {"reason": reason}):
            w = self.store.withdraw(asset_id, reason)
        return w, self.trace(asset_id, down=True)

    def lift(self, ref: str, reason: str) -> Withdrawal:
        """Lift a withdrawal (appended; the withdrawal stays in the history). Returns the lift."""
        asset_id = self.resolve(ref)
        with self.guarded("lift", [(asset_id, None)], {"reason": reason}):
            return self.store.lift(asset_id, reason)

    def restrict(self, ref: str, deny: Iterable[str], reason: str) -> tuple[Restriction, list[Hop]]:
        """Deny uses to an already registered asset (and so to everything downstream), from now on."""
        asset_id = self.resolve(ref)
        deny = self.check_uses(deny)
        with self.guarded("restrict", [(asset_id, None)], {"deny": list(deny), "reason": reason}):
            r = self.store.restrict(asset_id, deny, reason)
        return r, self.trace(asset_id, down=True)

    def lift_restrictions(self, ref: str, reason: str) -> Restriction:
        """Lift an asset's restrictions so far (appended; they stay in the history). Returns the lift."""
        asset_id = self.resolve(ref)
        with self.guarded("lift-restrictions", [(asset_id, None)], {"reason": reason}):
            return self.store.lift_restrictions(asset_id, reason)

    def attach(self, props: Sequence[Property]) -> list[Property]:
        """Attach evaluated properties to their assets (see charter.evals)."""
        with self.guarded("attach", [(a, None) for a in dict.fromkeys(p.asset for p in props)], {"properties": len(props)}):
            return self.store.attach(props)

    def contributors(self, ref: str) -> list[dict]:
        """The compute that trained an asset or anything upstream of it: one entry per ``trained-with`` edge
        in its lineage, nearest first, ``{"compute", "model", "path", "samples", "steps", "owner"}``.
        ``samples`` and ``steps`` come from the trained model's ``notes.contributors`` (written by the
        training run; None where it records none), ``owner`` from the compute charter's ``notes.owner``."""
        asset_id = self.resolve(ref)
        paths = {u.asset.id: u.path for u in self.lineage(asset_id)}
        got = self.store.get_many(list(paths))
        out = []
        for mid in paths:
            m = got.get(mid)
            if m is None:
                continue
            counts = {c.get("compute"): c for c in m.notes.get("contributors") or () if isinstance(c, dict)}
            for e in m.derived_from:
                if e.relation != "trained-with":
                    continue
                c, comp = counts.get(e.parent, {}), got.get(e.parent)
                out.append({"compute": e.parent, "model": m.id, "path": [*paths[mid], e.parent],
                            "samples": c.get("samples"), "steps": c.get("steps"),
                            "owner": comp.notes.get("owner") if comp is not None else None})
        out.sort(key=lambda x: (len(x["path"]), x["compute"], x["model"]))
        return out

    def effective(self, ref: str) -> dict:
        """What an asset inherits: every restriction and duty in E, with where it comes from."""
        asset_id = self.resolve(ref)
        deny, allow, duties, withdrawn, requires, conditions = [], [], [], [], [], []
        props = self.properties(asset_id)
        for up in self.lineage(asset_id):
            a = up.asset
            origin = {"asset": a.id, "path": list(up.path)}
            if up.withdrawal:
                withdrawn.append({**origin, "reason": up.withdrawal.reason, "time": up.withdrawal.time})
            for r in up.restrictions:
                deny += [{"use": d, "source": "restriction", "reason": r.reason, "time": r.time, **origin} for d in r.deny]
            for r in a.requires:
                p = props.get((r.benchmark, r.metric))
                why = r.unmet(p) if p is not None else []
                status = "not evaluated" if p is None else ("unmet" if why else "met")
                requires.append({**r.to_json(), "status": status, "value": p.value if p else None, **origin}
                                | ({"ci": list(p.ci) if p.ci else None, "n": p.n} if p is not None and (r.min_n is not None or r.ci_within is not None) else {})
                                | ({"unmet": why} if why else {}))
            lics = () if licence_free(a.id, a.licenses) else self.licenses.for_asset(a.licenses)
            for src, ds, cites in [("uses.deny", a.deny, {})] + [(l.source, l.deny, l.cites) for l in lics]:
                deny += [{"use": d, "source": src, **origin} | ({"cite": cites[d]} if d in cites else {}) for d in ds]
            for src, al, cites in [("uses.allow", a.allow, {})] + [(l.source, l.allow, l.cites) for l in lics]:
                allow += [{"use": x, "facet": self.taxonomy.facet[x], "source": src, **origin} | ({"cite": cites[x]} if x in cites else {}) for x in al]
            duties += [{"duty": x, "source": "duties", **origin} for x in a.duties]
            for lic in lics:
                terms = lic.duty_terms or tuple(map(Duty, lic.duties))
                duties += [{"duty": t.id, "source": lic.source, **origin} | ({"text": t.text} if t.text else {}) | ({"cite": t.cite} if t.cite else {})
                           for t in terms]
                conditions += [{**c.to_json(), "source": lic.source, **origin} for c in lic.conditions]
        return {"deny": deny, "allow": allow, "duties": duties, "conditions": conditions, "withdrawn": withdrawn, "requires": requires}
