"""Writes from the web view: withdraw, restrict and lift, off unless `charter ui --writes`.

Who writes: the registry's actor, the identity that started `charter ui` (``--as NAME``, ``$CHARTER_ACTOR`` or the OS
user; on PostgreSQL the role the server authenticated). Whether it may: ``Registry.guard``, as for the CLI (roles and
namespaces, charter.core.identity); a refusal is recorded in the action log and answered 403 with its rule.

How a browser proves it acts for that identity: a random token made at start and printed once on the console (the
address to open carries it after ``#``, which browsers never send); the page keeps it in sessionStorage and sends
it as ``Authorization: Bearer``. No cookie: another site's page cannot make the browser send it (a cross-origin
request with that header needs a CORS preflight, which this app does not grant), so no request forgery. A write
without the right token is answered 401 and recorded as refused (rule ``bad-token``); on a read-only view, 403
(rule ``read-only``).

Each write carries ``affected``: how many assets downstream the confirmation showed; when the lineage below has
changed since, the write is refused (409) and the page shows the impact again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from charter.core import identity
from charter.errors import CharterError, NotPermitted
from charter.registry import Registry
from charter.store.base import now

ACTIONS = ("withdraw", "restrict", "lift", "lift-restrictions")


class ImpactChanged(CharterError):
    code = "impact-changed"


@dataclass(frozen=True)
class WriteAccess:
    """The view's write token; None: read-only."""

    token: str | None = None

    @classmethod
    def new(cls) -> "WriteAccess":
        return cls(secrets.token_urlsafe(32))

    def holds(self, authorization: str | None) -> bool:
        scheme, _, given = (authorization or "").partition(" ")
        return self.token is not None and scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), self.token.encode())


def session(reg: Registry, access: WriteAccess, authorization: str | None) -> dict:
    """What the page may offer: whether writes are on, whether this request holds the token, for whom it acts."""
    return {"writes": access.token is not None, "authenticated": access.holds(authorization), "actor": reg.actor,
            "users": bool(reg.store.users())}


def permits(reg: Registry, ref: str) -> dict:
    """``identity.permit`` for each write on REF by the registry's actor (what Registry.guard will decide)."""
    asset = reg.get(ref)
    users = reg.store.users()
    by = reg.store.registered_by(asset.id) if users else None
    return {"asset": asset.id, "actor": reg.actor,
            "permits": {a: identity.permit(users, reg.actor, a, asset.id, asset.kind, by).to_json() for a in ACTIONS}}


def write(reg: Registry, access: WriteAccess, authorization: str | None, action: str, ref: str, reason: str,
          deny: list[str], affected: int) -> dict:
    """Make one write as the registry's actor, once the token and the impact shown are checked: the object
    `charter withdraw|restrict [--lift] --json` prints."""
    asset = reg.resolve(ref)
    if not access.holds(authorization):
        rule, why, hint = (("read-only", "this view is read-only", "start it with `charter ui --writes`") if access.token is None
                           else ("bad-token", "the request does not carry this view's write token",
                                 "open the address `charter ui --writes` printed (it carries the token)"))
        _refused(reg, action, asset, rule, why, {"reason": reason, "deny": deny})
        raise NotPermitted(f"{action} {asset} refused: {why}", rule=rule, actor="web", action=action, asset=asset, hint=hint)
    down = reg.trace(asset, down=True)
    if len(down) != affected:
        raise ImpactChanged(f"{asset} now reaches {len(down)} assets downstream, not the {affected} the confirmation showed",
                            field="affected", hint="look at the impact again and confirm")
    hops = [{"id": h.asset, "depth": h.depth} for h in down]
    if action == "withdraw":
        w, _ = reg.withdraw(asset, reason)
        return {"asset": w.asset, "reason": w.reason, "time": w.time, "affected": hops}
    if action == "restrict":
        r, _ = reg.restrict(asset, deny, reason)
        return {"asset": r.asset, "deny": list(r.deny), "reason": r.reason, "time": r.time, "affected": hops}
    if action == "lift":
        w = reg.lift(asset, reason)
        return {"asset": w.asset, "lifted": True, "reason": w.reason, "time": w.time}
    lift = reg.lift_restrictions(asset, reason)
    return {"asset": lift.asset, "lifted": True, "deny": list(lift.deny), "reason": lift.reason, "time": lift.time}


def _refused(reg: Registry, action: str, asset: str, rule: str, why: str, detail: dict) -> None:
    """The action log's record of a write refused before any identity was checked (the shape Registry.guard writes)."""
    reg.store.append_action({"time": now(), "actor": f"web (for {reg.actor})", "action": action, "asset": asset, "allowed": False,
                             "rule": rule, "detail": {**detail, "why": why}})
