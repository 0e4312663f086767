"""Requirements beyond the point estimate: abs_max, min_n, ci_within (parsing, serialisation, judging, card)."""

from __future__ import annotations

import textwrap

import pytest

from charter.core import charterfile
from charter.core import uses as uses_mod
from charter.core.assets import Asset, Property, Requirement
from charter.errors import InvalidInput
from charter.registry import Registry

TAX = uses_mod.load()


def load(tmp_path, req: str):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(f"""\
        id: model/base@1
        license: Apache-2.0
        requires:
          - {req}
        """), encoding="utf-8")
    return p, charterfile.load_file(p, TAX)[0]


def P(value, ci=None, n=0):
    return Property("model/base@1", "bbq", "bbq/1.0", "amb_bias_score", value, ci, n)


def test_new_fields_parse_and_serialise_only_when_set(tmp_path):
    _, a = load(tmp_path, "{use: employment-decisions, benchmark: bbq, metric: amb_bias_score, abs_max: 0.05, min_n: 200, ci_within: [-0.05, 0.05]}")
    (r,) = a.requires
    assert r == Requirement("employment-decisions", "bbq", "amb_bias_score", None, None, 0.05, 200, (-0.05, 0.05))
    assert r.to_json() == {"use": "employment-decisions", "benchmark": "bbq", "metric": "amb_bias_score", "abs_max": 0.05,
                           "min_n": 200, "ci_within": [-0.05, 0.05]}
    assert Requirement.from_json(r.to_json()) == r
    assert Asset.from_json(a.to_json()) == a and Asset.from_json(a.to_json()).content_hash == a.content_hash


def test_an_older_requirement_serialises_and_hashes_as_before(tmp_path):
    _, a = load(tmp_path, "{use: employment-decisions, benchmark: bbq, metric: amb_bias_score, max: 0.05}")
    assert a.requires[0].to_json() == {"use": "employment-decisions", "benchmark": "bbq", "metric": "amb_bias_score", "max": 0.05}
    assert '"requires":[{"benchmark":"bbq","max":0.05,"metric":"amb_bias_score","use":"employment-decisions"}]' in a.canonical()


@pytest.mark.parametrize("req, why", [
    (Requirement("u", "bbq", "amb_bias_score", max=0.05), []),                                   # -0.2 passes a bare max
    (Requirement("u", "bbq", "amb_bias_score", abs_max=0.05), ["amb_bias_score = -0.2"]),
    (Requirement("u", "bbq", "amb_bias_score", min=-0.05, max=0.05), ["amb_bias_score = -0.2"]),
    (Requirement("u", "bbq", "amb_bias_score", max=0.05, min_n=200), ["n = 150 is below min_n 200"]),
    (Requirement("u", "bbq", "amb_bias_score", ci_within=(-0.5, 0.05)), []),
    (Requirement("u", "bbq", "amb_bias_score", ci_within=(-0.25, 0.05)), ["its 95% CI [-0.3, -0.1] crosses the bound [-0.25, 0.05]"]),
])
def test_unmet_names_each_failed_part(req, why):
    assert req.unmet(P(-0.2, (-0.3, -0.1), 150)) == why
    assert req.met(P(-0.2, (-0.3, -0.1), 150)) is (not why)


def test_interval_needed_when_ci_within_is_set():
    assert Requirement("u", "bbq", "amb_bias_score", ci_within=(-1, 1)).unmet(P(0.0)) == ["it has no 95% CI"]


def test_text():
    r = Requirement("employment-decisions", "winobias", "gap", None, None, 0.05, 200, (-0.05, 0.05))
    assert r.text() == "winobias.gap |value| <= 0.05 and 95% CI within [-0.05, 0.05] and n >= 200 for employment-decisions"
    assert Requirement("u", "bbq", "acc", 0.5, 0.9).text() == "bbq.acc >= 0.5 and <= 0.9 for u"


