"""Consent from the open web: a site's machine-readable signals as record-level terms.

A *snapshot* is one file a site served at a time: its ``robots.txt``, its TDMRep
``/.well-known/tdmrep.json``, the HTTP response headers of its root (``headers.txt``), or an HTML page
(its ``<meta>`` tags). Snapshots are stored as they were served (store: the ``signals`` table, append-only);
they are read into terms when a curation asks, under the signals map (``resources/optout/signals.yaml``,
user-editable): which uses each signal denies.

What each kind says (every derived term names its source, e.g. ``optout:robots:GPTBot:/news/``):

- robots.txt (parsed with protego, RFC 9309): for each AI crawler of the ai.robots.txt list, the rule set
  protego applies to it; a crawler refused a path denies its function's uses there, and a refusal of
  ``User-agent: *`` denies every use. ``Content-Usage:`` (IETF AI preferences) and ``Content-Signal:``
  (Cloudflare) lines, optionally with a path first, state preferences per category.
- tdmrep.json (W3C TDMRep): ``[{location, tdm-reservation, tdm-policy}]``; a reservation denies the mapped
  uses where its location matches (a mapped tdm-policy replaces them).
- headers.txt: ``tdm-reservation``/``tdm-policy``, ``Content-Usage``, ``Content-Signal``, ``X-Robots-Tag:
  noai, noimageai``; they apply to the whole site.
- HTML: ``<meta name="robots" content="noai, noimageai">``, ``<meta name="tdm-reservation" content="1">``.

Each signal becomes a :class:`Group`: rules (path patterns, each denying or permitting) matched by the
robots.txt rule: the longest pattern that matches wins (robots.txt: allow on a tie, as protego; the
preference signals: deny on a tie, the most restrictive). A record is excluded when some group relevant to
the declared uses denies at its URL; no snapshot (or no rule matching) is no restriction. For a curation
(fixed uses) the groups of every domain compile to a small table that DuckDB joins to the records by
domain; the URL's path is normalised in SQL exactly as protego does and matched with ``LIKE`` patterns.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import html.parser
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from charter.core.sql import like_escape
from charter.core.uses import Taxonomy
from charter.errors import InvalidInput, UsageError

KINDS = ("robots", "tdmrep", "headers", "html")
FILES = {"robots.txt": "robots", "tdmrep.json": "tdmrep", "headers.txt": "headers"}
ALL = "*"  # a group member that denies every use (robots.txt `User-agent: *`)
MAX_BODY = 2 * 2**20  # bytes of one snapshot (Google reads the first 500 KiB of a robots.txt)
DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


# --- the map: signals -> uses -------------------------------------------------------------------
@dataclass(frozen=True)
class SignalMap:
    functions: dict[str, tuple[str, ...]]
    agents: dict[str, str]  # agent (as ai.robots.txt spells it) -> function
    content_usage: dict[str, tuple[tuple[str, ...], str | None]]  # label -> (deny, parent)
    content_signal: dict[str, tuple[str, ...]]
    tdm_deny: tuple[str, ...]
    tdm_policies: dict[str, tuple[str, ...]]
    robots_meta: dict[str, tuple[str, ...]]
    digest: str = ""

    def agent_uses(self, agent: str) -> tuple[str, ...]:
        return self.functions[self.agents.get(agent, "unknown")]


def load_map(taxonomy: Taxonomy, path: Path | None = None) -> SignalMap:
    """The signals map (shipped, or ``path``), every use checked against the taxonomy (did-you-mean)."""
    from charter.core.files import load_document, resource

    path = Path(path) if path else resource("optout/signals.yaml")
    doc = load_document(path)
    where = str(path)

    def at(d, key) -> str:
        line = getattr(d, "line_of", lambda k: 0)(key)
        return f"{where}:{line}" if line else where

    def section(name: str) -> dict:
        v = doc.get(name) if isinstance(doc, dict) else None
        if not isinstance(v, dict):
            raise InvalidInput(f"the signals map needs a mapping {name!r}", hint="see charter/resources/optout/signals.yaml", where=where, field=name)
        return v

    def uses(v, d, key, fld) -> tuple[str, ...]:
        if not isinstance(v, list) or not all(isinstance(u, str) for u in v):
            raise InvalidInput("a deny list must be a list of use ids", hint="write deny: [training]", where=at(d, key), field=fld)
        return tuple(taxonomy.check(u, where=at(d, key), field=fld) for u in v)

    def entry(d: dict, key: str, fld: str, parent_ok: bool = False) -> tuple[tuple[str, ...], str | None]:
        v = d[key]
        allowed = {"deny", "description"} | ({"parent"} if parent_ok else set())
        if not isinstance(v, dict) or "deny" not in v or set(v) - allowed:
            raise InvalidInput(f"{fld} must be {{deny: [USE...]}}", hint=f"allowed fields: {', '.join(sorted(allowed))}", where=at(d, key), field=fld)
        return uses(v["deny"], d, key, f"{fld}.deny"), (str(v["parent"]) if v.get("parent") is not None else None)

    functions = {str(k): entry(section("functions"), k, f"functions.{k}")[0] for k in section("functions")}
    if "unknown" not in functions:
        raise InvalidInput("the signals map needs the function 'unknown' (agents without a function)", hint="add unknown: {deny: [...]}",
                           where=where, field="functions")
    agents_doc = section("agents")
    agents = {}
    for k, v in agents_doc.items():
        if v not in functions:
            import difflib

            close = difflib.get_close_matches(str(v), list(functions), n=1)
            raise InvalidInput(f"agent {k!r} has unknown function {v!r}", hint=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(functions)}",
                               where=at(agents_doc, k), field=f"agents.{k}")
        agents[str(k)] = v
    cu_doc = section("content-usage")
    cu = {str(k): entry(cu_doc, k, f"content-usage.{k}", parent_ok=True) for k in cu_doc}
    for k, (_, parent) in cu.items():
        seen = {k}
        while parent is not None:
            if parent not in cu:
                raise InvalidInput(f"content-usage label {k!r} has unknown parent {parent!r}", hint="name a label of this section", where=at(cu_doc, k))
            if parent in seen:
                raise InvalidInput(f"content-usage labels form a cycle through {parent!r}", hint="remove one parent", where=at(cu_doc, k))
            seen.add(parent)
            parent = cu[parent][1]
    cs_doc = section("content-signal")
    tdm = section("tdmrep")
    policies = tdm.get("policies") or {}
    if not isinstance(policies, dict):
        raise InvalidInput("tdmrep.policies must map policy URLs to {deny: [...]}", hint="write policies: {'https://...': {deny: [commercial]}}",
                           where=at(tdm, "policies"))
    meta_doc = section("robots-meta")
    raw = path.read_bytes()
    return SignalMap(
        functions=functions, agents=agents, content_usage=cu,
        content_signal={str(k): entry(cs_doc, k, f"content-signal.{k}")[0] for k in cs_doc},
        tdm_deny=uses(tdm.get("deny"), tdm, "deny", "tdmrep.deny"),
        tdm_policies={str(k): entry(policies, k, f"tdmrep.policies.{k}")[0] for k in policies},
        robots_meta={str(k).lower(): entry(meta_doc, k, f"robots-meta.{k}")[0] for k in meta_doc},
        digest=hashlib.sha256(raw).hexdigest(),
    )


def ai_agents() -> dict:
    """The vendored ai.robots.txt list: agent -> {operator, respect, function, frequency, description}."""
    from charter.core.files import resource

    return json.loads(resource("optout/ai-robots.json").read_text(encoding="utf-8"))


# --- snapshots -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    domain: str
    kind: str
    fetched_at: str  # ISO 8601, UTC, seconds
    body: str
    source: str = ""  # the file (and line) it was read from

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Something a site's signal says that could not be read as written: malformed, unknown or conflicting."""

    domain: str
    kind: str  # malformed | unknown | conflict
    where: str  # file:line (or domain/file)
    message: str
    hint: str

    def to_json(self) -> dict:
        return {"domain": self.domain, "kind": self.kind, "where": self.where, "message": self.message, "hint": self.hint}


