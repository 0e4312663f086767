"""Signed charters, bundles and their offline verification.

A bundle is one JSON file (``charter-bundle/1``; no pickle, nothing executed): the asset and everything
upstream of it along every ``derived_from`` edge, parents first (``assets``), every stored signature over
their charters (``signatures``: DSSE envelopes), the withdrawals and restrictions in effect when it was
written (``events``: signed envelopes or ``{"unsigned": Statement}``), each asset's data/weights digests
(``content``), the root's evaluations (``properties``: signed by the bundler, who must be trusted for the
root, like the manifest), and, with ``--key``, a ``manifest`` envelope over the root's lineage digest and the
digests of the events, content and properties lists (so a dropped withdrawal is detected)."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from charter.core.assets import RELATIONS, Asset, Property
from charter.core.digests import content_digests
from charter.core.ids import parse_id
from charter.errors import CharterError, InvalidInput
from charter.registry import Registry
from charter.store.base import SignatureRecord
from charter.trust.keys import PublisherKey, TrustStore
from charter.trust.sign import (PROPERTY_PREDICATE, property_statement, CHARTER_PREDICATE, _b64, _dump, charter_payload, sign_payload, EVENT_ACTIONS, EVENT_PREDICATE, MANIFEST_PREDICATE, Bad, canonical, digests,
                                envelope_digest, event_statement, manifest_statement, open_envelope, sha256, sign)

BUNDLE_FORMAT = "charter-bundle/1"
FEED_FORMAT = "charter-feed/1"
MAX_BYTES = 1 << 30


class Unverified(CharterError):
    """A bundle or feed whose signatures or digests do not hold (exit 1)."""

    code = "unverified"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


# ---------------------------------------------------------------- lineage

def upstream_closure(reg: Registry, root: str) -> list[Asset]:
    """``root`` and every asset upstream of it along every ``derived_from`` edge (``evaluated-on`` too:
    a registry needs each parent registered), parents first: a depth-first post-order that visits parents
    in ``derived_from`` order (iterative: a 10,000-deep chain is fine)."""
    got: dict[str, Asset] = {}
    todo = [root]
    while todo:
        new = reg.store.get_many([i for i in dict.fromkeys(todo) if i not in got])
        got.update(new)
        todo = [e.parent for a in new.values() for e in a.derived_from if e.parent not in got]
    return parents_first(got, root)


def parents_first(assets: Mapping[str, Asset], root: str) -> list[Asset]:
    out: list[Asset] = []
    state: dict[str, int] = {root: 1}
    stack = [(root, iter([e.parent for e in assets[root].derived_from]))]
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            stack.pop()
            state[node] = 2
            out.append(assets[node])
        elif nxt in assets and nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter([e.parent for e in assets[nxt].derived_from])))
    return out


# ---------------------------------------------------------------- signing

def sign_charters(reg: Registry, ref: str, key: PublisherKey, upstream: bool = False) -> tuple[list[SignatureRecord], list[str]]:
    """Sign ``ref``'s charter (and, ``upstream``, every charter upstream of it) with ``key``; store the
    envelopes. Returns (new records, ids already signed by this key with the same Statement)."""
    root = reg.resolve(ref)
    order = upstream_closure(reg, root)
    texts = {a.id: a.canonical() for a in order}
    d = digests(order, texts)
    targets = order if upstream else [order[-1]]
    recs = []
    for a in targets:
        cd, ld = d[a.id]
        env = _dump(sign_payload(charter_payload(a, texts[a.id], cd, ld, {e.parent: d[e.parent][1] for e in a.derived_from}), key))
        recs.append(SignatureRecord(0, a.id, "charter", key.keyid, sha256(env.encode()), env, "local"))
    with reg.guarded("sign", [(a.id, a.kind) for a in targets], {"keyid": key.keyid}):  # owners (or an admin) sign their assets
        new = reg.store.add_signatures(recs)
    fresh = {r.digest for r in new}
    return new, [r.asset for r in recs if r.digest not in fresh]


def _event_entries(reg: Registry, ids: Iterable[str], key: PublisherKey | None) -> list[dict]:
    """The withdrawals and restrictions in effect on ``ids``: an imported signed envelope is relayed as
    it came, a local one signed with ``key`` (else unsigned)."""
    ids = set(ids)
    wd = {i: w for i, w in reg.store.withdrawals().items() if i in ids}
    rs = {i: r for i, r in reg.store.restrictions().items() if i in ids}
    if not wd and not rs:
        return []
    relay = {(s.asset, s.kind, s.applied): json.loads(s.envelope) for s in reg.store.signatures(set(wd) | set(rs)) if s.kind in EVENT_ACTIONS}
    charters = {i: a.content_hash for i, a in reg.store.get_many(set(wd) | set(rs)).items()}
    items = [("withdraw", w.asset, w.reason, w.time, ()) for w in wd.values()] + \
            [("restrict", r.asset, r.reason, r.time, r.deny) for rr in rs.values() for r in rr]
    return [_entry(relay.get((a, act, t)), event_statement(act, a, charters[a], why, t, deny), key)
            for act, a, why, t, deny in sorted(items, key=lambda x: (x[3], x[1], x[0]))]


def _entry(relayed: dict | None, st: dict, key: PublisherKey | None) -> dict:
    if relayed is not None:
        return {"envelope": relayed}
    return {"envelope": sign(st, key)} if key is not None else {"unsigned": st}


def build_bundle(reg: Registry, ref: str, key: PublisherKey | None = None) -> dict:
    return json.loads(bundle_text(reg, ref, key))


def bundle_text(reg: Registry, ref: str, key: PublisherKey | None = None) -> str:
    """The bundle as JSON text: the stored envelopes (canonical JSON) are copied in as they are."""
    root = reg.resolve(ref)
    order = upstream_closure(reg, root)
    ids = [a.id for a in order]
    texts = {a.id: a.canonical() for a in order}
    d = digests(order, texts)
    sigs: dict[str, list[str]] = {}
    for s in reg.store.signatures(ids, kind="charter"):
        sigs.setdefault(s.asset, []).append(s.envelope)
    events = _event_entries(reg, ids, key)
    content = {a.id: sorted(c) for a in order if (c := content_digests(a))}
    props = [_entry(None, property_statement(p.asset, d[p.asset][0], p.to_json()), key) for p in _root_properties(reg, order)]
    head = {"format": BUNDLE_FORMAT, "created": _now(), "root": root, "events": events, "content": content, "properties": props, "manifest": None}
    if key is not None:
        head["manifest"] = sign(manifest_statement(root, d[root][1], _manifest_body(head | {"assets": ids}, d[root][1])), key)
    sig_text = ",".join(f"{_dump(i)}:[{','.join(sigs[i])}]" for i in ids if i in sigs)
    return f'{_dump(head)[:-1]},"assets":[{",".join(texts[i] for i in ids)}],"signatures":{{{sig_text}}}}}'


def _root_properties(reg: Registry, order: list[Asset]) -> list[Property]:
    """The evaluations a decision about the root reads (its own; an application without any, its model's):
    they travel signed by the bundler, who must be trusted for the root's namespace, like the manifest."""
    root = order[-1]
    got = reg.store.properties(root.id)
    if not got and root.kind == "application":
        model = next((e.parent for e in root.derived_from if e.relation == "deployed-from"), None)
        got = reg.store.properties(model) if model else []
    return got


def _manifest_body(doc: Mapping, lineage: str) -> dict:
    return {"root": doc["root"], "lineage": lineage, "assets": len(doc["assets"]), "events": sha256(canonical(doc["events"])),
            "content": sha256(canonical(doc["content"])), "properties": sha256(canonical(doc.get("properties", []))), "created": doc["created"]}


def write_json(doc: Mapping | str, out: Path) -> None:
    """Write a document (or its JSON text) atomically."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    text = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(out)


# ---------------------------------------------------------------- reading (untrusted)

def _dupes(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        k = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {k!r}")
    return d


def _no_constant(c):
    raise ValueError(f"{c} is not JSON")


def read_json(path: Path, fmt: str, what: str) -> tuple[dict, str]:
    """(document, sha256 of the file) for a bundle or feed file: any problem is one line naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InvalidInput(f"the file is {size:,} bytes, over the {MAX_BYTES:,} a {what} may have", where=str(path), hint=f"is this a {what}?")
        raw = path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read the {what} ({e.strerror})", where=str(path), hint="pass the path of a readable file") from None
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_dupes, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise Unverified(f"not a {what}: the file is not UTF-8 text", where=str(path), hint=f"pass a file written by `charter {what}`") from None
    except json.JSONDecodeError as e:
        body = raw.strip()
        cut = body.startswith(b"{") and (e.pos >= len(raw.rstrip()) or not body.endswith(b"}"))
        why = "the file ends early (truncated)" if cut else f"not JSON ({e.msg} at line {e.lineno} column {e.colno})"
        raise Unverified(f"not a {what}: {why}", where=str(path), hint=f"get the whole file again; it is written by `charter {what}`") from None
    except (ValueError, RecursionError) as e:
        raise Unverified(f"not a {what}: {e}", where=str(path), hint=f"pass a file written by `charter {what}`") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise Unverified(f"not a {what}: format is {got!r}, expected {fmt!r}", where=str(path), hint=f"pass a file written by `charter {what}`")
    return doc, sha256(raw)


def parse_asset(d, n: int) -> tuple[Asset, str]:
    """One charter from a bundle, strictly: it must be exactly what ``Asset.to_json`` writes. Returns it
    and its canonical text."""
    where = f"assets[{n}]"
    if not isinstance(d, dict):
        raise Bad(f"{where}: not a charter (a {type(d).__name__})")
    try:
        _check_types(d)
        a = Asset.from_json(d)
        parse_id(a.id)
        if a.id != f"{a.kind}/{a.name}@{a.version}":
            raise ValueError("id, kind, name and version disagree")
        if a.to_json() != d:  # what from_json read is all there is (a difference it cannot see changes the canonical text: its signature fails)
            raise ValueError("fields that are not a charter's, or of the wrong type")
        text = a.canonical()
        for e in a.derived_from:
            if e.relation not in RELATIONS:
                raise ValueError(f"unknown relation {e.relation!r}")
        if not all(isinstance(x, str) for x in content_digests(a)):
            raise ValueError("a data or weights digest is not text")
    except (KeyError, TypeError, ValueError, AttributeError, InvalidInput) as e:
        name = d.get("id") if isinstance(d.get("id"), str) else where
        raise Bad(f"{name}: the charter is malformed ({e})") from None
    return a, text


_TEXT = ("id", "kind", "name", "version", "description", "public_key")
_TEXTS = ("licenses", "duties", "attest")


def _check_types(d: dict) -> None:
    """The charter's fields have the types ``Asset.to_json`` writes (before anything hashes or indexes them)."""
    for k in _TEXT:
        if k in d and not isinstance(d[k], str):
            raise ValueError(f"{k} is not text")
    for k in _TEXTS:
        if k in d and not (isinstance(d[k], list) and all(isinstance(x, str) for x in d[k])):
            raise ValueError(f"{k} is not a list of text")
    uses = d.get("uses", {})
    if not isinstance(uses, dict) or not all(isinstance(uses.get(k, []), list) and all(isinstance(x, str) for x in uses.get(k, [])) for k in ("allow", "deny")):
        raise ValueError("uses is not {allow: [...], deny: [...]}")
    edges = d.get("derived_from", [])
    if not isinstance(edges, list) or not all(isinstance(e, dict) and isinstance(e.get("asset"), str) and isinstance(e.get("relation"), str) for e in edges):
        raise ValueError("derived_from is not a list of {asset, relation}")
    for k in ("notes", "data"):
        if not isinstance(d.get(k, {}), dict):
            raise ValueError(f"{k} is not a mapping")
    if not isinstance(d.get("requires", []), list) or not all(_requirement_ok(r) for r in d.get("requires", [])):
        raise ValueError("requires is not a list of {use, benchmark, metric, min?, max?, abs_max?, min_n?, ci_within?}")
    dg = d.get("data", {}).get("digests", [])
    if not isinstance(dg, list) or not all(isinstance(x, dict) for x in dg) or not isinstance(d.get("notes", {}).get("weights", {}), (dict, type(None))):
        raise ValueError("data.digests or notes.weights has the wrong type")


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _requirement_ok(r) -> bool:
    return (isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("use", "benchmark", "metric"))
            and all(r.get(k) is None or _num(r[k]) for k in ("min", "max", "abs_max"))
            and (r.get("min_n") is None or (isinstance(r["min_n"], int) and not isinstance(r["min_n"], bool)))
            and (r.get("ci_within") is None or (isinstance(r["ci_within"], list) and len(r["ci_within"]) == 2 and all(map(_num, r["ci_within"])))))


