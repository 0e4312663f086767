"""The gateway's policy step, before any model work: who is asking (the key's application), for
which model, for which uses; and what the charter says. No I/O beyond registry reads, no torch.

Statuses: 401 no valid key; 429 rate limited; 404 model not served here; 400 a bad uses header;
403 denied (reasons with their chain); 451 withdrawn (the app, the model or anything upstream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from charter.errors import CharterError, InvalidInput
from charter.models.weights import Weights
from charter.policy.decide import Decision, Reason
from charter.policy.explain import reason_line, refusal_line
from charter.registry import Registry
from charter.serve.apps import Application
from charter.serve.keys import KeyCache
from charter.serve.limits import Limits, RateLimiter
from charter.store.base import ApiKey

USES_HEADER = "X-Charter-Uses"
KEYLESS_ADDRESSES = 10_000  # client addresses whose keyless bucket is remembered (least recently seen forgotten)
DECISIONS = 4096  # (application, uses) decisions remembered until the policy changes (then all forgotten)


@dataclass
class Verdict:
    """What the gate decided for one request; ``status`` 200 means: go ahead."""

    status: int
    outcome: str  # audit decision: allowed | denied | withdrawn | unauthorized | rate-limited | invalid | error
    code: str = ""  # OpenAI-style error code
    message: str = ""
    param: str | None = None
    key: ApiKey | None = None
    app: Application | None = None
    model: str | None = None
    uses: tuple[str, ...] = ()
    decision: Decision | None = None
    retry_after: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.status == 200


class Gate:
    def __init__(self, reg: Registry, models: Sequence[str], limits: Limits | None = None):
        self.reg = reg
        self.limits = limits or Limits()
        self.keys = KeyCache(reg.store)
        self.rate = RateLimiter(self.limits.rate, self.limits.burst)
        lim = self.limits  # requests without a valid key: per client address (bounded), and all together
        self.keyless = RateLimiter(lim.keyless_rate, lim.keyless_burst, max_keys=KEYLESS_ADDRESSES)
        self.keyless_all = RateLimiter(lim.keyless_total_rate, max(1, int(4 * lim.keyless_total_rate)))
        self.models: dict[str, object] = {}  # served model id -> Asset
        self.aliases: dict[str, str] = {}  # what a request may call it -> id
        for ref in models:
            a = reg.get(ref)
            if a.kind != "model":
                raise InvalidInput(f"{a.id} is a {a.kind}; the gateway serves models", hint="pass model ids (applications are chosen by their keys)")
            if Weights.of(a) is None:
                raise InvalidInput(f"{a.id} has no registered weights", hint="serve a model registered with `charter model add` or made by `charter adapt`")
            self.models[a.id] = a
        for mid, a in self.models.items():  # full ids win over kind/name, which win over bare names
            for alias in (a.name, f"{a.name}@{a.version}", f"{a.kind}/{a.name}", mid):
                self.aliases[alias] = mid
        self._apps: dict[str, Application] = {}
        # Decisions per (application, uses), exact until the store's policy generation moves (withdrawals,
        # restrictions, lifts, properties: in any process); lineages and charters are immutable. The
        # generation is read once per request, with the keys' (admit), and checked before every reuse.
        self._policy: object = None
        self._decisions: dict[tuple[str, tuple[str, ...]], Decision] = {}

    # --- steps -----------------------------------------------------------------------
    def authenticate(self, authorization: str | None, keys_version: object = None) -> ApiKey | None:
        if not authorization:
            return None
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        return self.keys.lookup(key.strip(), keys_version)

    def check(self, app_id: str, uses: tuple[str, ...]) -> Decision:
        """``Registry.check`` for an application, remembered until the policy generation moves."""
        got = self._decisions.get((app_id, uses))
        if got is None:
            got = self.reg.check(app_id, uses)
            if len(self._decisions) >= DECISIONS:
                self._decisions.clear()
            self._decisions[(app_id, uses)] = got
        return got

    def application(self, key: ApiKey) -> Application:
        app = self._apps.get(key.application)
        if app is None:  # registered assets are immutable: cached for good
            app = self._apps[key.application] = Application.of(self.reg.store.require(key.application))
        return app

    def model_id(self, name: str) -> str | None:
        return self.aliases.get(name)

    def admit(self, authorization: str | None, client: str | None = None) -> Verdict:
        """Authenticate and rate-limit (the first steps of every /v1 request). Without a valid key, the
        client's address has a bucket of its own (and all such requests one together): beyond it, 429
        with ``extra["keyless"]`` (aggregated in the audit log rather than one record each)."""
        policy, keys = self.reg.store.generations()  # one read per request: both caches stay exact
        if policy != self._policy:
            self._decisions.clear()
            self._policy = policy
        key = self.authenticate(authorization, keys)
        if key is None:
            wait = self.keyless.take(client or "-") or self.keyless_all.take("*")
            if wait:
                return Verdict(429, "rate-limited", "rate_limit_exceeded",
                               f"too many requests without a valid API key from {client or 'this client'}; send Authorization: Bearer <key>",
                               retry_after=wait, extra={"keyless": True})
            msg = "missing API key: send Authorization: Bearer <key>" if not authorization else "invalid or revoked API key"
            return Verdict(401, "unauthorized", "invalid_api_key", msg)
        app = self.application(key)
        wait = self.rate.take(key.key_id)
        if wait:
            return Verdict(429, "rate-limited", "rate_limit_exceeded",
                           f"rate limit of {self.limits.rate:g} requests/s (burst {self.limits.burst}) reached for key {key.key_id}",
                           key=key, app=app, retry_after=wait)
        return Verdict(200, "allowed", key=key, app=app)

    def decide(self, v: Verdict, model: str, uses_header: str | None) -> Verdict:
        """The request's model and uses, decided against the full charter: the application's declared
        uses (narrowed by the header), through its deployed-from edge, the model's whole lineage. Call it
        right after ``admit`` (which read the policy generation that the remembered decisions are valid for)."""
        app = v.app
        mid = self.aliases.get(model)
        if mid is None:
            return _with(v, 404, "error", "model_not_found", f"model {model!r} is not served here; GET /v1/models lists the served models", "model")
        v.model = mid
        declared = app.uses
        uses = declared
        if uses_header is not None and uses_header.strip():
            tax = self.reg.taxonomy
            asked = tuple(dict.fromkeys(u.strip() for u in uses_header.split(",") if u.strip()))
            unknown = [u for u in asked if u not in tax]
            if unknown:
                try:
                    tax.check(unknown[0])
                except CharterError as e:
                    return _with(v, 400, "invalid", "unknown_use", f"{USES_HEADER}: {e.oneline()}", USES_HEADER)
            outside = [u for u in asked if not any(d in tax.ancestors[u] for d in declared)]
            if outside:
                reasons = tuple(Reason(app.id, "not-declared", u, "application", (app.id,), declared,
                                       f"{app.id} did not declare {u} (declared: {', '.join(declared)})") for u in outside)
                d = Decision(app.id, asked, False, reasons)
                v.uses, v.decision = asked, d
                return _with(v, 403, "denied", "use_not_declared",
                             f"{app.id} may not use {', '.join(outside)}: its declared uses are {', '.join(declared)}", USES_HEADER)
            facets = {tax.facet[u] for u in asked}  # narrowed facets; the others keep their declared uses
            uses = asked + tuple(d for d in declared if tax.facet[d] not in facets)
        v.uses = uses
        if mid != app.model:
            reason = Reason(app.id, "not-deployed", None, "application", (app.id,), (app.model,),
                            f"{app.id} is deployed from {app.model}, not {mid}")
            v.decision = Decision(app.id, uses, False, (reason,))
            return _with(v, 403, "denied", "model_not_deployed", f"{app.id} is deployed from {app.model}, not {mid}", "model")
        d = self.check(app.id, uses)
        if d.allowed and uses != declared:
            # narrowing picks among the declared uses; it cannot revive an application whose own
            # declared uses have become denied (e.g. `commercial` restricted upstream after `app add`)
            whole = self.check(app.id, declared)
            if not whole.allowed:
                d = whole
        v.decision = d
        if d.allowed:
            return v
        withdrawn = [r for r in d.reasons if r.rule == "withdrawn"]
        if withdrawn:
            return _with(v, 451, "withdrawn", "withdrawn", f"{mid} is unavailable for {app.id}: {reason_line(withdrawn[0])}")
        return _with(v, 403, "denied", "denied_by_charter", refusal_line(d, f"{app.id} may not use {mid} for {', '.join(d.uses)}"))


def _with(v: Verdict, status: int, outcome: str, code: str, message: str, param: str | None = None) -> Verdict:
    v.status, v.outcome, v.code, v.message, v.param = status, outcome, code, message, param
    return v
