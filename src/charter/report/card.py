"""The specification card: an asset's charter as a Hugging Face-style card (Markdown with YAML
front matter), generated from the registry alone, so it is never out of date.

It covers the asset's evaluated properties (with CIs, dates, versions), the uses it permits and
prohibits (each with where the rule comes from: its own charter, a licence, or inherited along
which chain), property requirements, duties owed upstream, a lineage summary and the data-consent
summary of every curated dataset upstream.
"""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from dataclasses import dataclass

import yaml

from charter.core.assets import Asset, licence_free
from charter.policy.decide import Request, decide
from charter.registry import Registry

# Relations that make an upstream asset a base model or a training dataset (HF metadata fields).
BASE_RELATIONS = ("fine-tuned-from", "adapter-of", "quantized-from", "merged-from", "distilled-from", "deployed-from")
DATA_RELATIONS = ("trained-on", "curated-from", "trained-on-outputs-of")


@dataclass(frozen=True)
class UseVerdict:
    use: str
    facet: str
    permitted: bool
    why: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...]  # (imposing asset, source, path, rule, entries) per blocking rule
    conditional: bool = False  # permitted only under a licence condition the user attests (## Conditions)
    reasons: tuple = ()  # the decision's Reason for each entry of ``why`` (same order): its text is policy.explain's


def verdicts(reg: Registry, asset_id: str) -> list[UseVerdict]:
    """Every use of the taxonomy (facets excluded), judged alone by the decision rule. A request
    names one use, so rules about *other* facets (undeclared-facet) and property requirements
    (listed separately) are set aside: what remains is what the charter says of this use."""
    lineage = reg.lineage(asset_id)
    tax = reg.taxonomy
    out = []
    for u in tax.order:
        if tax.facet[u] == u:
            continue
        d = decide(Request(asset_id, (u,)), lineage, tax, reg.licenses)
        first: dict[tuple, object] = {}
        for r in d.reasons:
            if r.rule in ("deny", "allow-only", "withdrawn"):
                first.setdefault((r.asset, r.source, r.path, r.rule, r.entries), r)
        why = tuple(first)
        out.append(UseVerdict(u, tax.facet[u], not why, why, any(r.rule == "condition" for r in d.reasons), tuple(first.values())))
    return out


def card(reg: Registry, ref: str) -> str:
    a = reg.get(ref)
    eff = reg.effective(a.id)
    props = sorted(reg.properties(a.id).values(), key=lambda p: (p.benchmark, p.metric))
    judged = verdicts(reg, a.id)
    up = reg.trace(a.id, down=False)
    down = reg.trace(a.id, down=True)
    ups = reg.store.get_many([h.asset for h in up])
    wd = reg.withdrawals()
    front = _front_matter(reg, a, props, judged, ups)
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=120).rstrip(), "---", "",
             f"# {a.id}", ""]
    if a.description:
        lines += [a.description, ""]
    lines += [f"Kind: {a.kind}. Licence: {_licence_text(a, reg)}. Content hash: `{a.content_hash}`.", ""]
    if a.public_key:
        owner = a.notes.get("owner")
        lines += [f"Owner: {owner}. " * bool(owner) + f"Public key: `{a.public_key}`.", ""]
    if a.id in wd:
        lines += [f"> **Withdrawn** {wd[a.id].time[:10]}: {wd[a.id].reason}", ""]
    lines += _properties(props, a.id)
    lines += _uses(judged, a.id, _cites(eff))
    lines += _conditions(eff["conditions"], a)
    lines += _requirements(eff["requires"], a.id)
    lines += _duties(eff["duties"], a.id)
    lines += _lineage(a, up, down, ups, wd)
    lines += _contributors(reg.contributors(a.id), a.id)
    lines += _consent(reg, a, ups)
    from charter.report.transparency import markdown, transparency

    lines += markdown(transparency(reg, a.id))
    lines += [f"_Generated from the registry by `charter card` on {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}._", ""]
    return "\n".join(lines)