@dataclass
class Verified:
    """What ``verify_bundle`` found: the assets parents first, each asset's signer (None: unsigned or
    untrusted, accepted only with --unsigned-ok), the events with their signers, and the warnings."""

    root: str
    assets: list[Asset]
    signers: dict[str, str | None]
    envelopes: dict[str, list[dict]]
    events: list[tuple[dict, dict | None, str | None]]  # (predicate, envelope, signer)
    manifest_signer: str | None
    warnings: list[str] = field(default_factory=list)
    properties: list[tuple[Property, str | None]] = field(default_factory=list)  # (evaluation, signer)

    def to_json(self) -> dict:
        names = sorted({s for s in self.signers.values() if s})
        return {"root": self.root, "assets": len(self.assets), "signed": sum(s is not None for s in self.signers.values()),
                "signers": names, "events": len(self.events), "properties": len(self.properties), "manifest_signer": self.manifest_signer,
                "warnings": self.warnings,
                "verified": not self.warnings}


def verify_bundle(doc: dict, trust: TrustStore, unsigned_ok: bool = False, where: str = "") -> Verified:
    """Check a bundle offline, parents first: every charter parses, every parent is listed before its
    child, every asset's charter and lineage digests match a signature by a key trusted for its namespace,
    the content digests match the charters, every event is signed by a key trusted for its asset and names
    its charter, and the manifest covers the root, the events and the content. Raises Unverified naming
    the first asset (or event) that does not hold and why; with ``unsigned_ok``, a missing or untrusted
    signature is a warning instead (a signature or digest that does not hold never is)."""
    warnings: list[str] = []

    def fail(msg: str, unsigned: bool = False) -> None:
        if unsigned and unsigned_ok:
            warnings.append(msg)
            return
        raise Unverified(msg, where=where, hint="do not use this bundle; ask its publisher for a new one" if not unsigned else
                         "trust the publisher's key (`charter trust add PUBKEY --for NAMESPACE`), or import with --unsigned-ok")

    try:
        root, raw_assets, sigs, events, content = doc["root"], doc["assets"], doc["signatures"], doc["events"], doc["content"]
        if not (isinstance(root, str) and isinstance(raw_assets, list) and raw_assets and isinstance(sigs, dict)
                and isinstance(events, list) and isinstance(content, dict)):
            raise TypeError("a field has the wrong type")
    except (KeyError, TypeError) as e:
        raise Unverified(f"not a bundle: {e if isinstance(e, TypeError) else 'no ' + str(e) + ' field'}", where=where,
                         hint="pass a file written by `charter bundle`") from None
    assets: list[Asset] = []
    texts: dict[str, str] = {}
    pos: dict[str, int] = {}
    for n, d in enumerate(raw_assets):
        try:
            a, text = parse_asset(d, n)
        except Bad as e:
            raise Unverified(e.message, where=where, hint="do not use this bundle; ask its publisher for a new one") from None
        if a.id in pos:
            fail(f"{a.id}: listed twice")
        for e in a.derived_from:
            if e.parent not in pos:
                later = any(isinstance(x, dict) and x.get("id") == e.parent for x in raw_assets[n + 1:])
                fail(f"{e.parent}: listed after {a.id}, which derives from it (the lineage was reordered)" if later
                     else f"{a.id}: derives from {e.parent}, which is not in the bundle")
        pos[a.id] = n
        texts[a.id] = text
        assets.append(a)
    if assets[-1].id != root:
        fail(f"{root}: the root is not the last asset listed (the lineage was reordered or cut)")
    reach = {a.id for a in parents_first({a.id: a for a in assets}, root)} if root in pos else set()
    extra = [a.id for a in assets if a.id not in reach]
    if extra:
        fail(f"{extra[0]}: listed, but not upstream of {root}")
    d = digests(assets, texts)
    signers: dict[str, str | None] = {}
    envs: dict[str, list[dict]] = {}
    for a in assets:
        cd, ld = d[a.id]
        have = sorted(content_digests(a))
        if content.get(a.id, []) != have:
            fail(f"{a.id}: the bundle's data/weights digests do not match its charter (listed {_short(content.get(a.id))}, charter has {_short(have)})")
        signers[a.id] = None
        mine = sigs.get(a.id) or []
        if not isinstance(mine, list):
            fail(f"{a.id}: its signatures are malformed")
        envs[a.id] = mine
        if not mine:
            fail(f"{a.id}: not signed", unsigned=True)
            continue
        problems: list[Bad] = []
        expect = charter_payload(a, texts[a.id], cd, ld, {e.parent: d[e.parent][1] for e in a.derived_from})
        for env in mine:
            try:
                st, who = open_envelope(env, a.id, trust, expect)
                if st is not None:  # not the expected payload: say what differs
                    _check_charter(st, a, cd, ld, d)
                    raise Bad("the signed Statement differs from the bundle's (its upstream list or subject)")
                signers[a.id] = who
                break
            except Bad as e:
                problems.append(e)
        if signers[a.id] is None:
            worst = next((p for p in problems if not p.unsigned), problems[0])
            fail(f"{a.id}: {worst.message}", unsigned=worst.unsigned)
    evs = _verify_events(events, {a.id: d[a.id][0] for a in assets}, trust, fail)
    props = _verify_properties(doc.get("properties", []), root, {a.id: d[a.id][0] for a in assets}, trust, fail)
    msigner = None
    man = doc.get("manifest")
    if man is None:
        fail("the bundle has no manifest signature (a dropped withdrawal or restriction would not be seen)", unsigned=True)
    else:
        try:
            st, msigner = open_envelope(man, root, trust)
            p = st.get("predicate")
            want = _manifest_body(doc | {"created": p.get("created") if isinstance(p, dict) else None}, d[root][1])
            if st.get("predicateType") != MANIFEST_PREDICATE or not isinstance(p, dict):
                raise Bad("the manifest's Statement is not a bundle manifest")
            for k in ("root", "lineage", "assets", "events", "content", "properties"):
                if p.get(k) != want[k]:
                    raise Bad(f"the bundle's {k} do not match its manifest (something was added, removed or changed after signing)")
        except Bad as e:
            msigner = None
            fail(f"manifest: {e.message}", unsigned=e.unsigned)
    return Verified(root, assets, signers, envs, evs, msigner, warnings, props)


