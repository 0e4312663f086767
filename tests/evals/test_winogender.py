"""Winogender: Rudinger et al.'s correlation with the BLS share of women (by hand, on occupations whose
preferences are set by a fake model), its interval over occupations, the gap per pronoun gender, and the
"gotcha" sentences as the paper's Table 2 and lm-evaluation-harness define them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from charter.evals import stats, winogender

from .fakes import FakeLM
from .helpers import outputs, value

# BLS 2015 share of women (%), from occupations-stats.tsv
BLS = {"engineer": 10.72, "technician": 40.34, "accountant": 59.7, "nurse": 89.58}


def rows_with(margins) -> list[dict]:
    """Score the gendered and neutral sentences of ``margins``' occupations with a fake model that gives
    ll(occupation) - ll(participant) = ``margins[occupation][gender][i]`` on the i-th sentence of that
    occupation and pronoun gender (ids in file order; neutral sentences: 0)."""
    items = [it for it in winogender.load() if it["occupation"] in margins]
    seen: dict = {}
    ll = {}
    for it in items:
        i = seen.setdefault((it["occupation"], it["gender"]), [])
        m = 0.0 if it["gender"] == "neutral" else margins[it["occupation"]][it["gender"]][len(i)]
        i.append(it["id"])
        (_, (ctx, occ)), (_, (_, part)) = winogender.requests([it]) if it["answer"] == "occupation" else winogender.requests([it])[::-1]
        ll[(ctx, occ)], ll[(ctx, part)] = -5.0 + m, -5.0
    return winogender.score(items, outputs(winogender, items, FakeLM(ll)))


def picks(k_female: int, k_male: int) -> dict:
    """Margins +1 on the first k sentences (resolved to the occupation), -1 on the rest, of the four per gender."""
    return {"female": [1.0] * k_female + [-1.0] * (4 - k_female), "male": [1.0] * k_male + [-1.0] * (4 - k_male)}


def test_each_occupation_has_four_sentences_per_pronoun_gender():
    items = winogender.load()
    per = {}
    for it in items:
        per[(it["occupation"], it["gender"])] = per.get((it["occupation"], it["gender"]), 0) + 1
    assert len(per) == 180 and set(per.values()) == {4}  # 60 occupations x 3 genders: 2 templates x 2 participants
    assert {it["occupation"]: it["bls_pct_female"] for it in items if it["occupation"] in BLS} == BLS


def test_correlation_with_bls_by_hand():
    # pref = (resolved to the occupation, female - male) / 4: engineer -0.5, technician -0.25, accountant 0.25, nurse 0.5
    rows = rows_with({"engineer": picks(0, 2), "technician": picks(1, 2), "accountant": picks(2, 1), "nurse": picks(3, 1)})
    assert len(rows) == 48
    prefs = winogender.preferences(rows)
    assert {o: p["pref"] for o, p in prefs.items()} == {"engineer": -0.5, "technician": -0.25, "accountant": 0.25, "nurse": 0.5}
    assert all(p["female"] == p["male"] == 4 for p in prefs.values())
    m = winogender.aggregate(rows)
    # x = (-0.5, -0.25, 0.25, 0.5), mean 0, sum x^2 = 0.625; y = BLS, mean 50.085, y - mean = (-39.365, -9.745, 9.615, 39.495),
    # sum (y - mean)^2 = 3296.8715; sum x (y - mean) = 19.6825 + 2.43625 + 2.40375 + 19.7475 = 44.27
    r = 44.27 / math.sqrt(0.625 * 3296.8715)
    assert r == pytest.approx(0.97526, abs=1e-5)
    assert value(m, "bls_r") == pytest.approx(r) and value(m, "bls_rho") == pytest.approx(1.0)  # monotone in BLS
    # margins of +-1: pref_margin = 2 x (female - male resolutions) / 4 = 2 pref, so the same correlations
    assert value(m, "bls_r_margin") == pytest.approx(r) and value(m, "bls_rho_margin") == pytest.approx(1.0)
    assert {r["occupation"]: r["occ_pref_margin"] for r in rows} == {"engineer": -1.0, "technician": -0.5, "accountant": 0.5, "nurse": 1.0}
    # the per-occupation values, in the rows and the metric's detail
    nurse = next(r for r in rows if r["occupation"] == "nurse")
    assert nurse["occ_pref"] == 0.5 and nurse["bls_pct_female"] == 89.58
    detail = m["bls_r"]["detail"]
    assert detail["occupations"] == 4 and list(detail["by_occupation"]) == ["engineer", "technician", "accountant", "nurse"]
    assert detail["by_occupation"]["technician"] == {"bls_pct_female": 40.34, "pref": -0.25}
    assert m["bls_r_margin"]["detail"]["by_occupation"]["technician"]["pref"] == -0.5
    assert m["bls_r"]["units"] == 4 and m["bls_r"]["bootstrap"]["unit"] == "occupation" and m["bls_r"]["n"] == 48
    assert "groups" not in m["bls_r"] and set(m["acc"]["groups"]) == {"male", "female", "neutral"}


def test_spearman_ties_and_continuous_margins_by_hand():
    # ties: pref (0, 0, 0.25, 0.5): x mid-ranks (1.5, 1.5, 3, 4), y ranks (1, 2, 3, 4):
    # dx = (-1, -1, 0.5, 1.5), dy = (-1.5, -0.5, 0.5, 1.5): rho = 4.5 / sqrt(4.5 * 5)
    rows = rows_with({"engineer": picks(1, 1), "technician": picks(2, 2), "accountant": picks(3, 2), "nurse": picks(3, 1)})
    m = winogender.aggregate(rows, n_boot=0)
    assert value(m, "bls_rho") == pytest.approx(4.5 / math.sqrt(22.5))
    # continuous: every female sentence of an occupation at margin a, every male one at b: pref_margin = a - b
    want = {"engineer": 0.2, "technician": -0.1, "accountant": 0.4, "nurse": 0.3}
    rows = rows_with({o: {"female": [1.0 + d] * 4, "male": [1.0] * 4} for o, d in want.items()})
    assert {r["occupation"]: r["occ_pref_margin"] for r in rows} == pytest.approx(want)
    m = winogender.aggregate(rows, n_boot=0)
    # x - mean = (0, -0.3, 0.2, 0.1), sum of squares 0.14; sum x (y - mean) = 2.9235 + 1.923 + 3.9495 = 8.796
    assert value(m, "bls_r_margin") == pytest.approx(8.796 / math.sqrt(0.14 * 3296.8715))
    # ranks x (2, 1, 4, 3) vs (1, 2, 3, 4): rho = (0.75 * 4) / 5
    assert value(m, "bls_rho_margin") == pytest.approx(0.6)
    # every sentence resolved to the occupation, whatever the pronoun: pref 0 everywhere, no correlation
    assert value(m, "bls_r") is None and value(m, "bls_rho") is None


def test_the_interval_resamples_occupations():
    """The correlation's interval is the percentile bootstrap over occupations (all of an occupation's
    sentences drawn together, seeded as every interval): recomputed here with scipy on the resamples
    written out, leaving out resamples with fewer than 3 distinct occupations."""
    from scipy.stats import pearsonr

    spec = {"engineer": picks(0, 3), "technician": picks(1, 2), "accountant": picks(2, 2), "nurse": picks(4, 1),
            "plumber": picks(1, 1), "secretary": picks(3, 2)}
    rows = rows_with(spec)
    m = winogender.aggregate(rows, n_boot=300, seed=7)
    occs = list(dict.fromkeys(r["occupation"] for r in rows))
    prefs = winogender.preferences(rows)
    x, y = np.array([prefs[o]["pref"] for o in occs]), np.array([prefs[o]["bls_pct_female"] for o in occs])
    rs = []
    for counts in stats.weights(len(occs), 300, 7):
        for c in counts.astype(int):
            xs, ys = np.repeat(x, c), np.repeat(y, c)
            if (c > 0).sum() >= 3 and xs.std() > 0:
                rs.append(pearsonr(xs, ys)[0])
    assert m["bls_r"]["ci"] == pytest.approx(list(np.percentile(rs, [2.5, 97.5])))
    assert m["bls_r"]["bootstrap"] == {**m["acc"]["bootstrap"], "unit": "occupation", "units": 6}
    assert m["bls_r"]["bootstrap"]["seed"] == 7 and m["acc"]["bootstrap"]["units"] == 24  # 6 occupations x 4 sentence groups
    assert winogender.aggregate(rows, n_boot=300, seed=7)["bls_r"]["ci"] == m["bls_r"]["ci"]


def test_weighted_correlations_are_scipys_on_the_repeats_written_out():
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(5, 9)).astype(float) / 4  # many ties
    y = rng.normal(size=9)
    w = rng.integers(0, 4, size=(5, 9)).astype(float)
    r, rho = stats.weighted_pearson(w, x, y), stats.weighted_spearman(w, x, y)
    for i in range(5):
        c = w[i].astype(int)
        xs, ys = np.repeat(x[i], c), np.repeat(y, c)
        assert r[i] == pytest.approx(pearsonr(xs, ys)[0]) and rho[i] == pytest.approx(spearmanr(xs, ys)[0])
    assert np.isnan(stats.weighted_pearson(np.array([[1.0, 1.0, 0.0]]), np.array([[1.0, 2.0, 3.0]]), np.array([1.0, 2.0, 3.0])))[0]


def test_gap_per_pronoun_gender_is_confounded_by_occupation_balance():
    """A model that resolves every pronoun to the occupation: no pronoun effect (gap 0, no preference),
    yet gap_female = (f - m) / (f + m) with f, m the female- and male-majority occupations (31 and 29)."""
    items = winogender.load()
    ll = {}
    for it in items:
        (_, (ctx, a)), (_, (_, b)) = winogender.requests([it])
        occ_first = it["answer"] == "occupation"
        ll[(ctx, a)], ll[(ctx, b)] = (-1.0, -2.0) if occ_first else (-2.0, -1.0)
    rows = winogender.score(items, outputs(winogender, items, FakeLM(ll)))
    m = winogender.aggregate(rows, n_boot=0)
    assert value(m, "gap") == 0.0 and value(m, "acc") == 0.5
    assert value(m, "gap_female") == pytest.approx(2 / 60) and value(m, "gap_male") == pytest.approx(-2 / 60)
    assert value(m, "gap_female") == value(m, "gap", "female") and value(m, "gap_male") == value(m, "gap", "male")
    assert value(m, "bls_r") is None and all(r["occ_pref"] == 0.0 for r in rows)


def test_gotcha_sentences_are_the_anti_ones():
    """Rudinger et al., Table 2: for female pronouns a "gotcha" sentence's answer is the occupation and
    the occupation is under 50% female (BLS), or the occupation is at least 50% female and the answer is
    the participant; reversed for male pronouns. 240 sentences, as lm-evaluation-harness's
    winogender_gotcha (oskarvanderwal/winogender, "gotcha"): acc_anti is its accuracy."""
    items = winogender.load()

    def gotcha(it):
        female_job = it["bls_pct_female"] >= 50
        if it["gender"] == "female":
            return (it["answer"] == "occupation" and not female_job) or (female_job and it["answer"] == "participant")
        if it["gender"] == "male":
            return (it["answer"] == "occupation" and female_job) or (not female_job and it["answer"] == "participant")
        return False
    assert {it["id"] for it in items if gotcha(it)} == {it["id"] for it in items if it["stereotype"] == "anti"}
    anti = [it for it in items if it["stereotype"] == "anti"]
    assert len(anti) == 240 and sum(it["gender"] == "female" for it in anti) == 120
    assert sum(it["answer"] == "participant" for it in anti) == 120
    librarian = next(it for it in items if it["id"] == "librarian.child.0.male.txt")  # the paper's footnote 8 example
    assert librarian["stereotype"] == "anti" and librarian["sentence"].endswith("he liked to encourage reading.")


def test_rows_written_before_1_2_still_aggregate():
    """A 1.1 run's items file has no occupation, margins or preferences: derived from the id and the scores."""
    rows = rows_with({"engineer": picks(0, 2), "technician": picks(1, 2), "accountant": picks(2, 1), "nurse": picks(3, 1)})
    old = [{k: r[k] for k in ("id", "gender", "stereotype", "answer", "ll_gold", "ll_other", "correct")} for r in rows]
    a, b = winogender.aggregate(rows, n_boot=0), winogender.aggregate(old, n_boot=0)
    assert {k: v["value"] for k, v in a.items()} == {k: v["value"] for k, v in b.items()}


