"""Applications: registered assets of kind ``application``, ``deployed-from`` one model, whose
allow list is their declared uses. Deciding the application for its uses therefore checks the
model's whole lineage (through the deployed-from edge) as well as the declaration itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from charter.core.assets import Asset, Edge
from charter.core.ids import make_id, parse_id
from charter.errors import InvalidInput
from charter.policy.decide import Decision
from charter.registry import Registry

SERVING = "inference"  # the activity of every request a gateway serves, implied when none is declared


@dataclass(frozen=True)
class Application:
    id: str
    model: str  # the model it is deployed from
    uses: tuple[str, ...]  # its declared uses (its allow list)

    @classmethod
    def of(cls, a: Asset) -> "Application":
        if a.kind != "application":
            raise InvalidInput(f"{a.id} is a {a.kind}, not an application", hint="`charter app add` registers an application")
        models = [e.parent for e in a.derived_from if e.relation == "deployed-from"]
        if len(models) != 1:
            raise InvalidInput(f"{a.id} is deployed from {len(models)} models; the gateway serves applications deployed from exactly one",
                               hint="register an application with one deployed-from edge (`charter app add ID --model REF`)")
        return cls(a.id, models[0], a.allow)


def app_id(ref: str) -> str:
    """``application/name@version``; ``name`` or ``application/name`` mean version 1."""
    if "/" not in ref:
        ref = "application/" + ref
    if "@" not in ref:
        ref += "@1"
    kind, name, version = parse_id(ref, field="ID")
    if kind != "application":
        raise InvalidInput(f"{ref} is not an application id", hint="write application/name@version (or just a name)", field="ID")
    return make_id(kind, name, version)


def add_application(reg: Registry, ref: str, model: str, uses: Sequence[str], licenses: Sequence[str] = ("proprietary",),
                    description: str = "", attest: Sequence[str] = ()) -> tuple[Asset, bool, Decision]:
    """Register an application deployed from ``model`` for ``uses`` (``inference`` is implied when no
    activity is declared), attesting ``attest`` (licence condition ids, recorded in its charter).
    Returns (asset, whether it was new, the decision for its uses now)."""
    aid = app_id(ref)
    model_id = reg.resolve(model)
    m = reg.get(model_id)
    if m.kind != "model":
        raise InvalidInput(f"{model_id} is a {m.kind}; applications are deployed from models", hint="pass --model model/name@version", field="--model")
    declared = list(reg.check_uses(uses))
    tax = reg.taxonomy
    if not any(tax.facet[u] == tax.facet[SERVING] for u in declared):
        declared.insert(0, SERVING)
    _, name, version = parse_id(aid)
    a = Asset(id=aid, kind="application", name=name, version=version, licenses=tuple(licenses), allow=tuple(declared),
              derived_from=(Edge(aid, model_id, "deployed-from"),), attest=reg.check_attest(attest),
              description=description or f"Served by the charter gateway from {model_id}, for {', '.join(declared)}.")
    new = bool(reg.add([a]))
    return a, new, reg.check(aid, declared)