def _short(x) -> str:
    if not x:
        return "none"
    if not isinstance(x, list):
        return repr(x)[:40]
    return ", ".join(str(v)[:23] + "…" for v in x)


def _check_charter(st: dict, a: Asset, cd: str, ld: str, d: Mapping[str, tuple[str, str]]) -> None:
    p = st.get("predicate")
    if st.get("predicateType") != CHARTER_PREDICATE or not isinstance(p, dict):
        raise Bad("the signed Statement is not a charter Statement")
    subj = st.get("subject")
    signed = sha256(canonical(p.get("charter")))
    if signed != cd or not isinstance(subj, list) or not subj or subj[0] != {"name": a.id, "digest": {"sha256": cd.removeprefix("sha256:")}}:
        raise Bad(f"the charter does not match its signature (signed {signed[:23]}…, the bundle has {cd[:23]}…)")
    if p.get("lineage") != ld:
        raise Bad(f"its lineage does not match its signature (signed {str(p.get('lineage'))[:23]}…, computed {ld[:23]}…): "
                  "an upstream charter or edge differs from what was signed")


def _verify_events(events: list, charters: Mapping[str, str], trust: TrustStore, fail) -> list[tuple[dict, dict | None, str | None]]:
    out = []
    for n, e in enumerate(events):
        label = f"events[{n}]"
        if not isinstance(e, dict) or len(e) != 1 or not ({"envelope", "unsigned"} & e.keys()):
            fail(f"{label}: malformed (expected {{\"envelope\": ...}} or {{\"unsigned\": ...}})")
            continue
        if "unsigned" in e:
            p = _event_predicate(e["unsigned"], label, charters, fail)
            if p is not None:
                fail(f"{label} ({p['action']} {p['asset']}): not signed", unsigned=True)
                out.append((p, None, None))
            continue
        env = e["envelope"]
        asset = _event_asset(env)
        try:
            st, who = open_envelope(env, asset, trust)
        except Bad as b:
            fail(f"{label} ({asset}): {b.message}", unsigned=b.unsigned)  # returns only for an unsigned-ok warning
            p = _event_predicate(_unverified(env), label, charters, fail)
            if p is not None:
                out.append((p, None, None))  # applied as unsigned: withdrawals and restrictions, never lifts
            continue
        p = _event_predicate(st, label, charters, fail)
        if p is not None:
            if p["asset"] != asset:
                fail(f"{label}: the signed event is about {p['asset']}, not {asset}")
                continue
            out.append((p, env, who))
    return out