def normalize_domain(d: str) -> str | None:
    """A host as signals and records are matched: lower case, no port, no trailing dot, no leading ``www.``."""
    d = d.strip().lower().rstrip(".")
    if d.startswith("www."):
        d = d[4:]
    return d if DOMAIN.match(d) and len(d) <= 253 else None


def parse_time(v: object, where: str) -> str:
    """An ISO 8601 time (a date is midnight UTC; no zone is UTC) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if isinstance(v, _dt.datetime):
        t = v
    elif isinstance(v, _dt.date):
        t = _dt.datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        try:
            t = _dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"fetched_at {v!r} is not an ISO 8601 time", hint="write e.g. 2026-05-01 or 2026-05-01T12:00:00Z", where=where) from None
    else:
        raise InvalidInput(f"fetched_at must be a time, not {type(v).__name__}", hint="write e.g. 2026-05-01T12:00:00Z", where=where)
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return t.replace(microsecond=0).isoformat() + "Z"


def read_snapshots(path: Path, fetched_at: str | None = None) -> list[Snapshot]:
    """Snapshots from a folder ``DOMAIN/{robots.txt, tdmrep.json, headers.txt, *.html}`` (fetch time
    ``fetched_at``, else each file's modification time) or a JSON Lines / Parquet table of
    ``domain, fetched_at, kind, body``. Bad input raises InvalidInput naming the file (and line)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist", hint="pass a folder of DOMAIN/robots.txt... or a .jsonl/.parquet table")
    when = parse_time(fetched_at, "--fetched-at") if fetched_at else None
    if path.is_dir():
        out = _read_folder(path, when)
        if not out:
            raise UsageError(f"no snapshots in {path}", hint="pass a folder holding one folder per domain: DOMAIN/robots.txt, DOMAIN/tdmrep.json, "
                                                             "DOMAIN/headers.txt, DOMAIN/*.html")
        return out
    if path.suffix in (".jsonl", ".json"):
        return _read_jsonl(path)
    if path.suffix == ".parquet":
        return _read_parquet(path)
    raise UsageError(f"{path}: not a folder, .jsonl or .parquet", hint="pass a folder of DOMAIN/robots.txt... or a table of domain, fetched_at, kind, body")


def _text(data: bytes, where: str) -> str:
    if len(data) > MAX_BODY:
        raise InvalidInput(f"larger than {MAX_BODY // 2**20} MiB", hint="truncate it (robots.txt parsers read the first 500 KiB)", where=where)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InvalidInput(f"invalid UTF-8 at byte {e.start}", hint="re-encode the file as UTF-8", where=f"{where}:{line}") from None


def _read_folder(root: Path, when: str | None) -> list[Snapshot]:
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        domain = normalize_domain(d.name)
        if domain is None:
            raise InvalidInput(f"folder name {d.name!r} is not a domain", hint="name each folder after its site, e.g. example.com", where=str(d))
        for f in sorted(d.iterdir()):
            kind = FILES.get(f.name) or ("html" if f.suffix in (".html", ".htm") else None)
            if kind is None or not f.is_file():
                continue
            t = when or parse_time(_dt.datetime.fromtimestamp(f.stat().st_mtime, _dt.timezone.utc), str(f))
            out.append(Snapshot(domain, kind, t, _text(f.read_bytes(), str(f)), str(f)))
    return out


def _row(rec: object, where: str) -> Snapshot:
    if not isinstance(rec, dict):
        raise InvalidInput("a snapshot row must be an object {domain, fetched_at, kind, body}", hint="fix the row", where=where)
    missing = [k for k in ("domain", "fetched_at", "kind", "body") if rec.get(k) is None]
    if missing:
        raise InvalidInput(f"missing {', '.join(missing)}", hint="each row needs domain, fetched_at, kind, body", where=where, field=missing[0])
    if rec["kind"] not in KINDS:
        import difflib

        close = difflib.get_close_matches(str(rec["kind"]), KINDS, n=1)
        raise InvalidInput(f"unknown kind {rec['kind']!r}", hint=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(KINDS)}",
                           where=where, field="kind")
    if not isinstance(rec["domain"], str) or normalize_domain(rec["domain"]) is None:
        raise InvalidInput(f"{rec['domain']!r} is not a domain", hint="write the site's host, e.g. example.com", where=where, field="domain")
    body = rec["body"]
    if not isinstance(body, str):
        raise InvalidInput("body must be text", hint="store the file's content as a string", where=where, field="body")
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY:
        raise InvalidInput(f"body larger than {MAX_BODY // 2**20} MiB", hint="truncate it", where=where, field="body")
    return Snapshot(normalize_domain(rec["domain"]), rec["kind"], parse_time(rec["fetched_at"], where), body, where)


