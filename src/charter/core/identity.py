"""Who may write what: users, roles, namespaces, and the one pure function that says yes or no.

A registry without users is a personal one: every local writer may act, and each write still records its
actor. Once a user exists (the first must be an admin), writes need a user whose role allows them:

- ``admin``: every write, and users and consent tokens.
- ``publisher``: registers assets whose ids lie in its namespaces (fnmatch patterns over asset ids, e.g.
  ``model/acme-*``), and withdraws, lifts, restricts, signs, evaluates and issues keys for those.
- ``curator``: registers datasets (within its namespaces when it has any), evaluates, records data
  contributors' withdrawals and issues their consent tokens.
- ``auditor``: reads and verifies; writes nothing.
- ``none``: a user whose rights were taken away (the row stays: user changes are append-only).

Anyone who registered an asset may restrict it further (what they deploy, they may narrow). Each refusal
names its rule (``code``), and is recorded like every write.
"""

from __future__ import annotations

import fnmatch
import getpass
import os
from dataclasses import dataclass
from typing import Mapping

ROLES = ("admin", "publisher", "curator", "auditor", "none")
ACTOR_ENV = "CHARTER_ACTOR"

# the writes a role may make on assets it owns (publisher) or on any asset (the others)
_OWNER_ACTIONS = {"add", "withdraw", "lift", "restrict", "lift-restrictions", "attach", "sign", "key", "import"}
_CURATOR_ACTIONS = {"add", "attach", "withdraw-records", "consent-token", "import"}


@dataclass(frozen=True)
class User:
    name: str
    role: str
    namespaces: tuple[str, ...] = ()

    def owns(self, asset_id: str) -> bool:
        return any(fnmatch.fnmatchcase(asset_id, p) for p in self.namespaces)

    def to_json(self) -> dict:
        return {"name": self.name, "role": self.role, "namespaces": list(self.namespaces)}


@dataclass(frozen=True)
class Permit:
    allowed: bool
    code: str  # the rule: open-registry | admin | owner | curator | own-registration | token | not-a-user | role-cannot | outside-namespace
    detail: str

    def to_json(self) -> dict:
        return {"allowed": self.allowed, "code": self.code, "detail": self.detail}


def default_actor() -> str:
    """``$CHARTER_ACTOR``, else the operating-system user."""
    name = os.environ.get(ACTOR_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd entry)
        return f"uid:{os.getuid()}"


def permit(users: Mapping[str, User], actor: str, action: str, asset: str | None = None, kind: str | None = None,
           registered_by: str | None = None) -> Permit:
    """May ``actor`` make this write? ``asset``: the asset written (None for registry-wide writes); ``kind`` its
    kind; ``registered_by``: who registered it (None when unknown)."""
    if not users:
        return Permit(True, "open-registry", "the registry has no users: every local writer may act (add an admin to restrict writes)")
    u = users.get(actor)
    if action == "restrict" and asset is not None and registered_by == actor:
        return Permit(True, "own-registration", f"{actor} registered {asset} and may narrow its uses")
    if u is None or u.role == "none":
        return Permit(False, "not-a-user", f"{actor} is not a user of this registry" + (" any more" if u else "")
                      + f": an admin adds one with `charter user add {actor} --role ROLE`")
    if u.role == "admin":
        return Permit(True, "admin", f"{actor} is an admin")
    if u.role == "auditor":
        return Permit(False, "role-cannot", f"{actor} is an auditor: auditors read and verify, they do not {action}")
    if u.role == "curator":
        if action not in _CURATOR_ACTIONS or (action == "add" and kind not in (None, "dataset")):
            what = f"register a {kind}" if action == "add" else action
            return Permit(False, "role-cannot", f"{actor} is a curator: curators register datasets, evaluate and record contributors' "
                                                f"withdrawals; they may not {what}")
        if action == "add" and u.namespaces and asset is not None and not u.owns(asset):
            return _outside(u, asset)
        return Permit(True, "curator", f"{actor} is a curator")
    # publisher
    if action not in _OWNER_ACTIONS:
        return Permit(False, "role-cannot", f"{actor} is a publisher: publishers act on their own assets; {action} needs an admin")
    if asset is None:
        return Permit(True, "owner", f"{actor} is a publisher")
    if not u.owns(asset):
        return _outside(u, asset)
    return Permit(True, "owner", f"{asset} lies in {actor}'s namespaces ({', '.join(u.namespaces)})")


def _outside(u: User, asset: str) -> Permit:
    spaces = ", ".join(u.namespaces) or "none"
    return Permit(False, "outside-namespace", f"{asset} is outside {u.name}'s namespaces ({spaces}): only its owner or an admin may act on it")
