"""What the standard-format importers share (cyclonedx, spdx3, croissant, odrl): reading an untrusted
JSON file, and turning what a format says about each asset (:class:`Found`) into assets.

Every value is checked, nothing is guessed: a use id the taxonomy does not know, a duty or relation
Charter does not have, a ``charter:`` property it does not read, or a lineage link without a Charter
relation is reported (``Report.skipped``, with where it was) and left out; a licence string is kept
verbatim (one the licence table does not know is reported as unmapped and denies commercial use,
as for every importer). A parent that is neither in the document nor registered becomes an explicit
placeholder (licence unspecified), as ``import hf-card`` does. Malformed input is one
``InvalidInput`` naming the file and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from charter.core import vocab
from charter.core.assets import DUTIES, RELATIONS, Asset, Edge, Property, Requirement
from charter.core.ids import KINDS, make_id, parse_id, slug, valid_name, valid_version
from charter.errors import CharterError, InvalidInput
from charter.imports import Import, Report, break_cycles

MAX_BYTES = 256 * 2**20  # a 10,000-asset lineage in CycloneDX is tens of MiB


@dataclass(frozen=True)
class StandardImport(Import):
    """An :class:`Import` plus the evaluations the document carries: attach them once registered."""

    properties: list[Property] = field(default_factory=list)


@dataclass
class Found:
    """One asset as a document describes it, before checking."""

    where: str  # file and the place in it (JSON pointer, element id)
    id: str | None = None
    kind: str | None = None
    name: str = ""
    version: str = ""
    description: str = ""
    licenses: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    duties: list[str] = field(default_factory=list)
    attest: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)  # canonical JSON texts
    evaluations: list[str] = field(default_factory=list)  # canonical JSON texts
    public_key: str = ""
    edges: list[tuple[str, str | None, str]] = field(default_factory=list)  # (parent id, relation or None, where)


def read_json(path: Path, what: str) -> object:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(f"file larger than {MAX_BYTES // 2**20} MiB", hint=f"split the {what} document", where=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput("file not found", hint=f"pass a {what} JSON file", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read file: {e}", hint=f"pass a readable UTF-8 {what} JSON file", where=str(path)) from None

    def refuse(c: str):
        raise InvalidInput(f"{c} is not JSON", hint="write a finite number", where=str(path))

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"malformed JSON: {e.msg}", hint=f"a {what} document is JSON; fix its syntax", where=f"{path}:{e.lineno}") from None
    except RecursionError:
        raise InvalidInput("JSON nested too deeply", hint=f"pass a {what} document", where=str(path)) from None


def fail(path: Path, field_: str, message: str, hint: str) -> InvalidInput:
    return InvalidInput(message, hint=hint, where=str(path), field=field_)


def guard(path: Path, what: str, fn: Callable, *args):
    """Run a third-party reader on untrusted input: any exception it raises is one line naming the file."""
    try:
        return fn(*args)
    except CharterError:
        raise
    except RecursionError:
        raise InvalidInput("document nested too deeply", hint=f"pass a {what} document", where=str(path)) from None
    except Exception as e:  # the library's own errors (schema, types, syntax): reported, never a crash
        msg = " ".join(str(e).split())[:300] or type(e).__name__
        raise InvalidInput(f"not a readable {what} document: {msg}", hint=f"pass a {what} document (see docs/exports.md)", where=str(path)) from None


def assemble(found: list[Found], *, importer: str, path: Path, taxonomy, licenses, known: Callable[[str], bool],
             report: Report | None = None) -> StandardImport:
    """Check every found asset and build the batch: ids, uses, duties, relations, requirements, evaluations."""
    report = report or Report(importer, str(path), files=1)
    assets: dict[str, Asset] = {}
    sources: dict[str, str] = {}
    props: list[Property] = []
    batch: dict[str, Found] = {}
    for f in found:
        aid = _id(f, path)
        if aid in batch:
            if f != replace(batch[aid], where=f.where):
                raise fail(path, f.where, f"{aid} is described twice, differently", "describe each asset once per document")
            continue
        batch[aid] = f
    for aid, f in batch.items():
        kind, name, version = parse_id(aid, where=str(path), field=f.where)
        allow = _uses(f.allow, f, report, taxonomy, vocab.P_ALLOW)
        deny = _uses(f.deny, f, report, taxonomy, vocab.P_DENY)
        duties = []
        for d in f.duties:
            if d in DUTIES:
                duties.append(d)
            else:
                report.skip(d, f.where, f"unknown duty (Charter's duties: {', '.join(DUTIES)}): not guessed")
        reqs = []
        for text in f.requires:
            r = _requirement(text, f, path)
            if r.use not in taxonomy:
                report.skip(r.use, f.where, "requirement for a use not in the taxonomy: not guessed (extend it with --taxonomy FILE)")
                continue
            reqs.append(r)
        edges = []
        for parent, relation, where in f.edges:
            if relation is None:
                report.dangle(aid, parent, where, "no Charter relation given (the format's link does not say which): not guessed, not linked")
                continue
            if relation not in RELATIONS:
                report.dangle(aid, parent, where, f"unknown relation {relation!r}: not linked")
                continue
            try:
                parse_id(parent, where=str(path), field=where)
            except InvalidInput:
                report.dangle(aid, parent, where, "not an asset id (kind/name@version): not linked")
                continue
            if Edge(aid, parent, relation) not in edges:
                edges.append(Edge(aid, parent, relation))
        if kind == "compute":
            _check_key(f, path)
        lics = tuple(dict.fromkeys(f.licenses))
        for lic in lics:
            if licenses.unknown(lic):
                report.unmapped(lic, aid)
        assets[aid] = Asset(id=aid, kind=kind, name=name, version=version, description=f.description, licenses=lics,
                            allow=tuple(allow), deny=tuple(deny), duties=tuple(dict.fromkeys(duties)), derived_from=tuple(edges),
                            requires=tuple(reqs), attest=tuple(dict.fromkeys(f.attest)), public_key=f.public_key if kind == "compute" else "",
                            notes={"importer": importer})
        sources[aid] = f"{path}:{f.where}"
        props += [_evaluation(text, aid, f, path, importer) for text in f.evaluations]
    for a in list(assets.values()):
        for e in a.derived_from:
            if e.parent not in assets and not known(e.parent):
                k, n, v = parse_id(e.parent)
                assets[e.parent] = Asset(id=e.parent, kind=k, name=n, version=v, notes={"importer": importer, "placeholder": True})
                sources[e.parent] = f"{path}:{sources[a.id].rsplit(':', 1)[-1]}"
                report.placeholders.append({"asset": e.parent, "reason": f"upstream of {a.id}, in neither the document nor the registry: "
                                            "created with an unspecified licence; import a document that describes it (--lineage)"})
    out = break_cycles(list(assets.values()), report, sources)
    report.stats = {"assets_described": len(batch), "evaluations": len(props)}
    return StandardImport(out, sources, report, props)


def _id(f: Found, path: Path) -> str:
    if f.id:
        parse_id(f.id, where=str(path), field=f.where)
        if f.kind and f.id.split("/", 1)[0] != f.kind:
            raise fail(path, f.where, f"{f.id} is a {f.id.split('/', 1)[0]}, but the document's type says {f.kind}",
                       "make charter:id and the element's type agree")
        return f.id
    if f.kind not in KINDS:
        raise fail(path, f.where, "no Charter kind for this element", "give it a charter:id property (kind/name@version)")
    name = f.name if valid_name(f.name) else slug(f.name)
    version = f.version if valid_version(f.version) else (slug(f.version).replace("/", "-") if f.version else "")
    if not f.name or not version:
        raise fail(path, f.where, "an asset needs a name and a version", "give the element a name and a version, or a charter:id property")
    return make_id(f.kind, name, version)


def _check_key(f: Found, path: Path) -> None:
    """A compute asset's key, as ``charter add`` demands it: ``ed25519:`` and the canonical base64 of 32 bytes."""
    import base64
    import binascii

    body = f.public_key.removeprefix("ed25519:")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not f.public_key.startswith("ed25519:") or len(raw) != 32 or base64.b64encode(raw).decode() != body:
        raise fail(path, f"{f.where} {vocab.P_PUBLIC_KEY}", f"compute asset without a valid public key ({f.public_key[:60]!r})",
                   "a compute asset carries charter:public-key = ed25519:<base64 of the 32 raw bytes>")