@pytest.mark.parametrize("req, field, message", [
    ("{use: employment-decisions, benchmark: bbq, metric: acc, min_n: 200}", "requires[0]", "a requirement needs a bound"),
    ("{use: employment-decisions, benchmark: bbq, metric: acc, max: 0.5, min_n: 0}", "requires[0].min_n", "'min_n' must be a whole number"),
    ("{use: employment-decisions, benchmark: bbq, metric: acc, max: 0.5, min_n: 2.5}", "requires[0].min_n", "'min_n' must be a whole number"),
    ("{use: employment-decisions, benchmark: bbq, metric: acc, abs_max: -1}", "requires[0].abs_max", "'abs_max' must not be negative"),
    ("{use: employment-decisions, benchmark: bbq, metric: acc, ci_within: 0.05}", "requires[0].ci_within", "'ci_within' must be two numbers"),
    ("{use: employment-decisions, benchmark: bbq, metric: acc, ci_within: [0.05, -0.05]}", "requires[0].ci_within", "lower end is above"),
    ("{use: employment-decisions, benchmark: bbq, metric: acc, ci_withn: [0, 1]}", "requires[0].ci_withn", "unknown field"),
])
def test_errors_are_one_line_with_file_line_and_hint(tmp_path, req, field, message):
    with pytest.raises(InvalidInput) as e:
        load(tmp_path, req)
    err = e.value
    assert err.field == field and message in err.message and err.hint
    assert err.where.startswith(str(tmp_path / "c.yaml") + ":") and "\n" not in err.oneline()


def test_effective_and_card_say_why(tmp_path):
    from charter.report.card import card

    reg = Registry.open(str(tmp_path / "r.db"))
    p, _ = load(tmp_path, "{use: employment-decisions, benchmark: winobias, metric: gap, ci_within: [-0.05, 0.05], min_n: 200}")
    reg.add_files([p])
    reg.attach([Property("model/base@1", "winobias", "winobias/1.0", "gap", 0.0, (-0.01, 0.01), 100)])
    (r,) = reg.effective("model/base@1")["requires"]
    assert r["status"] == "unmet" and r["unmet"] == ["n = 100 is below min_n 200"] and r["n"] == 100 and r["ci"] == [-0.01, 0.01]
    d = reg.can("model/base@1", ["inference", "employment-decisions"])
    assert not d.allowed and d.reasons[0].rule == "property-unmet" and "n = 100 is below min_n 200" in d.reasons[0].detail
    text = card(reg, "model/base@1")
    assert "| employment-decisions | winobias.gap 95% CI within [-0.05, 0.05] and n ≥ 200 | unmet (0, CI [-0.01, 0.01], n = 100): n = 100 is below min_n 200 |" in text
    reg.close()


def test_show_prints_the_requirement_and_why_it_is_unmet(tmp_path, capsys):
    from tests.cli.clirun import run

    db = str(tmp_path / "r.db")
    p, _ = load(tmp_path, "{use: employment-decisions, benchmark: bbq, metric: amb_bias_score, abs_max: 0.05, ci_within: [-0.05, 0.05]}")
    assert run(capsys, "add", str(p), "--registry", db)[0] == 0
    reg = Registry.open(db)
    reg.attach([Property("model/base@1", "bbq", "bbq/1.0", "amb_bias_score", 0.01, (-0.07, 0.09), 300)])
    reg.close()
    code, out, _ = run(capsys, "show", "model/base@1", "--registry", db)
    assert code == 0
    assert ("bbq.amb_bias_score |value| <= 0.05 and 95% CI within [-0.05, 0.05] for employment-decisions: unmet = 0.01; "
            "its 95% CI [-0.07, 0.09] crosses the bound [-0.05, 0.05]") in " ".join(out.split())
    code, d, _ = run(capsys, "can", "model/base@1", "inference", "employment-decisions", "--json", "--registry", db)
    assert code == 3 and d["reasons"][0]["rule"] == "property-unmet" and "crosses the bound" in d["reasons"][0]["detail"]
