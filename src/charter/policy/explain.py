"""Reasons and decisions as text, in one place: the CLI prints these lines, the gateway's refusals and the web view
show them (a reason read back from JSON, an audit record's, goes through ``Reason.from_json`` first).

Plain text (no markup): a caller that prints through rich escapes it, a web page sets it as text.
"""

from __future__ import annotations


def reason_head(r) -> str:
    """What blocks which use, and where the rule comes from (one line)."""
    if r.rule == "withdrawn":
        return f"withdrawn: {r.asset} ({r.detail.removeprefix('withdrawn: ')})"
    if r.rule == "deny":
        # a restriction's reason, and an unmapped licence's (it forbids nothing: it is unknown), read as their detail
        own = r.source == "restriction" or (r.source.startswith("license:") and "is not in the licence table" in r.detail)
        cite = f"; {r.cite}" if r.cite else ""
        return f"deny {r.use}: {r.detail}" if own else f"deny {r.use}: {r.asset} denies {r.entries[0]} ({r.source}{cite})"
    if r.rule in ("property-missing", "property-unmet", "condition"):
        return f"{r.rule} {r.use}: {r.detail}"
    if r.rule == "not-declared":  # the gateway's: a use asked in the request header that the application did not declare
        return f"not-declared {r.use}: {r.detail}"
    if r.rule == "not-deployed":  # the gateway's: a model other than the one the application is deployed from
        return f"not-deployed: {r.detail}"
    if r.rule == "undeclared-facet":
        return f"undeclared-facet {r.use}: {r.asset} permits only {', '.join(r.entries)} ({r.source}); declare a {r.use} use"
    cite = f"; {r.cite}" if r.cite else ""
    return f"allow-only {r.use}: {r.asset} permits only {', '.join(r.entries)} ({r.source}{cite})"


def reason_path(r) -> str:
    """The lineage path from the asked asset to the one imposing the rule."""
    return " -> ".join(r.path)


def reason_text(r) -> str:
    """One reason as two lines: what blocks which use, then the lineage path."""
    return f"{reason_head(r)}\n      path: {reason_path(r)}"


def reason_line(r) -> str:
    """One reason on one line, its path in brackets: a refusal's message (the gateway's error)."""
    return f"{reason_head(r)} (path: {reason_path(r)})"


def refusal_line(d, lead: str) -> str:
    """A denied decision on one line, for an error message: LEAD, how many reasons, the first one with its path."""
    n = len(d.reasons)
    return f"{lead}: {n} reason{'s' * (n != 1)}; first: {reason_line(d.reasons[0])}"


def verdict_line(d) -> str:
    """The decision's first line: ALLOWED, or DENIED with the number of reasons."""
    uses = ", ".join(d.uses)
    if d.allowed:
        return f"ALLOWED {d.asset} for {uses}"
    return f"DENIED {d.asset} for {uses}: {len(d.reasons)} reason{'s' * (len(d.reasons) != 1)}"


def conditions_text(d) -> list[tuple[str, str]]:
    """An allowed decision's licence conditions, each once: (what it requires, whose licence sets it)."""
    held: dict[tuple, list] = {}
    for c in d.conditions:  # one condition set by several assets' licences (a fine-tune and its base): once
        held.setdefault((c.condition, c.text, c.cite, c.license), []).append(c.asset)
    out = []
    for (cid, text, cite, lic), assets in held.items():
        cite = f" ({cite})" if cite else ""
        out.append((f"on condition {cid}: {text}{cite}", f"licence {lic} of {', '.join(assets)}"))
    return out