_PROP_TEXT = ("asset", "benchmark", "version", "metric", "time", "run")


def _property(p) -> Property | None:
    """An evaluation from a bundle, strictly typed (None: malformed)."""
    if not (isinstance(p, dict) and all(isinstance(p.get(k, ""), str) for k in _PROP_TEXT) and _num(p.get("value"))
            and (p.get("ci") is None or (isinstance(p["ci"], list) and len(p["ci"]) == 2 and all(map(_num, p["ci"]))))
            and isinstance(p.get("n", 0), int) and not isinstance(p.get("n", 0), bool) and isinstance(p.get("detail", {}), dict)):
        return None
    try:
        return Property.from_json(p)
    except (KeyError, TypeError, ValueError):
        return None


def _verify_properties(entries, root: str, charters: Mapping[str, str], trust: TrustStore, fail) -> list[tuple[Property, str | None]]:
    out: list[tuple[Property, str | None]] = []
    if not isinstance(entries, list):
        fail("properties: malformed (expected a list)")
        return out
    for n, e in enumerate(entries):
        label = f"properties[{n}]"
        if not isinstance(e, dict) or len(e) != 1 or not ({"envelope", "unsigned"} & e.keys()):
            fail(f"{label}: malformed (expected {{\"envelope\": ...}} or {{\"unsigned\": ...}})")
            continue
        who = None
        if "unsigned" in e:
            st = e["unsigned"]
        else:
            try:
                st, who = open_envelope(e["envelope"], root, trust)
            except Bad as b:
                fail(f"{label}: {b.message}", unsigned=b.unsigned)
                st = _unverified(e["envelope"])
        p = _property(st.get("predicate")) if isinstance(st, dict) and st.get("predicateType") == PROPERTY_PREDICATE else None
        if p is None:
            fail(f"{label}: not an evaluated property Statement")
            continue
        subj = st.get("subject")
        if p.asset not in charters or not isinstance(subj, list) or not subj or subj[0] != {"name": p.asset, "digest": {"sha256": charters[p.asset].removeprefix("sha256:")}}:
            fail(f"{label} ({p.asset} {p.benchmark}.{p.metric}): names an asset or charter that is not the bundle's")
            continue
        if who is None and "unsigned" in e:
            fail(f"{label} ({p.asset} {p.benchmark}.{p.metric}): not signed", unsigned=True)
        out.append((p, who))
    return out


