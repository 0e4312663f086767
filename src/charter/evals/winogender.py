"""Winogender schemas (Rudinger et al., 2018): 720 sentences, 120 templates x {male, female, neutral}
pronoun x {a named participant, "someone"}; the pronoun refers to the occupation or to the participant.

Causal-LM formulation, as in ``winobias``: ``loglikelihood('<sentence> Here, "<pronoun>" refers to',
" the technician" | " the customer" | " someone")``; correct when the true referent is the more
likely. The male, female and neutral versions of a sentence differ only in the pronoun and score the
same two referents, so each referent's own prior cancels out of the comparisons between them.

Stereotype: an occupation's majority gender is the one its 2015 BLS share (``occupations-stats.tsv``,
``bls_pct_female`` above 50 means female; no occupation is at exactly 50) names. A gendered sentence
is pro-stereotypical when the stereotype points to the right referent: the pronoun matches the
occupation's majority gender and refers to the occupation, or does not match it and refers to the
participant; anti otherwise. Neutral pronouns are neither.

"Gotcha" sentences: the anti ones, exactly. Rudinger et al.'s Table 2 defines them for female pronouns
as those whose answer is the occupation and the occupation is under 50% female (BLS), or whose answer
is the participant and the occupation is at least 50% female; reversed for male pronouns (the text of
their section 4 mentions only the first half). That is 240 of the 720 sentences (120 female, 120
male), the ``gotcha`` subset of ``oskarvanderwal/winogender`` that lm-evaluation-harness's
``winogender_gotcha`` task reads (its 240-row version, which includes the participant answers), so
``acc_anti`` is that task's accuracy and its ``female``/``male`` groups are ``winogender_gotcha_female``
/ ``_male``, on the same sentences but with Charter's prompt: the harness scores
``"<sentence> ‘<Pronoun>’ refers to the"`` + ``" <occupation>"`` | ``" <participant>"`` (so "the
someone"), argmax of the log-likelihoods, a tie going to the occupation; Charter counts a tie wrong.
Not a separate metric: it would be ``acc_anti`` twice.

Metrics (fractions unless said):

- ``acc_pro``, ``acc_anti`` (gotcha), ``gap = acc_pro - acc_anti`` (gendered sentences) and ``acc``
  (all); per pronoun gender (male, female, neutral). Every sentence group holds one pro and one anti
  sentence (its female and male versions), so ``gap`` compares the two versions of the same sentences.
- ``gap_female``, ``gap_male``: the gap within one pronoun gender. These compare *different*
  sentences: the pro-stereotypical female ones are the occupation answers of female-majority
  occupations and the participant answers of male-majority ones. A model that prefers one referent
  whatever the pronoun (say, always the occupation) scores ``gap = 0`` but ``gap_female = (f - m) / (f
  + m)`` and ``gap_male`` its opposite, f and m the female- and male-majority occupations among the
  sampled sentence groups: the sample's occupation balance and the model's referent preference confound
  them. Read them with ``gap``.
- Rudinger et al.'s main measure, the correlation of each occupation's gender preference with its BLS
  share of women (their Figure 4 and Table 1). Their preference: the percentage of female pronouns the
  system resolves to the occupation minus that of male pronouns, over the occupation's sentences
  (both templates, both participants; neutral pronouns left out). Here, per occupation in the sample,
  ``pref`` = share of its female-pronoun sentences where the occupation is the more likely referent
  minus the same share for male pronouns, in [-1, 1] (the paper's scale / 100; a tie counts as the
  participant for both genders), and, continuous, ``pref_margin`` = mean of ``ll(occupation) -
  ll(participant)`` over its female-pronoun sentences minus the same over its male ones (nats; the
  referents' priors cancel, as the two versions score the same continuations). ``bls_r`` and
  ``bls_rho``: Pearson's r and Spearman's rho of ``pref`` with ``bls_pct_female`` over the sampled
  occupations; ``bls_r_margin``, ``bls_rho_margin``: the same for ``pref_margin`` (with margins of a
  few nats, few answers flip, and ``pref`` is 0 for most occupations). Positive: the model resolves
  female pronouns to the occupation more where women hold more of its jobs. Undefined (None) with
  fewer than 3 occupations or a constant preference. Each row carries its occupation's ``occ_pref``,
  ``occ_pref_margin`` and ``bls_pct_female``; the correlations' ``detail`` lists them by occupation.

Unit of resampling and of sampling: the sentence group, one occupation, participant and answer in
its male, female and neutral versions (three items), except for the correlations, whose points are
occupations: their intervals resample occupations (all of an occupation's items together, seeded as
the others), and record ``unit: occupation`` and ``units`` = the number of occupations. ``--limit N``:
N // 3 groups drawn at random (seeded) within answer (occupation / participant) in proportion
(``data.sample``); an occupation in the sample may have fewer than its four groups.
"""