def _front_matter(reg: Registry, a: Asset, props, judged: list[UseVerdict], ups: dict[str, Asset]) -> dict:
    bases = [e.parent for e in a.derived_from if e.relation in BASE_RELATIONS]
    data = [u for u, x in ups.items() if x.kind == "dataset" and any(e.parent == u and e.relation in DATA_RELATIONS for e in a.derived_from)]
    front: dict = {"charter_id": a.id}
    if a.licenses:
        front["license"] = a.licenses[0].lower() if len(a.licenses) == 1 else "other"
        front["charter_licenses"] = list(a.licenses)
    if bases:
        front["base_model"] = bases
    if data:
        front["datasets"] = data
    front["tags"] = ["charter", a.kind]
    front["charter"] = {
        "permitted": [v.use for v in judged if v.permitted],
        "prohibited": [v.use for v in judged if not v.permitted],
    }
    if props:
        by_bench: dict[str, list] = defaultdict(list)
        for p in props:
            by_bench[p.benchmark].append(p)
        front["model-index"] = [{"name": a.name, "results": [
            {"task": {"type": "bias-evaluation"}, "dataset": {"name": b, "type": b, "revision": ps[0].version},
             "metrics": [{"type": p.metric, "value": round(p.value, 6), **({"ci95": [round(p.ci[0], 6), round(p.ci[1], 6)]} if p.ci else {})}
                         for p in ps]} for b, ps in by_bench.items()]}]
    return front


def _origin(asset: str, path: tuple[str, ...] | list[str], asked: str) -> str:
    return "own charter" if asset == asked else "inherited via " + " → ".join(path)


def _src(source: str) -> str:
    return {"uses.deny": "deny list", "uses.allow": "allow list", "restriction": "restriction", "withdrawal": "withdrawal"}.get(
        source, source.replace("license:", "licence "))


def _properties(props, asked: str) -> list[str]:
    out = ["## Properties", ""]
    if not props:
        return out + ["Not evaluated yet (`charter eval`).", ""]
    out += ["| benchmark | metric | value | 95% CI | n | version | date | of |", "|---|---|---:|---|---:|---|---|---|"]
    for p in props:
        ci = f"[{p.ci[0]:.4g}, {p.ci[1]:.4g}]" if p.ci else "–"
        out.append(f"| {p.benchmark} | {p.metric} | {p.value:.4g} | {ci} | {p.n} | {p.version} | {p.time[:10]} | {'this' if p.asset == asked else p.asset} |")
    return out + [""]


def _cites(eff: dict) -> dict[tuple[str, str, str], str]:
    """(imposing asset, source, use) -> the licence clause cited for that deny/allow entry."""
    return {(x["asset"], x["source"], x["use"]): x["cite"] for k in ("deny", "allow") for x in eff[k] if x.get("cite")}


def _conditions(conds: list[dict], a: Asset) -> list[str]:
    """Uses a licence upstream permits only under a condition the user attests (`charter can --attest ID`)."""
    if not conds:
        return []
    out = ["## Conditions", "", "Uses permitted only when the condition holds; a request attests it with `--attest ID` "
           "(or an application's charter with `attest:`), and the decision records it.", ""]
    by: dict[tuple, list[dict]] = {}
    for c in conds:  # one condition repeated by several assets' licences (a fine-tune and its base): once
        by.setdefault((c["id"], c["use"], c["text"], c.get("cite") or "", c["source"]), []).append(c)
    for (cid, use, text, cite, source), cs in by.items():
        held = " **(attested by this asset's charter)**" if cid in a.attest else ""
        where = "; ".join(f"`{c['asset']}` ({_origin(c['asset'], c['path'], a.id)})" for c in cs)
        out.append(f"- **{use}** if {text}{f' ({cite})' if cite else ''} — `{cid}`, {_src(source)} of {where}{held}")
    return out + [""]


