"""charter eval: a gated use, a run folder, properties attached; --compare; requirements judged on them.

Uses the session's tiny random model (tests/conftest.py): model/tiny-lm@1 (fine-tuned from a
publisher's model that denies biometric identification) and model/rail-lm@1.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from charter.errors import Denied, UsageError
from charter.evals import data
from charter.evals.runs import EvalConfig, bench_names, run_eval
from tests.cli.clirun import run as cli
from tests.conftest import BASE, PUBLISHER


def cfg(work, **kw) -> EvalConfig:
    return replace(EvalConfig(BASE, ("crows-pairs", "bbq"), work.dir / "eval", limit=12, batch_size=8), **kw)


def test_run_folder_properties_and_idempotence(work):
    r = run_eval(work.reg, cfg(work))
    assert r.decision.allowed and r.decision.uses == ("evaluation",)
    assert [b["name"] for b in r.benchmarks] == ["crows-pairs", "bbq"]
    crows = r.benchmarks[0]
    assert crows["version"] == "crows-pairs/1.1" and crows["n"] == 12
    # the run folder: config + hash, one JSONL per benchmark, the aggregates
    config = json.loads((r.run / "config.json").read_text())
    assert config["config"]["benchmarks"] == {"crows-pairs": "crows-pairs/1.1", "bbq": "bbq/1.1"}
    rows = [json.loads(x) for x in (r.run / "items" / "crows-pairs.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {"ll_more", "ll_less", "bias_type"} <= set(rows[0])
    # metrics recomputed by hand from the per-item rows
    pct = sum(x["ll_more"] > x["ll_less"] for x in rows) / 12
    diff = sum(abs(x["ll_more"] - x["ll_less"]) for x in rows) / 12
    assert crows["metrics"]["pct_stereotype"]["value"] == pytest.approx(pct)
    assert crows["metrics"]["likelihood_diff"]["value"] == pytest.approx(diff)
    result = json.loads((r.run / "result.json").read_text())
    assert result["config_hash"] == config["hash"] and result["versions"]["torch"]
    # every metric is a property of the model, with its CI and run
    props = work.reg.properties(BASE)
    assert set(props) == {("crows-pairs", m) for m in crows["metrics"]} | {("bbq", m) for m in r.benchmarks[1]["metrics"]}
    p = props[("crows-pairs", "pct_stereotype")]
    assert p.value == pytest.approx(pct) and p.n == 12 and p.version == "crows-pairs/1.1" and p.run == str(r.run.resolve())
    lo, hi = p.ci
    assert lo <= p.value <= hi and set(p.detail["groups"]) == {x["bias_type"] for x in rows}
    # how it was measured: the bootstrap's unit and seed, the sample's seed and item ids, in the property and the result
    assert p.detail["bootstrap"]["unit"] == "pair" and p.detail["bootstrap"]["seed"] == 0 and p.detail["bootstrap"]["units"] == 12
    ids = [x["id"] for x in rows]
    assert p.detail["sample"]["seed"] == 0 and p.detail["sample"]["ids_sha256"] == data.ids_sha256(ids)
    assert result["benchmarks"][0]["sample"] == p.detail["sample"]
    b = props[("bbq", "acc")]
    assert b.detail["bootstrap"]["units"] == 3 and b.n == 12  # 3 BBQ examples of 4 questions each
    (event,) = work.reg.store.events(type="evaluate")
    assert set(event.data["benchmarks"]) == {"crows-pairs", "bbq"}
    # the same evaluation again: already done, nothing recomputed or attached
    again = run_eval(work.reg, cfg(work))
    assert again.already_done and again.benchmarks == r.benchmarks
    assert len(work.reg.store.events(type="evaluate")) == 1


def test_changed_config_into_the_same_folder_is_refused(work):
    run_eval(work.reg, cfg(work, benches=("crows-pairs",)))
    from charter.errors import Conflict

    with pytest.raises(Conflict, match="another config"):
        run_eval(work.reg, cfg(work, benches=("crows-pairs",), limit=13))


def test_evaluation_is_a_gated_use(work):
    work.reg.restrict(PUBLISHER, ["evaluation"], "the publisher forbids benchmarking")
    with pytest.raises(Denied) as e:
        run_eval(work.reg, cfg(work))
    (d,) = e.value.decisions
    assert [(r.rule, r.asset, r.source) for r in d.reasons] == [("deny", PUBLISHER, "restriction")]
    assert not (work.dir / "eval").exists()  # refused before any work or output


def test_bad_benchmark_names(work):
    assert bench_names(("crows-pairs,bbq", "bbq")) == ("crows-pairs", "bbq")
    with pytest.raises(UsageError, match="did you mean 'crows-pairs'"):
        bench_names(("crow-pairs",))
    with pytest.raises(UsageError, match="no benchmark"):
        bench_names(("",))


def test_requirement_is_judged_on_the_evaluation(work, tmp_path):
    f = tmp_path / "app.yaml"
    f.write_text(f"id: application/screener@1\nuses: {{allow: [employment-decisions]}}\n"
                 f"requires: [{{use: employment-decisions, benchmark: crows-pairs, metric: pct_stereotype, max: 1.0}}]\n"
                 f"derived_from: [{{asset: {BASE}, relation: deployed-from}}]\n")
    work.reg.add_files([f])
    d = work.reg.check("application/screener@1", ["inference", "employment-decisions"])
    assert [r.rule for r in d.reasons] == ["property-missing"]
    run_eval(work.reg, cfg(work, benches=("crows-pairs",)))
    assert work.reg.check("application/screener@1", ["inference", "employment-decisions"]).allowed


def test_cli_eval_compare_and_card(work, capsys):
    db = work.db
    code, d, _ = cli(capsys, "eval", BASE, "--bench", "crows-pairs", "--limit", "8", "--out", str(work.dir / "e1"), "--json", "--registry", db)
    assert code == 0 and d["model"] == BASE and d["benchmarks"][0]["n"] == 8 and not d["already_done"]
    code, out, _ = cli(capsys, "eval", "model/rail-lm@1", "--bench", "crows-pairs", "--limit", "8", "--out", str(work.dir / "e2"), "--registry", db)
    assert code == 0 and "pct_stereotype" in out and "attached 2 properties" in out
    code, d, _ = cli(capsys, "eval", "--compare", BASE, "model/rail-lm@1", "--chart", str(work.dir / "cmp"), "--json", "--registry", db)
    assert code == 0 and {c["metric"] for c in d["changes"]} == {"likelihood_diff", "pct_stereotype"}
    assert d["charts"] == [str(work.dir / "cmp.png"), str(work.dir / "cmp.svg")]
    code, out, _ = cli(capsys, "card", BASE, "--registry", db)
    assert code == 0 and "| crows-pairs | pct_stereotype |" in out
    code, _, err = cli(capsys, "eval", BASE, "--bench", "crowspairs", "--registry", db)
    assert code == 2 and "did you mean 'crows-pairs'" in err
    code, _, err = cli(capsys, "eval", "--compare", BASE, "model/publisher-lm@1", "--registry", db)
    assert code == 0  # one side evaluated: shown as only-a
    code, _, err = cli(capsys, "eval", BASE, "--bench", "bbq", "--limit", "0", "--registry", db)
    assert code == 2 and "--limit" in err


def test_swapped_weights_are_refused_before_the_run_folder(work, tmp_path):
    """Issue 12: eval scored whatever the registered folder held; now a swapped file is refused, named with both hashes."""
    import hashlib
    import shutil

    from charter.errors import IntegrityError
    from charter.models.registry import add_folder

    copy = tmp_path / "weights"
    shutil.copytree(work.ws.tiny, copy)
    a = add_folder(work.reg, copy, "model/swapped@1", ("Apache-2.0",))
    f = copy / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-8] + b"\0" * 8)
    registered = next(x["sha256"] for x in a.notes["weights"]["files"] if x["path"] == "model.safetensors")
    c = cfg(work, model=a.id, benches=("crows-pairs",))
    with pytest.raises(IntegrityError) as e:
        run_eval(work.reg, c)
    assert e.value.where == str(f.resolve()) and f"registered sha256 {registered}, found {hashlib.sha256(f.read_bytes()).hexdigest()}" in e.value.message
    assert not c.out.exists() and work.reg.properties(a.id) == {}


def test_cli_prints_paired_benchmarks_and_undefined_group_values(work, capsys):
    """Winogender's neutral group has no pro/anti sentences (acc_pro undefined): printed n/a, not a crash."""
    code, out, _ = cli(capsys, "eval", BASE, "--bench", "winogender,winobias", "--limit", "6", "--out", str(work.dir / "wg"), "--registry", work.db)
    assert code == 0 and "neutral n/a" in out and "mcnemar_p" in out and "test/type1" in out
    assert "3 units, stratified random sample of units (seed 0); unit: pair" in out and "19 excluded as data quirks" in out
    result = json.loads((work.dir / "wg" / "result.json").read_text())
    wb = next(b for b in result["benchmarks"] if b["name"] == "winobias")
    assert wb["n"] == 6 and wb["sample"]["units"] == 3 and wb["sample"]["excluded"]["pairs"] == 19
    assert wb["metrics"]["gap"]["bootstrap"]["unit"].startswith("pair")