def _read_jsonl(path: Path) -> list[Snapshot]:
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{path}:{n}"
            try:
                rec = json.loads(_text(raw, str(path)), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
            except ValueError as e:
                raise InvalidInput(f"malformed JSON line: {getattr(e, 'msg', e)}", hint="fix the line", where=where) from None
            out.append(_row(rec, where))
    return out


def _read_parquet(path: Path) -> list[Snapshot]:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InvalidInput(f"not a readable Parquet file ({e})", hint="re-create the file", where=str(path)) from None
    return [_row(r, f"{path} (row {i})") for i, r in enumerate(rows, 1)]


# --- snapshots -> groups of path rules -------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    like: str  # the path pattern as a SQL LIKE pattern (escape: backslash)
    deny: bool
    text: str  # the pattern (or statement) as the reason names it


@dataclass(frozen=True)
class Group:
    """One signal: rules matched longest-first (the first rule that matches decides), and its members:
    (label, denied uses; ``("*",)`` is every use). ``reason`` formats a denial: ``{agent}``, ``{rule}``."""

    kind: str
    reason: str
    members: tuple[tuple[str, tuple[str, ...]], ...]
    rules: tuple[Rule, ...]
    fetched_at: str = ""

    def verdict(self, path: str) -> Rule | None:
        """The deciding rule for a normalised path (the SQL does the same); None when none matches."""
        for r in self.rules:
            if _like(path, r.like):
                return r
        return None


def robots_pattern(p: str) -> str:
    """A robots.txt path pattern (protego-quoted) as a LIKE pattern: ``*`` any run, a final ``$`` the end."""
    anchored = p.endswith("$")
    if anchored:
        p = p[:-1]
    body = "%".join(like_escape(s) for s in re.sub(r"\*+", "*", p).split("*"))
    return body if anchored else body + "%"


def _like(s: str, pat: str) -> bool:
    """SQL LIKE with backslash escapes, in Python (for tests and reports)."""
    return _like_rx(pat).fullmatch(s) is not None


@functools.lru_cache(maxsize=65536)
def _like_rx(pat: str) -> re.Pattern:
    rx, i = [], 0
    while i < len(pat):
        c = pat[i]
        if c == "\\" and i + 1 < len(pat):
            rx.append(re.escape(pat[i + 1]))
            i += 2
            continue
        rx.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(rx), re.S)


def quote_path(url: str) -> str:
    """The path and query protego matches robots rules against (its own normalisation)."""
    from protego._utils import _quote_path

    return _quote_path(url)


def _quote_pattern(p: str) -> str:
    from protego._utils import _quote_pattern

    return _quote_pattern(p)


def parse(s: Snapshot, smap: SignalMap) -> tuple[list[Group], list[Problem]]:
    """The groups of rules one snapshot states, and what could not be read in it."""
    problems: list[Problem] = []
    if s.kind == "robots":
        groups = _robots(s, smap, problems)
    elif s.kind == "tdmrep":
        groups = _tdmrep(s, smap, problems)
    elif s.kind == "headers":
        groups = _headers(s, smap, problems)
    else:
        groups = _html(s, smap, problems)
    return [Group(g.kind, g.reason, g.members, g.rules, s.fetched_at) for g in groups], problems