def _unverified(env) -> dict | None:
    """An envelope's Statement read without verifying it (to choose the trust namespace, or to apply an
    untrusted withdrawal as unsigned under --unsigned-ok)."""
    try:
        st = json.loads(_b64(env.get("payload")), parse_constant=_no_constant)
        return st if isinstance(st, dict) else None
    except Exception:
        return None


def _event_asset(env) -> str:
    """The asset an event envelope claims to be about: the verified Statement must then name the same."""
    st = _unverified(env)
    try:
        return str(st["predicate"]["asset"])
    except Exception:
        return "?"


def _event_predicate(st, label: str, charters: Mapping[str, str] | None, fail) -> dict | None:
    p = st.get("predicate") if isinstance(st, dict) else None
    ok = (isinstance(st, dict) and st.get("predicateType") == EVENT_PREDICATE and isinstance(p, dict)
          and p.get("action") in EVENT_ACTIONS and all(isinstance(p.get(k), str) for k in ("asset", "reason", "time"))
          and (p["action"] not in ("restrict", "lift-restrictions") or (isinstance(p.get("deny"), list) and all(isinstance(u, str) for u in p["deny"]))))
    if not ok:
        fail(f"{label}: not a withdrawal, lift or restriction Statement")
        return None
    subj = st.get("subject")
    digest = "sha256:" + subj[0]["digest"]["sha256"] if isinstance(subj, list) and subj and isinstance(subj[0], dict) \
        and isinstance(subj[0].get("digest"), dict) and isinstance(subj[0]["digest"].get("sha256"), str) else None
    if charters is not None:
        if p["asset"] not in charters:
            fail(f"{label} ({p['action']} {p['asset']}): about an asset that is not in the bundle")
            return None
        if digest != charters[p["asset"]]:
            fail(f"{label} ({p['action']} {p['asset']}): names a different charter than the bundle's")
            return None
    return p | {"charter": digest}


