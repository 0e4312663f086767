"""The Foundation Model Transparency Index indicators a registry can answer (issue 17 §4).

FMTI (Bommasani et al., 2023; 100 indicators in three domains) asks what a developer discloses. Charter can
answer the indicators that its charters, lineage, evaluations, gateway and history record: each is yes or
no with the evidence (asset, field) it rests on. The indicators it cannot answer from a registry (model
size, energy, labour, red teaming, ...) are listed, never guessed. ``score``: yes over the answerable
indicators, and over all indicators considered (answerable + unanswerable)."""

from __future__ import annotations

from dataclasses import dataclass, field

from charter.registry import Registry

BIAS_BENCHMARKS = ("bbq", "crows-pairs", "stereoset", "winobias", "winogender", "bold")

UNANSWERABLE = {
    "upstream": ["data size", "data creators and their labour (wages, instructions)", "data augmentation and synthetic data share",
                 "harmful data filtration method", "compute usage (FLOPs)", "hardware and its owner beyond volunteer compute",
                 "energy use and carbon emissions", "development duration"],
    "model": ["model architecture", "model size (parameters)", "capabilities demonstrations", "red teaming and adversarial evaluation",
              "mitigations of risks and their evaluation", "trustworthiness evaluation by third parties"],
    "downstream": ["distribution channels and market share", "user data protection", "user feedback mechanism", "affected individuals and sectors",
                   "government and law-enforcement requests"],
}


@dataclass
class Indicator:
    domain: str
    name: str
    answer: bool
    evidence: list[dict] = field(default_factory=list)  # [{"asset", "field", "value"?}]
    note: str = ""

    def to_json(self) -> dict:
        return {"domain": self.domain, "indicator": self.name, "answer": "yes" if self.answer else "no", "evidence": self.evidence, "note": self.note}