def _robots(s: Snapshot, smap: SignalMap, problems: list[Problem]) -> list[Group]:
    from protego import Protego

    rp = Protego.parse(s.body)
    groups: list[Group] = []
    sets: dict[int, tuple[object, list[str]]] = {}
    star = rp._user_agents.get("*")
    # a rule set other than `*` applies only to agents whose name holds its token: ask protego about those alone
    tokens = [ua for ua in rp._user_agents if ua != "*"]
    for agent in smap.agents:
        low = agent.lower()
        if not any(t in low for t in tokens):
            continue
        rs = rp._get_matching_rule_set(agent)
        if rs is None or rs is star:  # no rule set, or the `*` one (its group below denies every use)
            continue
        sets.setdefault(id(rs), (rs, []))[1].append(agent)

    def rules(rs) -> tuple[Rule, ...]:  # protego's own order: longest pattern first, allow before disallow
        return tuple(Rule(robots_pattern(r.value._pattern), r.field == "disallow", r.value._pattern) for r in rs._rules)

    if star is not None and star._rules:
        groups.append(Group("robots", "optout:robots:{agent}:{rule}", ((ALL, (ALL,)),), rules(star)))
    for rs, agents in sets.values():
        if rs._rules:
            groups.append(Group("robots", "optout:robots:{agent}:{rule}", tuple((a, smap.agent_uses(a)) for a in agents), rules(rs)))
    prefs = _robots_preferences(s, problems)
    groups += _preference_groups(s, smap, prefs, problems)
    return groups


_PREF_LINE = re.compile(r"^\s*(content-usage|content-signal)\s*:\s*(.*)$", re.I)


def _robots_preferences(s: Snapshot, problems: list[Problem]) -> list[tuple[str, str, str, int]]:
    """``Content-Usage:`` / ``Content-Signal:`` lines of a robots.txt: (directive, path, value, line).
    A first word starting with ``/`` is the path they apply to (else the whole site)."""
    out = []
    for n, line in enumerate(s.body.splitlines(), 1):
        line = line.split("#", 1)[0]
        m = _PREF_LINE.match(line)
        if not m:
            continue
        value = m.group(2).strip()
        path = "/"
        if value.startswith("/"):
            path, _, value = value.partition(" ")
            value = value.strip()
        if not value:
            problems.append(Problem(s.domain, "malformed", f"{s.source or s.domain}:{n}", f"{m.group(1)} without preferences",
                                    "write e.g. Content-Usage: train-ai=n"))
            continue
        out.append((m.group(1).lower(), path, value, n))
    return out


def _preference_groups(s: Snapshot, smap: SignalMap, prefs: Iterable[tuple[str, str, str, int]], problems: list[Problem]) -> list[Group]:
    """Content-Usage (IETF AI preferences: ``label=y|n``, a label without a value takes its parent's)
    and Content-Signal (Cloudflare: ``label=yes|no``) statements, as one group per label."""
    where0 = s.source or f"{s.domain}/{s.kind}"
    # label -> path -> [(deny, text, line)]
    stated: dict[tuple[str, str], dict[str, list[tuple[bool, str, int]]]] = {}
    for directive, path, value, n in prefs:
        where = f"{where0}:{n}" if n else where0
        usage = directive == "content-usage"
        vocab = smap.content_usage if usage else smap.content_signal
        yes, no = ("y", "n") if usage else ("yes", "no")
        own: dict[str, str] = {}
        for item in value.split(","):
            item = item.split(";", 1)[0].strip()  # structured-field parameters are ignored
            if not item:
                continue
            label, eq, v = (x.strip() for x in item.partition("="))
            label, v = label.lower(), v.lower().strip('"')
            if label not in vocab:
                problems.append(Problem(s.domain, "unknown", where, f"unknown {directive} category {label!r}",
                                        f"known: {', '.join(vocab)} (add it to the signals map to honour it)"))
                continue
            if not eq or v not in (yes, no):
                problems.append(Problem(s.domain, "malformed", where, f"{directive} {label} must be {yes} or {no}, not {v or 'empty'!r}",
                                        f"write {label}={no} or {label}={yes}"))
                continue
            if label in own and own[label] != v:
                problems.append(Problem(s.domain, "conflict", where, f"{directive} states {label} both {yes} and {no}",
                                        "state it once; read as the most restrictive"))
                v = no
            own[label] = v
        for label in vocab:
            src, v = label, own.get(label)
            parent = vocab[label][1] if usage else None
            while v is None and parent is not None:
                src, v, parent = parent, own.get(parent), smap.content_usage[parent][1]
            if v is not None:
                stated.setdefault((directive, label), {}).setdefault(_quote_pattern(path), []).append((v == no, f"{src}={v}", n))
    groups = []
    for (directive, label), by_path in stated.items():
        usage = directive == "content-usage"
        uses = smap.content_usage[label][0] if usage else smap.content_signal[label]
        rules = []
        for path, said in by_path.items():
            if len({d for d, _, _ in said}) > 1:
                problems.append(Problem(s.domain, "conflict", f"{where0}:{said[-1][2]}" if said[-1][2] else where0,
                                        f"{directive} says both yes and no for {label} at {path}", "read as the most restrictive: no"))
            deny = next((x for x in said if x[0]), said[0])
            rules.append(Rule(robots_pattern(path), deny[0], deny[1] if path == "/" else f"{path}:{deny[1]}"))
        rules.sort(key=lambda r: (-len(_unlike(r.like)), not r.deny))  # longest first; on a tie, deny first
        groups.append(Group(directive, f"optout:{directive}:{{rule}}", ((label, uses),), tuple(rules)))
    return groups


def _unlike(like: str) -> str:
    return like[:-1] if like.endswith("%") else like + "$"