def _uses(judged: list[UseVerdict], asked: str, cites: dict | None = None) -> list[str]:
    out = ["## Uses", "", "Each use of the taxonomy judged alone by the decision rule (`charter can` checks combinations).", ""]
    by_facet: dict[str, list[UseVerdict]] = defaultdict(list)
    for v in judged:
        by_facet[v.facet].append(v)
    out += ["### Permitted", ""]
    for facet, vs in by_facet.items():
        ok = [v.use for v in vs if v.permitted]
        label = "every use" if len(ok) == len(vs) else ", ".join(ok) if ok else "none"
        cond = [v.use for v in vs if v.permitted and v.conditional]
        out.append(f"- **{facet}**: {label}" + (f" ({', '.join(cond)} only under the conditions below)" if cond else ""))
    out += ["", "### Prohibited", ""]
    # One line per rule: a deny entry covers the use and everything under it (and blocks a broader
    # request that includes it); an allow list permits only its entries in their facet.
    groups: dict[tuple, dict[str, None]] = defaultdict(dict)
    for v in judged:
        for imposer, source, path, rule, entries in v.why:
            for e in entries or (v.use,):
                groups[(imposer, source, path, rule)][e] = None
    facets = {v.use: v.facet for v in judged}
    if not groups:
        out.append("Nothing along its lineage prohibits a use.")
    for (imposer, source, path, rule), entries in sorted(groups.items(), key=lambda kv: (len(kv[0][2]), kv[0][0], kv[0][1])):
        by = f"{_src(source)} of `{imposer}` ({_origin(imposer, path, asked)})"
        if rule == "allow-only":
            facet = facets.get(next(iter(entries)), "its facet")
            out.append(f"- {facet}: only {', '.join(entries)} — {by}")
        elif rule == "withdrawn":
            out.append(f"- every use — withdrawn: `{imposer}` ({_origin(imposer, path, asked)})")
        else:
            cited = sorted({c for e in entries if (c := (cites or {}).get((imposer, source, e)))})
            out.append(f"- {', '.join(entries)} — {by}" + (f" [{'; '.join(cited)}]" if cited else ""))
    return out + [""]


def _requirements(reqs: list[dict], asked: str) -> list[str]:
    if not reqs:
        return []
    out = ["## Property requirements", "", "| use | requirement | status | set by |", "|---|---|---|---|"]
    for r in reqs:
        bound = " and ".join([f"{op} {r[k]:g}" for k, op in (("min", "≥"), ("max", "≤")) if k in r]
                             + ([f"\\|value\\| ≤ {r['abs_max']:g}"] if "abs_max" in r else [])
                             + ([f"95% CI within [{r['ci_within'][0]:g}, {r['ci_within'][1]:g}]"] if "ci_within" in r else [])
                             + ([f"n ≥ {r['min_n']}"] if "min_n" in r else []))
        value = f" ({r['value']:.4g}" + (f", CI [{r['ci'][0]:.3g}, {r['ci'][1]:.3g}]" if r.get("ci") else "")
        value = value + (f", n = {r['n']}" if "n" in r else "") + ")" if r["value"] is not None else ""
        why = [w.replace("|", "\\|") for w in r.get("unmet", ()) if not w.startswith(f"{r['metric']} = ")]  # n / CI
        value += ": " + "; ".join(why) if why else ""
        out.append(f"| {r['use']} | {r['benchmark']}.{r['metric']} {bound} | {r['status']}{value} | `{r['asset']}` ({_origin(r['asset'], r['path'], asked)}) |")
    return out + ["", "A use whose requirement is unmet or not evaluated is denied (rules `property-unmet`, `property-missing`).", ""]


def _duties(duties: list[dict], asked: str) -> list[str]:
    out = ["## Duties", ""]
    if not duties:
        return out + ["None.", ""]
    by_duty: dict[str, list[dict]] = defaultdict(list)
    for d in duties:
        by_duty[d["duty"]].append(d)
    for duty, ds in by_duty.items():
        owed = sorted({(d["asset"], _src(d["source"])) for d in ds})
        out.append(f"- **{duty}** owed to: " + "; ".join(f"`{x}` ({s})" for x, s in owed))
        for t in dict.fromkeys((d["text"], d.get("cite", "")) for d in ds if d.get("text")):
            out.append(f"  - {t[0]}" + (f" ({t[1]})" if t[1] else ""))
    return out + [""]