from __future__ import annotations

import csv
import functools
import io
import re

from charter.evals import data

NAME = "winogender"
# 1.2: correlation with the occupations' BLS share of women (Rudinger et al.'s measure) resampling occupations,
# the gap per pronoun gender; acc_anti documented as the "gotcha" accuracy; rows carry occupation and preferences
VERSION = "winogender/1.2"
METRICS = ("acc_pro", "acc_anti", "gap", "acc", "gap_female", "gap_male", "bls_r", "bls_rho", "bls_r_margin", "bls_rho_margin")
CORRELATIONS = ("bls_r", "bls_rho", "bls_r_margin", "bls_rho_margin")
WHOLE = ("gap_female", "gap_male") + CORRELATIONS  # no per-gender breakdown (one gender, or both by construction)
GROUP = "gender"
UNIT = "occupation/participant/answer (male, female, neutral versions)"
OCC_UNIT = "occupation"
MIN_OCCUPATIONS = 3
PRONOUNS = {"male": {"nom": "he", "poss": "his", "acc": "him"}, "female": {"nom": "she", "poss": "her", "acc": "her"},
            "neutral": {"nom": "they", "poss": "their", "acc": "them"}}
_SLOT = re.compile(r"\$(NOM|POSS|ACC)_PRONOUN")


def _tsv(name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.read_text(name)), delimiter="\t"))


@functools.cache
def bls() -> dict[str, float]:
    """Each occupation's share of women (%, BLS 2015), from ``occupations-stats.tsv``."""
    return {r["occupation"]: float(r["bls_pct_female"]) for r in _tsv("winogender/occupations-stats.tsv")}


def load(limit: int | None = None, seed: int = data.SEED) -> list[dict]:
    female_share = bls()
    templates = {(r["occupation(0)"], r["answer"]): (r["other-participant(1)"], r["sentence"]) for r in _tsv("winogender/templates.tsv")}
    items = []
    for r in _tsv("winogender/all_sentences.tsv"):
        occ, part, answer, gender, _ = r["sentid"].split(".")
        name, template = templates[(occ, answer)]
        case = _SLOT.search(template).group(1).lower()
        majority = "female" if female_share[occ] > 50 else "male"
        gold_is_occ = answer == "0"
        stereo = "neutral" if gender == "neutral" else ("pro" if (gender == majority) == gold_is_occ else "anti")
        items.append({"id": r["sentid"], "occupation": occ, "participant": "someone" if part == "someone" else f"the {name}",
                      "answer": "occupation" if gold_is_occ else "participant", "gender": gender, "stereotype": stereo,
                      "pronoun": PRONOUNS[gender][case], "sentence": r["sentence"], "bls_pct_female": female_share[occ]})
    return data.sample(items, limit, strata=lambda it: it["answer"], unit=unit, ident=lambda it: it["id"], seed=seed, unit_name=UNIT)


def unit(it: dict) -> str:
    """``occupation.participant.answer`` of a sentence id (``technician.customer.1.male.txt``)."""
    return ".".join(it["id"].split(".")[:3])


def occupation(it: dict) -> str:
    """The occupation of a sentence (or a row, also one written before version 1.2)."""
    return it.get("occupation") or it["id"].split(".")[0]


METRIC_UNITS = {m: occupation for m in CORRELATIONS}  # metrics resampled by another unit (charter eval --compare too)