def _tdm_group(s: Snapshot, smap: SignalMap, entries: list[tuple[str, bool, str | None, str]], problems: list[Problem], reason: str) -> list[Group]:
    """TDMRep entries (location pattern, reserved, policy, where) as one group per distinct list of denied uses."""
    by_uses: dict[tuple[str, ...], list] = {}
    resolved = []
    for loc, reserved, policy, where in entries:
        uses = smap.tdm_deny
        if reserved and policy:
            if policy in smap.tdm_policies:
                uses = smap.tdm_policies[policy]
            else:
                problems.append(Problem(s.domain, "unknown", where, f"tdm-policy {policy} is not in the signals map: the reservation denies {', '.join(uses)}",
                                        "read the policy and map it under tdmrep.policies in a signals map (--signals-map)"))
        resolved.append((loc, reserved, uses))
        by_uses.setdefault(uses, [])
    groups = []
    for uses in by_uses:
        rules = [Rule(robots_pattern(_quote_pattern(loc)), reserved and u == uses, loc) for loc, reserved, u in resolved]
        rules.sort(key=lambda r: (-len(_unlike(r.like)), not r.deny))
        if any(r.deny for r in rules):
            groups.append(Group("tdmrep", reason, (("tdm", uses),), tuple(rules)))
    return groups


def _tdmrep(s: Snapshot, smap: SignalMap, problems: list[Problem]) -> list[Group]:
    where = s.source or f"{s.domain}/{s.kind}"
    try:
        doc = json.loads(s.body, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except ValueError as e:
        line = getattr(e, "lineno", 0)
        problems.append(Problem(s.domain, "malformed", f"{where}:{line}" if line else where, f"tdmrep.json is not JSON ({getattr(e, 'msg', e)})",
                                "the site must serve a JSON array of {location, tdm-reservation, tdm-policy}; no TDMRep term is derived"))
        return []
    if not isinstance(doc, list):
        problems.append(Problem(s.domain, "malformed", where, "tdmrep.json must be a JSON array", "an array of {location, tdm-reservation, tdm-policy}"))
        return []
    entries = []
    for i, e in enumerate(doc):
        here = f"{where} [{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("location"), str) or e.get("tdm-reservation") not in (0, 1) or isinstance(e.get("tdm-reservation"), bool):
            problems.append(Problem(s.domain, "malformed", here, "a TDMRep rule needs location (text) and tdm-reservation (0 or 1)",
                                    "fix the entry; it is ignored"))
            continue
        loc = e["location"].strip()
        loc = loc if loc.startswith("/") else "/" + loc
        policy = e.get("tdm-policy")
        entries.append((loc, e["tdm-reservation"] == 1, policy if isinstance(policy, str) and policy else None, here))
    return _tdm_group(s, smap, entries, problems, "optout:tdmrep")


def _headers(s: Snapshot, smap: SignalMap, problems: list[Problem]) -> list[Group]:
    where = s.source or f"{s.domain}/{s.kind}"
    tdm: list[tuple[str, int]] = []
    policy = None
    prefs: list[tuple[str, str, str, int]] = []
    meta: list[tuple[str, int]] = []
    for n, line in enumerate(s.body.splitlines(), 1):
        if not line.strip() or (n == 1 and line.upper().startswith("HTTP/")):
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            problems.append(Problem(s.domain, "malformed", f"{where}:{n}", "not a header line", "write Name: value, one per line"))
            continue
        name, value = name.strip().lower(), value.strip()
        if name == "tdm-reservation":
            tdm.append((value, n))
        elif name == "tdm-policy":
            policy = value
        elif name in ("content-usage", "content-signal"):
            prefs.append((name, "/", value, n))
        elif name == "x-robots-tag":
            meta.append((value, n))
    groups = _preference_groups(s, smap, prefs, problems)
    for value, n in tdm:
        if value not in ("0", "1"):
            problems.append(Problem(s.domain, "malformed", f"{where}:{n}", f"tdm-reservation must be 0 or 1, not {value!r}", "ignored"))
    values = {v for v, _ in tdm if v in ("0", "1")}
    if len(values) > 1:
        problems.append(Problem(s.domain, "conflict", where, "tdm-reservation is both 0 and 1", "read as the most restrictive: 1"))
    if values:
        groups += _tdm_group(s, smap, [("/", "1" in values, policy, where)], problems, "optout:tdm-reservation")
    groups += _meta_groups(s, smap, meta, "x-robots-tag", problems, where)
    return groups


def _meta_groups(s: Snapshot, smap: SignalMap, values: list[tuple[str, int]], kind: str, problems: list[Problem], where: str) -> list[Group]:
    said: dict[str, int] = {}
    for value, n in values:
        # X-Robots-Tag may name a crawler first ("GPTBot: noai"): a site's statement to any crawler is read as to all
        if ":" in value.split(",", 1)[0]:
            value = value.split(":", 1)[1]
        for d in value.split(","):
            d = d.strip().lower()
            if d in smap.robots_meta:
                said.setdefault(d, n)
    return [Group(kind, f"optout:{kind}:{{rule}}", ((d, smap.robots_meta[d]),), (Rule("/%", True, d),)) for d in said]


class _Meta(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, int]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            if "name" in a and "content" in a:
                self.found.append((a["name"].strip().lower(), a["content"], self.getpos()[0]))


def _html(s: Snapshot, smap: SignalMap, problems: list[Problem]) -> list[Group]:
    where = s.source or f"{s.domain}/{s.kind}"
    p = _Meta()
    try:
        p.feed(s.body)
        p.close()
    except Exception as e:  # html.parser is lenient; anything it still refuses is reported, never raised
        problems.append(Problem(s.domain, "malformed", where, f"unreadable HTML ({e})", "no meta tag is read from it"))
        return []
    agents = {a.lower() for a in smap.agents}
    robots = [(c, n) for name, c, n in p.found if name == "robots" or name in agents]
    groups = _meta_groups(s, smap, robots, "robots-meta", problems, where)
    tdm = [(c.strip(), n) for name, c, n in p.found if name == "tdm-reservation"]
    policy = next((c.strip() for name, c, _ in p.found if name == "tdm-policy"), None)
    values = {v for v, _ in tdm if v in ("0", "1")}
    if values:
        groups += _tdm_group(s, smap, [("/", "1" in values, policy, where)], problems, "optout:tdm-reservation")
    return groups


# --- a domain's state over time, and the conflicts between its signals -----------------------------
@dataclass
class DomainState:
    domain: str
    valid_from: str  # the earliest fetch time of the snapshots in force
    groups: list[Group] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)