def _lineage(a: Asset, up, down, ups: dict[str, Asset], wd: dict) -> list[str]:
    out = ["## Lineage", "", f"{len(up)} assets upstream, {len(down)} downstream.", ""]
    rel = {e.parent: e.relation for x in [a, *ups.values()] for e in x.derived_from}
    for h in up[:50]:
        x = ups.get(h.asset)
        mark = " **(withdrawn)**" if h.asset in wd else ""
        lic = ", ".join(x.licenses) if x and x.licenses else "no licence" if licence_free(h.asset) else "unspecified"
        out.append(f"- {'  ' * 0}depth {h.depth}: `{h.asset}` ({rel.get(h.asset, '')}; {lic}){mark}")
    if len(up) > 50:
        out.append(f"- … and {len(up) - 50} more (`charter trace {a.id} --up`)")
    return out + [""]


def _licence_text(a: Asset, reg: Registry | None = None) -> str:
    if a.licenses:
        return ", ".join(a.licenses) + _unknown_note(a, reg)
    return f"none ({a.kind} carries no licence; its own terms apply)" if licence_free(a.id) else "unspecified (commercial use not permitted)"


def _unknown_note(a: Asset, reg: Registry | None) -> str:
    return "" if reg is None else reg.licenses.note(a.licenses)


def _contributors(contrib: list[dict], asked: str) -> list[str]:
    """The compute lent to train it (or a model upstream), each under its owner's terms: ``trained-with``
    edges (registry.contributors); samples and steps where the training run recorded them."""
    if not contrib:
        return []
    out = ["## Contributors", "", "Compute lent to train it or a model upstream (relation `trained-with`); the owner's terms are inherited like any charter.", "",
           "| compute | owner | trained | samples | steps |", "|---|---|---|---:|---:|"]
    for c in contrib:
        n = {k: f"{c[k]:,}" if c[k] is not None else "–" for k in ("samples", "steps")}
        trained = "this" if c["model"] == asked else f"`{c['model']}`"
        owner = str(c["owner"] or "–").replace("|", "\\|")  # a table cell
        out.append(f"| `{c['compute']}` | {owner} | {trained} | {n['samples']} | {n['steps']} |")
    return out + [""]


def _consent(reg: Registry, a: Asset, ups: dict[str, Asset]) -> list[str]:
    from charter.data.owners import withdrawn_records

    curated = [x for x in [a, *ups.values()] if "curation" in x.notes]
    # only the datasets in this asset's lineage are counted (not every dataset in the registry)
    held = withdrawn_records(reg, a.id)
    per = {d["asset"]: d for d in held["datasets"]}
    out = ["## Data consent", ""]
    for x in curated:
        c = x.notes["curation"]
        out.append(f"- `{x.id}`, curated for {', '.join(c['uses'])}: {c['output']:,} of {c['input']:,} records kept.")
        terms = (c.get("signals") or {}).get("terms") or {}
        for reason, n in sorted(c["excluded"].items(), key=lambda kv: -kv[1]):
            t = terms.get(reason)
            when = "" if not t else (f" (the site's signal as fetched {t['fetched_at'][0]}" if t["domains"] == 1 else
                                     f" ({t['domains']:,} sites' signals, fetched {t['fetched_at'][0]} to {t['fetched_at'][1]}") + \
                f"; honoured as of {c['signals']['as_of']})"
            out.append(f"  - {n:,} excluded: {reason}{when}")
        if x.id in per:
            d = per[x.id]
            out.append(f"  - **{d['records']:,} kept records belong to owners who have since withdrawn consent** ({_owners(d)}); adapt and train exclude them from now on")
    for d in held["datasets"]:
        if not d["curated"]:
            out.append(f"- `{d['asset']}`: **{d['records']:,} records belong to owners who have withdrawn consent** ({_owners(d)}); "
                       "curate, adapt and train exclude them from now on.")
    for d in held["unreadable"]:
        out.append(f"- `{d['asset']}`: could not be read to count withdrawn owners' records ({d['error']}).")
    if len(out) == 2:
        return out + ["No dataset in its lineage was curated by charter or holds records of owners who withdrew consent.", ""]
    return out + [""]


def _owners(d: dict) -> str:
    return f"{d['owners']:,} owner{'s' * (d['owners'] != 1)}"