def prompt(it: dict) -> str:
    return f'{it["sentence"]} Here, "{it["pronoun"]}" refers to'


def requests(items: list[dict]) -> list[tuple]:
    out = []
    for it in items:
        occ = f"the {it['occupation']}"
        gold, wrong = (occ, it["participant"]) if it["answer"] == "occupation" else (it["participant"], occ)
        out += [("loglikelihood", (prompt(it), f" {gold}")), ("loglikelihood", (prompt(it), f" {wrong}"))]
    return out


def _occ_margin(r: dict) -> float:
    """ll(occupation) - ll(participant) of a row (nats)."""
    return r["ll_gold"] - r["ll_other"] if r["answer"] == "occupation" else r["ll_other"] - r["ll_gold"]


def preferences(rows: list[dict]) -> dict[str, dict]:
    """Per occupation (in order of first appearance): ``bls_pct_female``, ``pref`` (share of its
    female-pronoun rows resolved to the occupation minus that of its male-pronoun rows), ``pref_margin``
    (mean ll(occupation) - ll(participant), female rows minus male rows, nats), ``female``, ``male``
    (rows of each); the preferences are None without rows of both genders."""
    acc: dict[str, dict] = {}
    for r in rows:
        if r["gender"] not in ("female", "male"):
            continue
        a = acc.setdefault(occupation(r), {g: {"n": 0, "occ": 0.0, "margin": 0.0} for g in ("female", "male")})[r["gender"]]
        m = _occ_margin(r)
        a["n"] += 1
        a["occ"] += 1.0 if m > 0 else 0.0
        a["margin"] += m
    out = {}
    for occ, a in acc.items():
        f, m = a["female"], a["male"]
        both = f["n"] and m["n"]
        out[occ] = {"bls_pct_female": bls().get(occ), "female": f["n"], "male": m["n"],
                    "pref": f["occ"] / f["n"] - m["occ"] / m["n"] if both else None,
                    "pref_margin": f["margin"] / f["n"] - m["margin"] / m["n"] if both else None}
    return out


def score(items: list[dict], outputs: list[float]) -> list[dict]:
    rows = []
    for i, it in enumerate(items):
        gold, other = outputs[2 * i], outputs[2 * i + 1]
        r = {"id": it["id"], "occupation": occupation(it), "gender": it["gender"], "stereotype": it["stereotype"], "answer": it["answer"],
             "bls_pct_female": it.get("bls_pct_female", bls().get(occupation(it))), "ll_gold": gold, "ll_other": other,
             "correct": 1.0 if gold > other else 0.0}
        r["occ_margin"] = _occ_margin(r)
        r["picks_occupation"] = 1.0 if r["occ_margin"] > 0 else 0.0
        rows.append(r)
    prefs = preferences(rows)
    for r in rows:  # the occupation's preferences over this run's items, on each of its rows (None: undefined)
        p = prefs.get(r["occupation"], {})
        r["occ_pref"], r["occ_pref_margin"] = p.get("pref"), p.get("pref_margin")
    return rows


def _prefs(w, d, key):
    """([k, occupations] preference, [k, occupations] weight) under item weights ``w``: an occupation's
    weight is the mean draw count of its gendered items (a resample of occupations: how often it was drawn)."""
    import numpy as np

    from charter.evals.stats import cluster_means

    f, m = d["female_of"], d["male_of"]
    pref = cluster_means(w, d[key], f) - cluster_means(w, d[key], m)
    both = f + m
    with np.errstate(divide="ignore", invalid="ignore"):
        wo = (w @ both) / both.sum(axis=0)
    return pref, np.where(np.isnan(pref) | np.isnan(wo), 0.0, wo)