def transparency(reg: Registry, ref: str) -> dict:
    aid = reg.resolve(ref)
    a = reg.get(aid)
    lineage = reg.lineage(aid)
    ups = reg.store.get_many([u.asset.id for u in lineage])
    members = [ups[u.asset.id] for u in lineage if u.asset.id in ups]
    datasets = [x for x in members if x.kind == "dataset"]
    eff = reg.effective(aid)
    props = reg.properties(aid)
    out: list[Indicator] = []

    def ind(domain: str, name: str, evidence: list[dict], note_yes: str = "", note_no: str = "", answer: bool | None = None) -> None:
        ok = bool(evidence) if answer is None else answer
        out.append(Indicator(domain, name, ok, evidence, note_yes if ok else note_no))

    # --- upstream
    ind("upstream", "data sources", [{"asset": x.id, "field": "derived_from"} for x in datasets],
        f"{len(datasets)} dataset(s) in its lineage", "no dataset in its registered lineage")
    unlicensed = [x.id for x in datasets if not x.licenses]
    ind("upstream", "data licences", [{"asset": x.id, "field": "license", "value": list(x.licenses)} for x in datasets if x.licenses],
        "every dataset names its licence" if not unlicensed else "", f"unlicensed: {', '.join(unlicensed[:5])}" if unlicensed else "no dataset",
        answer=bool(datasets) and not unlicensed)
    consent = [{"asset": x.id, "field": "notes.curation", "value": x.notes["curation"].get("excluded", {})} for x in members if "curation" in x.notes]
    consent += [{"asset": x.id, "field": "data.fields"} for x in datasets if isinstance(x.data.get("fields"), dict)
                and {"allow", "deny", "owner"} & set(x.data["fields"])]
    ind("upstream", "consent handling (record tags, owner withdrawals)", consent,
        "curated by charter: records excluded by their contributors' tags and withdrawals are counted", "no dataset curated with record-level consent")
    contrib = reg.contributors(aid)
    ind("upstream", "compute contributors", [{"asset": c["model"], "field": "notes.contributors", "value": {"compute": c["compute"], "samples": c["samples"]}}
                                             for c in contrib], "", "no trained-with compute in its lineage")
    curated = [{"asset": x.id, "field": "notes.curation.manifest", "value": x.notes["curation"].get("manifest")} for x in members if "curation" in x.notes]
    ind("upstream", "data curation and filtering", curated, "", "no curation manifest in its lineage")
    # --- model
    ind("model", "licence", [{"asset": aid, "field": "license", "value": list(a.licenses)}] if a.licenses else [], "", "no licence named")
    ind("model", "evaluations of properties", [{"asset": p.asset, "field": f"properties.{b}.{m}", "value": p.value} for (b, m), p in sorted(props.items())],
        "", "no evaluation attached")
    bias = [{"asset": p.asset, "field": f"properties.{b}.{m}", "value": p.value} for (b, m), p in sorted(props.items()) if b in BIAS_BENCHMARKS]
    ind("model", "bias and risk evaluations", bias, "", "no bias benchmark evaluated")
    ind("model", "intended uses", [{"asset": x["asset"], "field": x["source"], "value": x["use"]} for x in eff["allow"]],
        "", "no allow list: every use not denied is permitted")
    ind("model", "prohibited uses", [{"asset": x["asset"], "field": x["source"], "value": x["use"]} for x in eff["deny"]], "", "no use denied")
    ind("model", "requirements before use", [{"asset": x["asset"], "field": "requires", "value": f"{x['benchmark']}.{x['metric']} for {x['use']}"}
                                              for x in eff["requires"]], "", "no property requirement")
    w = a.notes.get("weights") if isinstance(a.notes.get("weights"), dict) else None
    digests = [{"asset": x.id, "field": "data.digests"} for x in datasets if x.data.get("digests")]
    ind("model", "artifacts bound by hash (weights, data)", ([{"asset": aid, "field": "notes.weights.sha256", "value": w.get("sha256")}] if w and w.get("sha256") else [])
        + digests, "", "no weights or data digest registered")
    sigs = reg.store.signatures([x.id for x in members], kind="charter")
    signed = sorted({s.asset for s in sigs})
    ind("model", "charter signed by its publisher", [{"asset": s.asset, "field": "signature", "value": s.keyid[:16]} for s in sigs if s.asset == aid],
        f"{len(signed)} of {len(members)} charters in its lineage signed", "its charter is not signed (charter sign)")
    # --- downstream
    policy = eff["deny"] or eff["allow"] or eff["duties"] or eff["conditions"]
    ind("downstream", "usage policy", [{"asset": aid, "field": "effective terms", "value": {k: len(eff[k]) for k in ("deny", "allow", "duties", "conditions")}}]
        if policy else [], "machine-readable terms over its whole lineage (charter show, charter can)", "no terms")
    down = [h[0] for h in reg.store.downstream(aid)]
    apps = [i for i in [aid, *down] if i.startswith("application/")]
    keyed = sorted({k.application for k in reg.store.api_keys() if k.application in set(apps)})
    ind("downstream", "usage monitoring (gateway)", [{"asset": x, "field": "api_keys"} for x in keyed],
        "its applications are served through charter's gateway: every request decided and audited", "no application of it has gateway keys")
    hist = [{"asset": e.asset, "field": f"event.{e.type}", "value": e.time} for t in ("withdraw", "lift", "restrict", "lift-restrictions")
            for e in reg.store.events(type=t) if e.asset in ups]
    ind("downstream", "withdrawals and restrictions handled", hist or [{"asset": aid, "field": "registry", "value": "none recorded in its lineage"}],
        "applied to it and everything downstream at the next decision (and to other registries through signed feeds)", answer=True)
    ind("downstream", "downstream applications known", [{"asset": x, "field": "derived_from"} for x in apps if x != aid], "", "none registered")

    yes = sum(i.answer for i in out)
    n_un = sum(map(len, UNANSWERABLE.values()))
    return {"asset": aid, "indicators": [i.to_json() for i in out], "unanswerable": UNANSWERABLE,
            "score": {"yes": yes, "answerable": len(out), "unanswerable": n_un, "of_answerable": round(yes / len(out), 3),
                      "of_all": round(yes / (len(out) + n_un), 3)}}


def markdown(t: dict) -> list[str]:
    """The card's section."""
    s = t["score"]
    out = ["## Transparency", "", f"Foundation Model Transparency Index indicators the registry can answer: **{s['yes']} of {s['answerable']}** "
           f"({s['yes']} of {s['answerable'] + s['unanswerable']} with the {s['unanswerable']} it cannot answer).", "",
           "| domain | indicator | answer | evidence |", "|---|---|---|---|"]
    for i in t["indicators"]:
        ev = ", ".join(f"`{e['asset']}` {e['field']}" for e in i["evidence"][:3]) + (f" (+{len(i['evidence']) - 3})" if len(i["evidence"]) > 3 else "")
        out.append(f"| {i['domain']} | {i['indicator']} | {i['answer']} | {ev or i['note']} |")
    out += ["", "Not answerable from a registry: " + "; ".join(x for v in t["unanswerable"].values() for x in v) + ".", ""]
    return out


