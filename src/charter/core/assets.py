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


def json_encoder(**kw):
    """``json.dumps(obj, **kw)`` without building an encoder per call: the C encoder json.dumps itself uses, made
    once (no check for circular references: what is encoded with it is a tree built from an asset)."""
    e = json.JSONEncoder(**kw)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return e.encode
    esc = json.encoder.encode_basestring_ascii if e.ensure_ascii else json.encoder.encode_basestring
    enc = make(None, e.default, esc, None, e.key_separator, e.item_separator, e.sort_keys, e.skipkeys, e.allow_nan)
    return lambda o: "".join(enc(o, 0))


_canonical = json_encoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # Asset.canonical's encoding
_LISTS: dict[tuple, str] = {}  # tuple -> its JSON list (licences, uses, duties: few distinct ones)
_ENCODE_STR = json.encoder.encode_basestring


def _json_str(v) -> str:
    """A value as ``_canonical`` writes it; a str without the encoder's set-up (the common case)."""
    return _ENCODE_STR(v) if type(v) is str else _canonical(v)


def _json_list(t: tuple) -> str:
    try:
        got = _LISTS.get(t)
    except TypeError:  # an Asset built in Python with a list (or other unhashable) where a tuple belongs
        return _canonical(list(t))
    if got is None:
        got = _canonical(list(t))
        if len(_LISTS) < 65_536:  # (bounded: a long-lived process meets many assets)
            _LISTS[t] = got
    return got


def licence_free(asset_id: str, licenses: tuple[str, ...] = ()) -> bool:
    """True when an asset's licences impose nothing: no licence named and its kind carries none."""
    return not licenses and asset_id.startswith(_UNLICENSED_PREFIXES)
DUTIES = ("attribution", "share-alike", "pass-on-restrictions", "naming", "notice")  # naming: a derivative's name rule (Llama)


@dataclass(frozen=True, slots=True)  # (slots: a registry holds a million of them; no per-object dict)
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
    the latest evaluation of ``benchmark``/``metric`` on the asked asset must lie within [min, max]
    and, when set, have ``|value| <= abs_max`` (a signed metric bounded both ways), at least ``min_n``
    items, and a 95% CI inside ``ci_within`` = [lo, hi] (so the bound holds for the interval, not
    just the point estimate)."""

    use: str
    benchmark: str
    metric: str
    min: float | None = None
    max: float | None = None
    abs_max: float | None = None
    min_n: int | None = None
    ci_within: tuple[float, float] | None = None

    def to_json(self) -> dict:
        d = {"use": self.use, "benchmark": self.benchmark, "metric": self.metric}
        d |= ({"min": self.min} if self.min is not None else {}) | ({"max": self.max} if self.max is not None else {})
        # the newer fields only when set, so older requirements (and asset hashes) serialise unchanged
        d |= ({"abs_max": self.abs_max} if self.abs_max is not None else {}) | ({"min_n": self.min_n} if self.min_n is not None else {})
        return d | ({"ci_within": list(self.ci_within)} if self.ci_within is not None else {})

    @classmethod
    def from_json(cls, d: Mapping) -> "Requirement":
        ci = d.get("ci_within")
        return cls(d["use"], d["benchmark"], d["metric"], d.get("min"), d.get("max"), d.get("abs_max"), d.get("min_n"),
                   (float(ci[0]), float(ci[1])) if ci is not None else None)

    def met_by(self, value: float) -> bool:
        """The point-estimate bounds (min, max, abs_max) alone."""
        return ((self.min is None or value >= self.min) and (self.max is None or value <= self.max)
                and (self.abs_max is None or abs(value) <= self.abs_max))

    def unmet(self, p: "Property") -> list[str]:
        """Why ``p`` does not meet this requirement, one phrase per failed part (empty: met)."""
        out = []
        if not self.met_by(p.value):
            out.append(f"{self.metric} = {p.value:.4g}")
        if self.min_n is not None and p.n < self.min_n:
            out.append(f"n = {p.n} is below min_n {self.min_n}")
        if self.ci_within is not None:
            lo, hi = self.ci_within
            if not p.ci:
                out.append("it has no 95% CI")
            elif p.ci[0] < lo or p.ci[1] > hi:
                out.append(f"its 95% CI [{p.ci[0]:.4g}, {p.ci[1]:.4g}] crosses the bound [{lo:g}, {hi:g}]")
        return out

    def met(self, p: "Property") -> bool:
        return not self.unmet(p)

    def text(self) -> str:
        parts = [f">= {self.min:g}" if self.min is not None else "", f"<= {self.max:g}" if self.max is not None else "",
                 f"|value| <= {self.abs_max:g}" if self.abs_max is not None else "",
                 f"95% CI within [{self.ci_within[0]:g}, {self.ci_within[1]:g}]" if self.ci_within is not None else "",
                 f"n >= {self.min_n}" if self.min_n is not None else ""]
        return f"{self.benchmark}.{self.metric} {' and '.join(x for x in parts if x)} for {self.use}"


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


@dataclass(frozen=True, slots=True)  # (slots: a bulk registration walks a million of them, several times)
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
        """``json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, the text its
        hash is taken of, written field by field in that sorted order: a bulk registration serialises every asset,
        and most share their licence and use lists (each list is encoded once, ``_json_list``).
        tests/core/test_ids_assets.py checks it equals json.dumps's text for any asset."""
        s = _json_str
        head = '{"attest":' + _json_list(self.attest) + ',"data":' if self.attest else '{"data":'
        edges = ",".join(['{"asset":' + s(e.parent) + ',"relation":' + s(e.relation) + "}" for e in self.derived_from])
        tail = (',"public_key":' + s(self.public_key) if self.public_key else "") + (
            ',"requires":' + _canonical([r.to_json() for r in self.requires]) if self.requires else "")
        return (head + (_canonical(dict(self.data)) if self.data else "{}") + ',"derived_from":[' + edges
                + '],"description":' + s(self.description) + ',"duties":' + _json_list(self.duties) + ',"id":' + s(self.id)
                + ',"kind":' + s(self.kind) + ',"licenses":' + _json_list(self.licenses) + ',"name":' + s(self.name)
                + ',"notes":' + (_canonical(dict(self.notes)) if self.notes else "{}") + tail
                + ',"uses":{"allow":' + _json_list(self.allow) + ',"deny":' + _json_list(self.deny)
                + '},"version":' + s(self.version) + "}")

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