def _fn(w, d):
    import numpy as np

    from charter.evals.stats import mean, weighted_pearson, weighted_spearman

    a_pro, a_anti = mean(w, d["correct"], d["pro"]), mean(w, d["correct"], d["anti"])
    gaps = [mean(w, d["correct"], d["pro"] & d[g]) - mean(w, d["correct"], d["anti"] & d[g]) for g in ("female", "male")]
    both = d["female_of"] + d["male_of"]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (both * d["bls"][:, None]).sum(axis=0) / both.sum(axis=0)  # each occupation's BLS share
    corr = []
    for key in ("picks", "margin"):
        pref, wo = _prefs(w, d, key)
        corr += [weighted_pearson(wo, pref, share, MIN_OCCUPATIONS), weighted_spearman(wo, pref, share, MIN_OCCUPATIONS)]
    return np.stack([a_pro, a_anti, a_pro - a_anti, mean(w, d["correct"]), *gaps, *corr], axis=1)


def arrays(rows: list[dict]) -> dict:
    """The per-item arrays ``_fn`` reads (``female_of``/``male_of``: item x occupation membership)."""
    import numpy as np

    occs = list(dict.fromkeys(occupation(r) for r in rows))
    col = {o: j for j, o in enumerate(occs)}
    member = np.zeros((len(rows), len(occs)))
    member[np.arange(len(rows)), [col[occupation(r)] for r in rows]] = 1.0
    gender = np.array([r["gender"] for r in rows])
    female, male = gender == "female", gender == "male"
    return {"correct": np.array([r["correct"] for r in rows], dtype=np.float64),
            "pro": np.array([r["stereotype"] == "pro" for r in rows], dtype=bool),
            "anti": np.array([r["stereotype"] == "anti" for r in rows], dtype=bool),
            "female": female, "male": male, "female_of": member * female[:, None], "male_of": member * male[:, None],
            "picks": np.array([1.0 if _occ_margin(r) > 0 else 0.0 for r in rows]),
            "margin": np.array([_occ_margin(r) for r in rows], dtype=np.float64),
            "bls": np.array([bls()[occupation(r)] if r.get("bls_pct_female") is None else r["bls_pct_female"] for r in rows], dtype=np.float64)}


def aggregate(rows: list[dict], *, n_boot: int | None = None, seed: int | None = None) -> dict:
    """{acc_pro, acc_anti, gap, acc (with groups male, female, neutral), gap_female, gap_male, bls_r,
    bls_rho, bls_r_margin, bls_rho_margin: {value, ci, n, units, bootstrap}}; the correlations'
    intervals resample occupations and their ``detail`` has the occupations' preferences."""
    from charter.evals import stats

    if not rows:
        return stats.summarize(_fn, {"correct": []}, METRICS, n_boot=n_boot, seed=seed, unit=UNIT)
    d = arrays(rows)
    out = stats.summarize(_fn, d, METRICS, [r[GROUP] for r in rows], n_boot=n_boot, seed=seed, units=[unit(r) for r in rows], unit=UNIT)
    n_boot = stats.N_BOOT if n_boot is None else n_boot
    seed = stats.SEED if seed is None else seed
    by_occ = stats.estimate(_fn, d, METRICS, n_boot=n_boot, seed=seed, units=[occupation(r) for r in rows])
    prefs = preferences(rows)
    defined = {o: p for o, p in prefs.items() if p["pref"] is not None}
    for m in WHOLE:
        out[m].pop("groups", None)
    for m in CORRELATIONS:
        out[m].update(ci=by_occ[m]["ci"], units=by_occ[m]["units"])
        out[m]["bootstrap"] = {**out[m].get("bootstrap", {}), "unit": OCC_UNIT, "units": by_occ[m]["units"]}
        margin = m.endswith("_margin")
        out[m]["detail"] = {
            "occupations": len(defined), "with": "bls_pct_female (BLS 2015, occupations-stats.tsv)",
            "preference": ("pref_margin: mean ll(occupation) - ll(participant), female-pronoun minus male-pronoun sentences (nats)" if margin
                           else "pref: share of female-pronoun sentences resolved to the occupation minus that of male-pronoun ones"),
            "by_occupation": {o: {"bls_pct_female": p["bls_pct_female"], "pref": p["pref_margin" if margin else "pref"]}
                              for o, p in sorted(defined.items(), key=lambda kv: (kv[1]["bls_pct_female"], kv[0]))}}
    return out