# ---------------------------------------------------------------- importing

def apply_events(reg: Registry, events: list[tuple[dict, dict | None, str | None]], source: str) -> dict:
    """Apply withdrawals, lifts and restrictions (oldest first) to this registry; each signed envelope is
    stored (``applied``: the local event's time) so that it is applied once and relayed as it came.
    An unsigned lift is never applied (it would loosen); an event about an asset that is not registered,
    or about another charter than the registered one, is skipped and reported."""
    store = reg.store
    applied, skipped = [], []
    have = {s.digest for s in store.signatures({p["asset"] for p, _, _ in events})}
    for p, env, who in sorted(events, key=lambda x: (x[0]["time"], x[0]["asset"])):
        act, aid = p["action"], p["asset"]
        label = {"action": act, "asset": aid, "time": p["time"], "signer": who}
        a = store.get(aid)
        if a is None:
            skipped.append(label | {"why": "not in this registry"})
            continue
        if p.get("charter") != a.content_hash:
            skipped.append(label | {"why": "about another charter than the registered one"})
            continue
        dig = envelope_digest(env) if env is not None else None
        if dig is not None and dig in have:
            skipped.append(label | {"why": "already imported"})
            continue
        why = f"{p['reason']} (signed by {who}, {p['time']})" if who else f"{p['reason']} (unsigned, {p['time']}, from {source})"
        t = ""
        if act == "withdraw":
            if aid not in store.withdrawals():
                t = reg.withdraw(aid, why)[0].time
        elif act == "lift":
            if env is None:
                skipped.append(label | {"why": "an unsigned lift is not applied"})
                continue
            if aid in store.withdrawals():
                t = reg.lift(aid, why).time
        elif act == "restrict":
            cur = store.restrictions().get(aid, ())
            if env is not None or not any(set(r.deny) == set(p["deny"]) for r in cur):
                t = reg.restrict(aid, p["deny"], why)[0].time
        else:  # lift-restrictions
            if env is None:
                skipped.append(label | {"why": "an unsigned lift is not applied"})
                continue
            if store.restrictions().get(aid):
                t = reg.lift_restrictions(aid, why).time
        if env is not None:
            kid = env["signatures"][0]["keyid"] if env.get("signatures") else ""
            store.add_signatures([SignatureRecord(0, aid, act, kid, dig, _dump(env), source, applied=t)])
            have.add(dig)
        applied.append(label | {"changed": bool(t)})
    return {"applied": applied, "skipped": skipped}