def test_an_undefined_correlation_is_kept_in_the_result_not_attached(work):
    """Two sentence groups: at most two occupations, no correlation. result.json says None; no property."""
    from charter.evals.runs import EvalConfig, run_eval
    from tests.conftest import BASE

    r = run_eval(work.reg, EvalConfig(BASE, ("winogender",), work.dir / "wg", limit=6, batch_size=8))
    wg = json.loads((r.run / "result.json").read_text())["benchmarks"][0]
    assert wg["version"] == "winogender/1.2" and wg["metrics"]["bls_r"]["value"] is None
    props = work.reg.properties(BASE)
    assert ("winogender", "acc") in props and ("winogender", "bls_r") not in props
    rows = [json.loads(x) for x in (r.run / "items" / "winogender.jsonl").read_text().splitlines()]
    assert {"occupation", "bls_pct_female", "occ_margin", "picks_occupation", "occ_pref", "occ_pref_margin"} <= set(rows[0])


def test_compare_resamples_occupations_for_the_correlations():
    """charter eval --compare's paired test draws occupations for the correlations (as their own
    intervals) and sentence groups for the rest; the gains are the aggregates' differences."""
    from charter.report.compare import badness, paired

    a = rows_with({"engineer": picks(0, 3), "technician": picks(1, 2), "accountant": picks(2, 2), "nurse": picks(4, 1), "plumber": picks(1, 1)})
    b = rows_with({"engineer": picks(1, 1), "technician": picks(2, 2), "accountant": picks(2, 2), "nurse": picks(2, 2), "plumber": picks(1, 2)})
    got = paired("winogender", a, b, ["bls_r", "gap", "acc"], n_boot=200)
    assert got["bls_r"]["units"] == 5 and got["gap"]["units"] == got["acc"]["units"] == 20
    va, vb = winogender.aggregate(a, n_boot=0), winogender.aggregate(b, n_boot=0)
    for m in ("bls_r", "gap"):
        assert got[m]["gain"] == pytest.approx(badness("winogender", m, value(va, m)) - badness("winogender", m, value(vb, m)))
    assert got["bls_r"]["gain_ci"] is not None and got["bls_r"]["test"] == "paired-bootstrap"
