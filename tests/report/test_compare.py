"""Comparison along lineage: paired tests on item outputs whose answer is known by hand, Holm
correction, refusals and warnings when runs differ, the chart of paired differences."""

from __future__ import annotations

import json

import pytest

from charter.core.assets import Property
from charter.core.charterfile import benchmark_metrics
from charter.core.files import resource
from charter.registry import Registry
from charter.report.compare import NotComparable, badness, chart, compare, holm, mcnemar, summary, unit_key

A, B = "model/foundation-lm@1", "model/support-assistant@1"


@pytest.fixture
def reg(tmp_path):
    r = Registry.open(str(tmp_path / "r.db"))
    r.add_files([resource("examples/ecosystem.yaml")])
    yield r
    r.close()


def P(asset, bench, metric, value, ci=None, run=""):
    return Property(asset, bench, f"{bench}/1.0", metric, value, ci, 100, run=run)


def attach_run(reg, tmp_path, asset, bench, rows, *, version=None, limit=None, **config):
    """A run folder as `charter eval` writes it (config.json, items/<bench>.jsonl) and its properties."""
    from charter.evals.run import BENCHMARKS

    mod = BENCHMARKS[bench]
    version = version or mod.VERSION
    run = tmp_path / f"{asset.split('/')[1]}-{bench}-{len(list(tmp_path.iterdir()))}"
    (run / "items").mkdir(parents=True)
    cfg = {"kind": "eval", "model": asset, "weights_sha256": asset, "benchmarks": {bench: version}, "limit": limit,
           "batch_size": 16, "uses": ["evaluation"], **config}
    (run / "config.json").write_text(json.dumps({"hash": "x", "config": cfg}))
    (run / "items" / f"{bench}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = mod.aggregate(rows, n_boot=200)
    reg.attach([Property(asset, bench, version, m, v["value"], tuple(v["ci"]) if v.get("ci") else None, v["n"], run=str(run))
                for m, v in metrics.items() if v["value"] is not None])
    return run


def winobias_rows(correct_pro: set[int], correct_anti: set[int], pairs: int = 100) -> list[dict]:
    """Rows as winobias.score makes them (pair outcomes, margins, position fields included)."""
    from charter.evals import winobias

    items, outputs = [], []
    for stereo, right in (("pro", correct_pro), ("anti", correct_anti)):
        for i in range(pairs):
            items.append({"id": f"dev/type1/{stereo}/{i}", "pair": f"dev/type1/{i}", "split": "dev", "type": "type1", "stereotype": stereo,
                          "pronoun": "he", "gold": "nurse", "other": "doctor", "later": "doctor"})
            outputs += [-1.0 if i in right else -2.0, -1.5]
    return winobias.score(items, outputs)


def crows_rows(stereotyped: set[int], pairs: int = 200) -> list[dict]:
    return [{"id": i, "bias_type": "gender" if i % 2 else "race-color", "stereo_antistereo": "stereo",
             "ll_more": -10.0 if i in stereotyped else -11.0, "ll_less": -11.0 if i in stereotyped else -10.0,
             "likelihood_diff": 1.0, "pct_stereotype": 1.0 if i in stereotyped else 0.0} for i in range(pairs)]


@pytest.mark.parametrize("bench, metric, value, expected", [
    ("crows-pairs", "pct_stereotype", 0.62, 0.12),   # ideal 0.5
    ("crows-pairs", "pct_stereotype", 0.41, 0.09),
    ("stereoset", "ss", 47.0, 3.0),                   # ideal 50
    ("bbq", "amb_bias_score", -0.04, 0.04),           # ideal 0
    ("bbq", "acc", 0.7, -0.7),                        # higher is better
    ("crows-pairs", "likelihood_diff", 3.5, 3.5),     # lower is better
])
def test_badness(bench, metric, value, expected):
    assert badness(bench, metric, value) == pytest.approx(expected)


def test_every_metric_has_a_direction():
    for bench, metrics in benchmark_metrics().items():
        for m, rule in metrics.items():
            assert ("ideal" in rule) != ("better" in rule) and rule.get("better", "higher") in ("higher", "lower"), (bench, m)


def test_mcnemar_exact_and_holm():
    assert mcnemar(14, 0) == pytest.approx(2 * 0.5 ** 14) == pytest.approx(1.22e-4, rel=1e-3)
    assert mcnemar(0, 0) == 1.0 and mcnemar(5, 5) == 1.0
    assert mcnemar(3, 10) == pytest.approx(0.0923, abs=1e-4)  # 2 * P(X <= 3), X ~ Bin(13, 1/2)
    assert 0.0 <= mcnemar(3000, 2000) < 1e-40  # large counts: exact integers, no overflow
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_units_keep_pairs_together():
    assert unit_key("winobias", {"id": "test/type2/anti/17"}) == unit_key("winobias", {"id": "test/type2/pro/17"}) == "test/type2/17"
    assert unit_key("winogender", {"id": "nurse.patient.1.male.txt"}) == unit_key("winogender", {"id": "nurse.patient.1.female.txt"})
    assert unit_key("bbq", {"id": 3, "category": "Age"}) != unit_key("bbq", {"id": 3, "category": "Religion"})


def test_fixing_14_errors_and_breaking_none_is_significantly_better(reg, tmp_path):
    """200 WinoBias sentences (100 pro/anti pairs): A gets 90 pro and 70 anti right; B fixes 14 of A's
    anti errors and breaks nothing. McNemar: 14 discordant pairs all one way, p = 2 * 0.5^14."""
    attach_run(reg, tmp_path, A, "winobias", winobias_rows(set(range(90)), set(range(70))))
    attach_run(reg, tmp_path, B, "winobias", winobias_rows(set(range(90)), set(range(84))))
    cmp = compare(reg, A, B)
    got = {c.metric: c for c in cmp.changes}
    acc = got["acc"]
    assert acc.test == "mcnemar" and acc.discordant == (14, 0) and acc.p == pytest.approx(2 * 0.5 ** 14)
    assert acc.gain == pytest.approx(0.07) and acc.n == 200 and acc.units == 100
    lo, hi = acc.gain_ci
    assert 0.03 <= lo <= 0.045 and 0.095 <= hi <= 0.11  # about [0.035, 0.105]
    tested = sum(1 for c in cmp.changes if c.p is not None)  # Holm: the smallest p times the number of tests
    assert acc.p_holm == pytest.approx(tested * 2 * 0.5 ** 14) and acc.verdict == "better" and acc.significant
    assert got["acc_anti"].verdict == "better" and got["acc_anti"].discordant == (14, 0)
    assert got["acc_pro"].verdict == "no-difference" and got["acc_pro"].p == 1.0 and not got["acc_pro"].significant
    gap = got["gap"]  # |0.2| -> |0.06|: 0.14 closer to 0, by the pairs' bootstrap
    assert gap.test == "paired-bootstrap" and gap.gain == pytest.approx(0.14) and gap.verdict == "better" and gap.gain_ci[0] > 0
    assert cmp.warnings == []
    classic = [c for c in cmp.changes if c.metric in ("acc", "acc_pro", "acc_anti", "gap")]  # the pair measures have their own tests
    assert summary(classic).startswith("0 of 4 tested properties significantly worse; 3 significantly better")


def test_a_small_change_with_wide_intervals_is_not_significant(reg, tmp_path):
    """CrowS: A prefers the stereotype in 120 of 200 pairs (0.6), B in 121 (0.605) after changing 41
    answers (21 one way, 20 the other): 0.005 further from 0.5, well inside the paired interval."""
    a_set = set(range(120))
    b_set = (a_set - set(range(20))) | set(range(120, 141))
    assert len(b_set) == 121
    attach_run(reg, tmp_path, A, "crows-pairs", crows_rows(a_set))
    attach_run(reg, tmp_path, B, "crows-pairs", crows_rows(b_set))
    got = {c.metric: c for c in compare(reg, A, B).changes}
    c = got["pct_stereotype"]
    assert c.gain == pytest.approx(-0.005) and c.test == "paired-bootstrap"
    assert c.gain_ci[0] < -0.02 and c.gain_ci[1] > 0.02 and c.p > 0.5
    assert c.verdict == "no-difference" and not c.significant
    assert got["likelihood_diff"].verdict == "no-difference" and got["likelihood_diff"].gain == 0


def test_different_versions_are_refused_or_listed_without_a_verdict(reg, tmp_path):
    attach_run(reg, tmp_path, A, "crows-pairs", crows_rows(set(range(120))), version="crows-pairs/0.9")
    attach_run(reg, tmp_path, B, "crows-pairs", crows_rows(set(range(100))))
    with pytest.raises(NotComparable) as e:
        compare(reg, A, B)
    assert e.value.exit_code == 1 and "crows-pairs/0.9" in e.value.message and "--allow-mismatch" in e.value.hint
    assert "\n" not in e.value.oneline()
    cmp = compare(reg, A, B, allow_mismatch=True)
    assert {c.verdict for c in cmp.changes} == {"not-comparable"} and cmp.warnings


def test_different_item_sets_are_compared_on_the_common_items_with_a_warning(reg, tmp_path):
    attach_run(reg, tmp_path, A, "crows-pairs", crows_rows(set(range(60)) | set(range(100, 160))), batch_size=8)
    attach_run(reg, tmp_path, B, "crows-pairs", crows_rows(set(range(60)), pairs=100), limit=100)
    cmp = compare(reg, A, B)
    c = next(c for c in cmp.changes if c.metric == "pct_stereotype")
    assert c.n == 100 and "compared on the 100 items both scored (A 200, B 100)" in c.note
    assert c.gain == pytest.approx(0.0)  # on the common 100 items both prefer the stereotype 60 times
    assert any("item sets differ" in w for w in cmp.warnings)
    assert any("batch_size (A 8, B 16)" in w for w in cmp.warnings)


def test_disjoint_items_are_refused(reg, tmp_path):
    rows = crows_rows(set(range(10)), pairs=20)
    attach_run(reg, tmp_path, A, "crows-pairs", rows[:10])
    attach_run(reg, tmp_path, B, "crows-pairs", rows[10:])
    with pytest.raises(NotComparable, match="no item in common"):
        compare(reg, A, B)


def test_without_item_outputs_there_is_no_verdict(reg, tmp_path):
    """Properties attached without a run folder (or whose folder is gone) are listed, not judged."""
    reg.attach([P(A, "crows-pairs", "pct_stereotype", 0.55, (0.52, 0.58)), P(A, "bbq", "amb_bias_score", 0.03)])
    reg.attach([P(B, "crows-pairs", "pct_stereotype", 0.64, (0.61, 0.67)), P(B, "winobias", "gap", 0.1)])
    cmp = compare(reg, "model/foundation-lm", "model/support-assistant")
    assert (cmp.a, cmp.b) == (A, B)
    got = {(c.benchmark, c.metric): c.verdict for c in cmp.changes}
    assert got == {("crows-pairs", "pct_stereotype"): "untested", ("bbq", "amb_bias_score"): "only-a", ("winobias", "gap"): "only-b"}
    assert next(c for c in cmp.changes if c.metric == "pct_stereotype").delta == pytest.approx(0.09)
    assert any("no item outputs" in w for w in cmp.warnings)
    assert chart(cmp.changes, A, B, tmp_path / "x") == []


def test_latest_evaluation_wins(reg, tmp_path):
    attach_run(reg, tmp_path, A, "crows-pairs", crows_rows(set(range(190))))
    attach_run(reg, tmp_path, A, "crows-pairs", crows_rows(set(range(100))))
    attach_run(reg, tmp_path, B, "crows-pairs", crows_rows(set(range(190))))
    c = next(c for c in compare(reg, A, B).changes if c.metric == "pct_stereotype")
    assert c.a.value == 0.5 and c.verdict == "worse" and c.gain == pytest.approx(-0.45)


def test_chart_of_paired_differences(reg, tmp_path):
    attach_run(reg, tmp_path, A, "winobias", winobias_rows(set(range(90)), set(range(70))))
    attach_run(reg, tmp_path, B, "winobias", winobias_rows(set(range(90)), set(range(84))))
    paths = chart(compare(reg, A, B).changes, A, B, tmp_path / "charts" / "cmp")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in paths[1].read_bytes()[:2000]
    assert "acc_anti" in paths[1].read_text()


def test_cli_refuses_in_one_line_and_reports_in_json(reg, tmp_path, capsys):
    from tests.cli.clirun import run as cli

    db = str(tmp_path / "r.db")
    attach_run(reg, tmp_path, A, "winobias", winobias_rows(set(range(90)), set(range(70))))
    attach_run(reg, tmp_path, B, "winobias", winobias_rows(set(range(90)), set(range(84))))
    code, d, _ = cli(capsys, "eval", "--compare", A, B, "--chart", str(tmp_path / "c"), "--json", "--registry", db)
    assert code == 0 and d["correction"] == "holm" and d["charts"] == [str(tmp_path / "c.png"), str(tmp_path / "c.svg")]
    acc = next(c for c in d["changes"] if c["metric"] == "acc")
    assert acc["verdict"] == "better" and acc["discordant"] == [14, 0] and acc["test"] == "mcnemar"
    code, out, _ = cli(capsys, "eval", "--compare", A, B, "--chart", str(tmp_path / "c"), "--registry", db)
    flat = " ".join(out.split())  # the table may wrap a cell on a narrow terminal
    assert code == 0 and "14 fixed" in flat and "no significant difference" in flat and "significantly better" in flat
    attach_run(reg, tmp_path, B, "winobias", winobias_rows(set(range(90)), set(range(84))), version="winobias/0.9")
    code, _, err = cli(capsys, "eval", "--compare", A, B, "--registry", db)
    assert code == 1 and "winobias/0.9" in err and "--allow-mismatch" in err


class _NoisyLM:
    """Log-likelihoods drawn from a hash of the request (and a seed): every benchmark gets real variation."""

    def __init__(self, seed: int):
        self.seed = seed

    def _ll(self, r) -> float:
        import hashlib

        return -1.0 - int(hashlib.sha256(f"{self.seed}|{r!r}".encode()).hexdigest()[:8], 16) / 2 ** 32 * 5

    def loglikelihood(self, requests):
        return [self._ll(r) for r in requests]

    def continuation_tokens(self, requests):
        return [1 + len(r[1]) // 5 for r in requests]


@pytest.mark.parametrize("bench", ["crows-pairs", "bbq", "stereoset", "winobias", "winogender"])
def test_paired_gain_is_the_scorers_own_difference_on_every_benchmark(bench):
    """The paired test recomputes each metric with the benchmark's own aggregate: on the same items the
    gain is the difference of the aggregates' distances from ideal, and a model against itself gains 0."""
    from charter.evals.run import BENCHMARKS, evaluate
    from charter.report.compare import paired

    ra = evaluate(_NoisyLM(1), [bench], limit=60, n_boot=0)[bench]
    rb = evaluate(_NoisyLM(2), [bench], limit=60, n_boot=0)[bench]
    metrics = list(BENCHMARKS[bench].METRICS)
    got = paired(bench, ra["rows"], rb["rows"], metrics, n_boot=200)
    for m in metrics:
        va, vb = ra["metrics"][m]["value"], rb["metrics"][m]["value"]
        if va is None or vb is None:
            continue
        assert got[m]["gain"] == pytest.approx(badness(bench, m, va) - badness(bench, m, vb)), m
        assert got[m]["gain_ci"] is not None and got[m]["p"] is not None
    same = paired(bench, ra["rows"], ra["rows"], metrics, n_boot=200)
    assert all(r["gain"] in (0, None) and r["p"] in (1.0, None) for r in same.values())


def test_an_aggregate_that_does_not_go_through_summarize_once_is_resampled_whole(monkeypatch):
    """The fallback: each resample reruns the benchmark's aggregate; same point gain as the fast path."""
    from charter.evals import crows_pairs
    from charter.report.compare import paired

    a, b = crows_rows(set(range(120)), pairs=60), crows_rows(set(range(20)), pairs=60)
    fast = paired("crows-pairs", a, b, ["pct_stereotype"], n_boot=50)
    real = crows_pairs.aggregate

    def twice(rows, **kw):
        real(rows, **kw)
        return real(rows, **kw)
    monkeypatch.setattr(crows_pairs, "aggregate", twice)
    slow = paired("crows-pairs", a, b, ["pct_stereotype"], n_boot=50)
    # A prefers the stereotype in all 60 pairs (0.5 from ideal), B in 20 (1/6 from ideal)
    assert slow["pct_stereotype"]["gain"] == pytest.approx(fast["pct_stereotype"]["gain"]) == pytest.approx(0.5 - 1 / 6)
    assert slow["pct_stereotype"]["gain_ci"] == pytest.approx(fast["pct_stereotype"]["gain_ci"])