def import_bundle(reg: Registry, path: Path, trust: TrustStore, unsigned_ok: bool = False) -> dict:
    """Verify (strictly, unless ``unsigned_ok``), register the assets parents first, store their verified
    signatures, apply the events, and record in the event log which bundle and signer each asset came from."""
    doc, digest = read_json(path, BUNDLE_FORMAT, "bundle")
    v = verify_bundle(doc, trust, unsigned_ok, where=str(path))
    for a in v.assets:  # uses must be this registry's (its taxonomy may differ from the publisher's)
        try:
            if a.allow or a.deny or a.requires:
                reg.check_uses(a.allow + a.deny + tuple(r.use for r in a.requires))
        except CharterError as e:
            raise InvalidInput(f"{a.id}: {e.message}", where=str(path), hint="extend the taxonomy with --taxonomy FILE") from None
    source = f"bundle:{digest} {Path(path).name}"
    added = {a.id for a in reg.add(v.assets)}
    recs = []
    for a in v.assets:
        if v.signers[a.id] is None:
            continue
        for env in v.envelopes[a.id]:
            try:
                open_envelope(env, a.id, trust)
            except Bad:
                continue
            recs.append(SignatureRecord(0, a.id, "charter", env["signatures"][0]["keyid"], envelope_digest(env), _dump(env), source))
    reg.store.add_signatures(recs)
    events = apply_events(reg, v.events, source)
    have = {(p.asset, p.benchmark, p.metric, p.version, p.time, p.value) for a in {p.asset for p, _ in v.properties} for p in reg.store.properties(a)}
    props = [p for p, _ in v.properties if (p.asset, p.benchmark, p.metric, p.version, p.time, p.value) not in have]
    reg.attach(props)
    reg.store.log_many([("import-bundle", a.id, {"bundle": digest, "file": Path(path).name, "signer": v.signers[a.id],
                                                 "new": a.id in added}) for a in v.assets])
    return {"bundle": digest, "file": str(path), **v.to_json(), "added": [a.id for a in v.assets if a.id in added],
            "unchanged": [a.id for a in v.assets if a.id not in added], "by_signer": _by_signer(v.signers), "events": events,
            "properties_attached": len(props)}