def _uses(uses: list[str], f: Found, report: Report, taxonomy, prop: str) -> list[str]:
    out = []
    for u in uses:
        if u in taxonomy:
            out.append(u)
        else:
            report.skip(u, f.where, f"{prop}: not a use id of the taxonomy; not guessed (extend the taxonomy with --taxonomy FILE and import again)")
    return list(dict.fromkeys(out))


def _requirement(text: str, f: Found, path: Path) -> Requirement:
    try:
        d = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        r = Requirement.from_json(d)
        for v in (r.min, r.max, r.abs_max):
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise ValueError(v)
        if not all(isinstance(x, str) and x for x in (r.use, r.benchmark, r.metric)):
            raise ValueError("use, benchmark, metric")
        return r
    except Exception:
        raise fail(path, f"{f.where} {vocab.P_REQUIRES}", f"malformed requirement {text[:120]!r}",
                   'write {"use": ..., "benchmark": ..., "metric": ..., "max": NUMBER} as JSON') from None


def _evaluation(text: str, aid: str, f: Found, path: Path, importer: str) -> Property:
    try:
        d = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        ci = d.get("ci")
        value = float(d["value"])
        if not math.isfinite(value) or not isinstance(d["benchmark"], str) or not isinstance(d["metric"], str):
            raise ValueError(value)
        return Property(aid, d["benchmark"], str(d.get("version") or ""), d["metric"], value,
                        (float(ci[0]), float(ci[1])) if ci else None, int(d.get("n") or 0), str(d.get("time") or ""), f"import:{importer}")
    except Exception:
        raise fail(path, f"{f.where} {vocab.P_EVALUATION}", f"malformed evaluation {text[:120]!r}",
                   'write {"benchmark": ..., "metric": ..., "value": NUMBER} as JSON') from None