def states(snapshots: Sequence[Snapshot], smap: SignalMap, as_of: str = "now") -> tuple[list[DomainState], list[Problem]]:
    """Each domain's signals in force: with ``now``, the latest snapshot of each kind; with ``crawl``,
    every change (the latest of each kind at each fetch time), to be matched to each record's fetch time."""
    by_domain: dict[str, list[Snapshot]] = {}
    for s in snapshots:
        by_domain.setdefault(s.domain, []).append(s)
    parsed: dict[int, tuple[list[Group], list[Problem]]] = {}
    by_body: dict[tuple[str, str], tuple[list[Group], list[Problem]]] = {}  # sites serve the same files: parse each once
    out, problems = [], []
    for domain in sorted(by_domain):
        snaps = sorted(by_domain[domain], key=lambda s: (s.fetched_at, s.kind))
        times = sorted({s.fetched_at for s in snaps}) if as_of == "crawl" else [max(s.fetched_at for s in snaps)]
        for t in times:
            latest: dict[str, Snapshot] = {}
            for s in snaps:
                if s.fetched_at <= t:
                    latest[s.kind] = s
            st = DomainState(domain, t, snapshots=list(latest.values()))
            for s in latest.values():
                if id(s) not in parsed:
                    key = (s.kind, s.body)
                    if key not in by_body:
                        by_body[key] = parse(Snapshot("", s.kind, "", s.body, "\x00"), smap)  # "\x00": where the file's name goes
                    groups, probs = by_body[key]
                    where = s.source or f"{s.domain}/{s.kind}"
                    parsed[id(s)] = ([Group(g.kind, g.reason, g.members, g.rules, s.fetched_at) for g in groups],
                                     [Problem(s.domain, p.kind, p.where.replace("\x00", where), p.message, p.hint) for p in probs])
                    problems += parsed[id(s)][1]
                st.groups += parsed[id(s)][0]
            out.append(st)
        if as_of == "crawl":  # before the first snapshot: the earliest state (what is known closest to then)
            out[-len(times)].valid_from = "0001-01-01T00:00:00Z"
    return out, problems + _conflicts(out, smap)


def _conflicts(sts: list[DomainState], smap: SignalMap) -> list[Problem]:
    """A site that permits, in one signal, what another of its signals refuses (at the site root)."""
    out = []
    for st in sts:
        denied: dict[str, str] = {}
        permitted: dict[str, str] = {}
        for g in st.groups:
            r = g.verdict("/")
            if r is None:
                continue
            for label, uses in g.members:
                if uses == (ALL,) or g.kind == "robots":
                    continue
                for u in uses:
                    (denied if r.deny else permitted).setdefault(u, f"{g.kind} {r.text}")
        for u in sorted(denied.keys() & permitted.keys()):
            if denied[u].split(" ")[0] != permitted[u].split(" ")[0]:
                out.append(Problem(st.domain, "conflict", f"{st.domain} ({st.valid_from})",
                                   f"{permitted[u]} permits {u} but {denied[u]} refuses it", "read as the most restrictive: refused"))
    return out


# --- compiled for one request: the table DuckDB joins -----------------------------------------------
def relevant(g: Group, uses: Sequence[str], taxonomy: Taxonomy) -> str | None:
    """The first member of ``g`` whose denied uses overlap a requested use (its label), else None."""
    for label, denied in g.members:
        if denied == (ALL,) or any(taxonomy.overlap(d, u) for d in denied for u in uses):
            return label
    return None


def compile_rules(sts: Sequence[DomainState], uses: Sequence[str], taxonomy: Taxonomy, keep_empty: bool = False) -> tuple[list[dict], dict[str, dict]]:
    """Rows ``{domain, valid_from, groups: [[{like, reason}]]}`` for the domains with a signal relevant to
    ``uses`` (each rule's reason NULL when it permits; with ``keep_empty``, every state, so that a later
    state without such a signal overrides an earlier one), and the provenance of every reason
    (``{reason: {"fetched_at": [first, last], "domains": n}}``)."""
    rows, prov = [], {}
    for st in sts:
        gs = []
        for g in st.groups:
            label = relevant(g, uses, taxonomy)
            if label is None or not any(r.deny for r in g.rules):
                continue
            rules = []
            for r in g.rules:
                reason = g.reason.format(agent=label, rule=r.text) if r.deny else None
                rules.append({"like": r.like, "reason": reason})
                if reason:
                    p = prov.setdefault(reason, {"fetched_at": [g.fetched_at, g.fetched_at], "domains": set()})
                    p["fetched_at"] = [min(p["fetched_at"][0], g.fetched_at), max(p["fetched_at"][1], g.fetched_at)]
                    p["domains"].add(st.domain)
            gs.append(rules)
        if gs or keep_empty:
            rows.append({"domain": st.domain, "valid_from": st.valid_from, "groups": gs})
    return rows, {k: {"fetched_at": v["fetched_at"], "domains": len(v["domains"])} for k, v in sorted(prov.items())}


