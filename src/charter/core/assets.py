"""Assets, their charters and lineage edges: the values that flow through Charter."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

PROPAGATING = (
    "curated-from",
    "trained-on",
    "fine-tuned-from",
    "adapter-of",
    "distilled-from",
    "trained-on-outputs-of",
    "quantized-from",
    "merged-from",
    "deployed-from",
    "trained-with",
)
"""``trained-with``: a model trained on a volunteer's compute (a ``compute`` asset) inherits its owner's terms."""
RELATIONS = PROPAGATING + ("evaluated-on",)
UNLICENSED_KINDS = ("compute",)
"""Kinds that carry no licence: an empty licence list is no licence terms, not the 'unspecified' licence."""
_UNLICENSED_PREFIXES = tuple(k + "/" for k in UNLICENSED_KINDS)


def licence_free(asset_id: str, licenses: tuple[str, ...] = ()) -> bool:
    """True when an asset's licences impose nothing: no licence named and its kind carries none."""
    return not licenses and asset_id.startswith(_UNLICENSED_PREFIXES)
DUTIES = ("attribution", "share-alike", "pass-on-restrictions", "naming", "notice")  # naming: a derivative's name rule (Llama)


@dataclass(frozen=True)
class Edge:
    """``child`` was derived from ``parent`` by ``relation``."""

    child: str
    parent: str
    relation: str

    @property
    def propagates(self) -> bool:
        return self.relation in PROPAGATING


@dataclass(frozen=True)
class Requirement:
    """A property the asset's lineage demands before ``use`` (or any overlapping use) is permitted:
    the latest evaluation of ``benchmark``/``metric`` on the asked asset must lie within [min, max]."""

    use: str
    benchmark: str
    metric: str
    min: float | None = None
    max: float | None = None

    def to_json(self) -> dict:
        d = {"use": self.use, "benchmark": self.benchmark, "metric": self.metric}
        return d | ({"min": self.min} if self.min is not None else {}) | ({"max": self.max} if self.max is not None else {})

    @classmethod
    def from_json(cls, d: Mapping) -> "Requirement":
        return cls(d["use"], d["benchmark"], d["metric"], d.get("min"), d.get("max"))

    def met_by(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def text(self) -> str:
        bounds = " and ".join(x for x in (f">= {self.min:g}" if self.min is not None else "", f"<= {self.max:g}" if self.max is not None else "") if x)
        return f"{self.benchmark}.{self.metric} {bounds} for {self.use}"


@dataclass(frozen=True)
class Property:
    """One evaluated property of an asset (a metric of a benchmark run), attached after registration."""

    asset: str
    benchmark: str
    version: str  # the benchmark's data+scorer version, e.g. "bbq/1.0"
    metric: str
    value: float
    ci: tuple[float, float] | None = None  # bootstrap 95% interval
    n: int = 0  # items scored
    time: str = ""
    run: str = ""  # the run folder
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False)  # per-group breakdown, config hash, ...

    def to_json(self) -> dict:
        return {"asset": self.asset, "benchmark": self.benchmark, "version": self.version, "metric": self.metric,
                "value": self.value, "ci": list(self.ci) if self.ci else None, "n": self.n, "time": self.time,
                "run": self.run, "detail": dict(self.detail)}

    @classmethod
    def from_json(cls, d: Mapping) -> "Property":
        ci = d.get("ci")
        return cls(d["asset"], d["benchmark"], d["version"], d["metric"], float(d["value"]), tuple(ci) if ci else None,
                   int(d.get("n") or 0), d.get("time") or "", d.get("run") or "", dict(d.get("detail") or {}))


@dataclass(frozen=True)
class Asset:
    """One registered asset version and its charter. Immutable: a change is a new version."""

    id: str
    kind: str
    name: str
    version: str
    description: str = ""
    licenses: tuple[str, ...] = ()
    """Every licence that applies; each one counts (the most restrictive wins). Empty = unspecified."""
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    duties: tuple[str, ...] = ()
    derived_from: tuple[Edge, ...] = ()
    requires: tuple[Requirement, ...] = ()
    """Properties demanded before some uses are permitted; they propagate downstream like restrictions."""
    notes: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """Free-form provenance kept from importers (source URLs, original free text)."""
    data: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """For datasets with files: {"files": [absolute paths or globs], "fields": {role: column}} (data/source.py)."""
    public_key: str = ""
    """For compute: the volunteer's Ed25519 public key, ``ed25519:<base64 of the 32 raw bytes>`` (validated at parse)."""
    attest: tuple[str, ...] = ()
    """Licence conditions the asset's owner attests (``llama-700m-mau``): decisions about this asset rest on them."""

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(e.parent for e in self.derived_from if e.propagates)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "licenses": list(self.licenses),
            "uses": {"allow": list(self.allow), "deny": list(self.deny)},
            "duties": list(self.duties),
            "derived_from": [{"asset": e.parent, "relation": e.relation} for e in self.derived_from],
            "notes": dict(self.notes),
            "data": dict(self.data),
        } | ({"requires": [r.to_json() for r in self.requires]} if self.requires else {}) \
          | ({"public_key": self.public_key} if self.public_key else {}) \
          | ({"attest": list(self.attest)} if self.attest else {})  # absent when empty: older hashes hold

    @classmethod
    def from_json(cls, d: Mapping) -> "Asset":
        uses = d.get("uses") or {}
        return cls(
            id=d["id"],
            kind=d["kind"],
            name=d["name"],
            version=d["version"],
            description=d.get("description") or "",
            licenses=tuple(d.get("licenses") or ()),
            allow=tuple(uses.get("allow") or ()),
            deny=tuple(uses.get("deny") or ()),
            duties=tuple(d.get("duties") or ()),
            derived_from=tuple(Edge(d["id"], e["asset"], e["relation"]) for e in d.get("derived_from") or ()),
            requires=tuple(Requirement.from_json(r) for r in d.get("requires") or ()),
            notes=dict(d.get("notes") or {}),
            data=dict(d.get("data") or {}),
            public_key=d.get("public_key") or "",
            attest=tuple(d.get("attest") or ()),
        )

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def content_hash(self) -> str:
        return self.hash_of(self.canonical())

    @staticmethod
    def hash_of(canonical: str) -> str:
        """The content hash of a canonical text (for stores that already serialised it)."""
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Event:
    """One entry of the append-only log: a registration, a decision or a withdrawal."""

    seq: int
    time: str
    type: str  # register | decision | withdraw
    asset: str
    data: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return {"seq": self.seq, "time": self.time, "type": self.type, "asset": self.asset, "data": dict(self.data)}


@dataclass(frozen=True)
class Withdrawal:
    asset: str
    reason: str
    time: str


@dataclass(frozen=True)
class Restriction:
    """Uses denied to an asset after its registration (its version stays immutable); applied at
    decision time to it and everything downstream, like a withdrawal."""

    asset: str
    deny: tuple[str, ...]
    reason: str
    time: str