def properties(f: Found, pairs, report: Report) -> None:
    """Read Charter's name/value properties (CycloneDX properties, SPDX 3 extension entries) into ``f``."""
    for name, value in pairs:
        if not isinstance(name, str) or not name.startswith(vocab.PREFIX + ":"):
            continue  # another tool's property: not ours to read
        if not isinstance(value, str):
            report.skip(str(name), f.where, "property value is not a string: ignored")
            continue
        if name == vocab.P_ID:
            f.id = value
        elif name == vocab.P_KIND:
            pass  # the id's kind
        elif name == vocab.P_LICENSE:
            pass  # read by the format (a licence it has no identifier for)
        elif name == vocab.P_ALLOW:
            f.allow.append(value)
        elif name == vocab.P_DENY:
            f.deny.append(value)
        elif name == vocab.P_DUTY:
            f.duties.append(value)
        elif name == vocab.P_REQUIRES:
            f.requires.append(value)
        elif name == vocab.P_ATTEST:
            f.attest.append(value)
        elif name == vocab.P_PUBLIC_KEY:
            f.public_key = value
        elif name == vocab.P_EVALUATION:
            f.evaluations.append(value)
        elif name in vocab.INFORMATIONAL or name == vocab.P_RELATION:
            pass  # derived from the lineage by the registry; the relation belongs on a link
        else:
            report.skip(name, f.where, "unknown charter: property: ignored, not guessed")