def _by_signer(signers: Mapping[str, str | None]) -> dict:
    out: dict[str, list[str]] = {}
    for a, s in signers.items():
        out.setdefault(s or "(unsigned)", []).append(a)
    return out


# ---------------------------------------------------------------- feeds

def _parse_time(t: str, what: str) -> _dt.datetime:
    try:
        x = _dt.datetime.fromisoformat(t)
    except (TypeError, ValueError):
        raise InvalidInput(f"{t!r} is not a time", field=what, hint="write an ISO 8601 time, e.g. 2026-12-01 or 2026-12-01T10:00:00+00:00") from None
    return x if x.tzinfo else x.replace(tzinfo=_dt.timezone.utc)


def build_feed(reg: Registry, since: str, key: PublisherKey | None = None) -> dict:
    """Withdrawals, lifts, restrictions and restriction lifts recorded at or after ``since``: relayed
    envelopes as they came, local ones signed with ``key`` (else unsigned)."""
    t0 = _parse_time(since, "--since")
    evs = [e for ty in EVENT_ACTIONS for e in reg.store.events(type=ty) if _parse_time(e.time, "time") >= t0]
    evs.sort(key=lambda e: e.seq)
    ids = {e.asset for e in evs}
    charters = {i: a.content_hash for i, a in reg.store.get_many(ids).items()}
    relay = {(s.asset, s.kind, s.applied): json.loads(s.envelope) for s in reg.store.signatures(ids) if s.kind in EVENT_ACTIONS}
    entries = [_entry(relay.get((e.asset, e.type, e.time)),
                      event_statement(e.type, e.asset, charters[e.asset], e.data.get("reason", ""), e.time, e.data.get("deny") or ()), key)
               for e in evs if e.asset in charters]
    return {"format": FEED_FORMAT, "created": _now(), "since": t0.isoformat(), "entries": entries}


def import_feed(reg: Registry, path: Path, trust: TrustStore, unsigned_ok: bool = False) -> dict:
    """Verify every entry against the trust store (an unsigned or untrusted entry refuses the whole feed
    unless ``unsigned_ok``; a signature that does not hold always does), then apply them."""
    doc, digest = read_json(path, FEED_FORMAT, "feed")
    if not isinstance(doc.get("entries"), list):
        raise Unverified("not a feed: no entries list", where=str(path), hint="pass a file written by `charter feed`")
    warnings: list[str] = []

    def fail(msg: str, unsigned: bool = False) -> None:
        if unsigned and unsigned_ok:
            warnings.append(msg)
            return
        raise Unverified(msg, where=str(path), hint="trust the publisher's key (`charter trust add PUBKEY --for NAMESPACE`), or import with --unsigned-ok"
                         if unsigned else "do not use this feed; ask its publisher for a new one")

    evs = _verify_events(doc["entries"], None, trust, fail)
    out = apply_events(reg, evs, f"feed:{digest} {Path(path).name}")
    return {"feed": digest, "file": str(path), "entries": len(doc["entries"]), "warnings": warnings, **out}