def verdict(sts_for_domain: Sequence[DomainState], url: str, uses: Sequence[str], taxonomy: Taxonomy) -> str | None:
    """The reason a record at ``url`` is excluded under one domain state (or None): what the SQL computes,
    in Python, for tests and reports."""
    path = quote_path(url)
    if path == "/robots.txt":
        return None
    for st in sts_for_domain:
        for g in st.groups:
            label = relevant(g, uses, taxonomy)
            if label is None:
                continue
            r = g.verdict(path)
            if r is not None and r.deny:
                return g.reason.format(agent=label, rule=r.text)
    return None


# --- SQL -------------------------------------------------------------------------------------------
def authority_sql(url: str) -> str:
    """A URL's authority (``user@host:port``), lower case, in SQL: one simple regular expression."""
    return f"lower(regexp_extract({url}, '^[A-Za-z][A-Za-z0-9+.\\-]*://([^/?#]*)', 1))"


def host_of(a: str) -> str:
    """The host in an authority column ``a`` as the rules table is keyed (the domain, or ``www.`` + the domain):
    user info, a port and a final dot cut off (by a second expression, only for the rare authorities that have them)."""
    return (f"CASE WHEN contains({a}, '@') OR contains({a}, ':') OR ends_with({a}, '.') "
            f"THEN regexp_extract({a}, '^(?:[^@]*@)?([^:]*?)\\.?(?::.*)?$', 1) ELSE {a} END")


def hosts_sql(view: str, alias: str = "s") -> str:
    """``view`` (with ``charter_url``) plus ``charter_domain``, as a subquery."""
    return (f"(SELECT s1.*, {host_of('s1.charter_authority')} AS charter_domain FROM "
            f"(SELECT s0.*, {authority_sql('s0.charter_url')} AS charter_authority FROM {view} s0) s1) {alias}")


def path_sql(url: str) -> str:
    """protego's ``_quote_path`` in SQL: path and query (no fragment), escapes other than %2F and %25
    decoded, then everything but unreserved characters and ``/ % =`` encoded (upper-case hex)."""
    rest = f"regexp_replace(split_part({url}, '#', 1), '^[A-Za-z][A-Za-z0-9+.\\-]*://[^/?#]*', '')"
    slash = f"CASE WHEN starts_with({rest}, '/') THEN {rest} ELSE '/' || {rest} END"
    kept = f"regexp_replace(regexp_replace({slash}, '%25', '%2525', 'g'), '%2[fF]', '%252F', 'g')"
    decoded = f"coalesce(TRY(url_decode({kept})), {kept})"
    return f"replace(replace(replace(url_encode({decoded}), '%2F', '/'), '%3D', '='), '%25', '%')"


def reason_sql(path: str, groups: str) -> str:
    """The first denying group's reason for a normalised ``path``: in each group the first rule whose LIKE
    pattern matches decides (NULL reason: permitted)."""
    first = f"list_filter(g, lambda r: {path} LIKE r.like ESCAPE '\\')[1].reason"
    return f"CASE WHEN {path} = '/robots.txt' THEN NULL ELSE list_filter(list_transform({groups}, lambda g: {first}), lambda x: x IS NOT NULL)[1] END"


SIGNAL = "charter_signal"
RULES_TABLE = "charter_signal_rules"


def register_rules(con, rows: list[dict], as_of: str) -> None:
    """The compiled rules as a DuckDB table ``charter_signal_rules(domain, valid_from, groups)``."""
    import pyarrow as pa

    rule = pa.struct([("like", pa.string()), ("reason", pa.string())])
    rows = rows + [{**r, "domain": "www." + r["domain"]} for r in rows]  # records are matched by host: both spellings
    t = pa.table({
        "domain": pa.array([r["domain"] for r in rows], pa.string()),
        "valid_from": pa.array([_dt.datetime.fromisoformat(r["valid_from"].rstrip("Z")) for r in rows], pa.timestamp("s")),
        "groups": pa.array([r["groups"] for r in rows], pa.list_(pa.list_(rule))),
    })
    con.register(f"{RULES_TABLE}_arrow", t)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RULES_TABLE} AS SELECT * FROM {RULES_TABLE}_arrow ORDER BY domain, valid_from")
    con.unregister(f"{RULES_TABLE}_arrow")


def fetched_sql(col: str) -> str:
    """A record's fetch time (text) as a UTC TIMESTAMP, as parse_time reads it: an offset or ``Z`` is honoured,
    none is UTC; NULL when unreadable."""
    return (f"CASE WHEN regexp_matches({col}, '[T ][0-9:.]+(Z|[+-][0-9][0-9](:?[0-9][0-9])?)$') "
            f"THEN timezone('UTC', TRY_CAST({col} AS TIMESTAMPTZ)) ELSE TRY_CAST({col} AS TIMESTAMP) END")


def wrap_view(con, view: str, as_of: str) -> str:
    """A view over a shard view (with ``charter_url``, ``source_row`` and, for ``crawl``,
    ``charter_fetched_at``) adding ``charter_signal``: the reason its site's signals exclude the record, or
    NULL. The reasons are computed in one pass and kept for the excluded records only (a small table the
    later passes join by ``source_row``); only records of a domain with signals have their path normalised."""
    out, table = f"{view}_signals", f"{view}_signal_reasons"
    if as_of == "crawl":
        join = (f"ASOF JOIN {RULES_TABLE} d ON d.domain = s.charter_domain "
                f"AND coalesce({fetched_sql('s.charter_fetched_at')}, TIMESTAMP '9999-12-31') >= d.valid_from")
    else:
        join = f"JOIN {RULES_TABLE} d ON d.domain = s.charter_domain"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT source_row, {reason_sql('charter_path', 'charter_groups')} AS {SIGNAL}
        FROM (SELECT s.source_row, d.groups AS charter_groups, {path_sql('s.charter_url')} AS charter_path
              FROM {hosts_sql(view)} {join}
              WHERE len(d.groups) > 0)
        WHERE {SIGNAL} IS NOT NULL""")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {out} AS SELECT s.*, r.{SIGNAL} FROM {view} s LEFT JOIN {table} r USING (source_row)")
    return out


def digest(snapshots: Sequence[Snapshot]) -> str:
    """What a curation's config records of the signals it honoured."""
    h = hashlib.sha256()
    for s in sorted(snapshots, key=lambda s: (s.domain, s.kind, s.fetched_at, s.sha256)):
        h.update(f"{s.domain}\t{s.kind}\t{s.fetched_at}\t{s.sha256}\n".encode())
    return h.hexdigest()


# --- the report: shares of records and tokens per signal -------------------------------------------
def snapshots_of(store, at: str | None = None) -> list[Snapshot]:
    """Stored snapshots (fetched at or before ``at``, if given) as Snapshots."""
    at = parse_time(at, "--at") if at else None
    return [Snapshot(r.domain, r.kind, r.fetched_at, r.body, r.source) for r in store.signals() if at is None or r.fetched_at <= at]


def report_rows(sts: Sequence[DomainState]) -> list[dict]:
    """Every group's every member as its own group, reasons ``kind|label`` (for counting, not for deciding)."""
    rows = []
    for st in sts:
        gs = []
        for g in st.groups:
            for label, _ in g.members:
                key = f"{g.kind}|{label}"
                gs.append([{"like": r.like, "reason": key if r.deny else None} for r in g.rules])
        if gs:
            rows.append({"domain": st.domain, "valid_from": st.valid_from, "groups": gs})
    return rows


def report(con, views: Sequence[str], sts: Sequence[DomainState]) -> dict:
    """Over the records of ``views`` (shard views with ``text`` and ``charter_url``): how many records and
    tokens (whitespace-separated words) each signal refuses, per kind and per label (crawler, category):
    a record counts once per label that refuses it, and once per kind."""
    register_rules(con, report_rows(sts), "now")
    parts = []
    for v in views:
        parts.append(f"""SELECT coalesce(len(string_split_regex(trim(text), '\\s+')) * (length(trim(text)) > 0)::INT, 0) AS tokens,
            CASE WHEN path IS NULL THEN []::VARCHAR[] ELSE list_distinct(list_filter(list_transform(groups, lambda g:
                list_filter(g, lambda r: path LIKE r.like ESCAPE '\\')[1].reason), lambda x: x IS NOT NULL)) END AS reasons
            FROM (SELECT s.text, d.groups, CASE WHEN d.groups IS NULL THEN NULL ELSE {path_sql('s.charter_url')} END AS path
                  FROM {hosts_sql(v)} LEFT JOIN {RULES_TABLE} d ON d.domain = s.charter_domain)""")
    union = " UNION ALL ".join(parts)
    con.execute(f"CREATE OR REPLACE TEMP TABLE charter_report AS {union}")
    total, tokens = con.execute("SELECT count(*), coalesce(sum(tokens), 0) FROM charter_report").fetchall()[0]
    by_label = con.execute("""SELECT r, count(*), sum(tokens) FROM (SELECT unnest(reasons) AS r, tokens FROM charter_report) GROUP BY r""").fetchall()
    by_kind = con.execute("""SELECT k, count(*), sum(tokens) FROM (SELECT unnest(list_distinct(list_transform(reasons, lambda x: split_part(x, '|', 1)))) AS k, tokens
                             FROM charter_report) GROUP BY k""").fetchall()
    any_ = con.execute("SELECT count(*), coalesce(sum(tokens), 0) FROM charter_report WHERE len(reasons) > 0").fetchall()[0]

    def share(n, t) -> dict:
        return {"records": n, "tokens": int(t or 0), "share_records": round(n / total, 6) if total else 0.0,
                "share_tokens": round(int(t or 0) / tokens, 6) if tokens else 0.0}

    return {"records": total, "tokens": int(tokens), "any": share(*any_),
            "kinds": {k: share(n, t) for k, n, t in sorted(by_kind)},
            "labels": {r: share(n, t) for r, n, t in sorted(by_label, key=lambda x: (-x[1], x[0]))},
            "domains": len({st.domain for st in sts})}


def compare(a: dict, b: dict) -> dict:
    """The change in each share between two reports (b - a), in percentage points of records."""
    out = {}
    for section in ("kinds", "labels"):
        keys = sorted(set(a[section]) | set(b[section]))
        out[section] = {k: round(100 * (b[section].get(k, {}).get("share_records", 0.0) - a[section].get(k, {}).get("share_records", 0.0)), 3)
                        for k in keys}
    out["any"] = round(100 * (b["any"]["share_records"] - a["any"]["share_records"]), 3)
    return out
