"""charter eval --sweep / --trend: a property across models, each point with its interval, no curve fitted."""

from __future__ import annotations

import pytest

from charter.core.assets import Asset, Property
from charter.errors import InvalidInput
from charter.evals import trend
from charter.registry import Registry
from tests.cli.clirun import run


@pytest.fixture
def reg(tmp_path):
    r = Registry.open(str(tmp_path / "r.db"))
    ms = [Asset(id=f"model/ckpt-{k}@1", kind="model", name=f"ckpt-{k}", version="1", licenses=("MIT",),
                notes={"run": {"metrics": {"tokens": k * 1000, "parameters": 42_000}}}) for k in (1, 2, 4)]
    r.add(ms)
    r.attach([Property(m.id, "winobias", "winobias/1.1", "gap", v, ci, 100)
              for m, v, ci in zip(ms, (0.10, 0.07, 0.12), ((0.05, 0.15), (0.02, 0.12), (0.07, 0.17)))])
    yield r
    r.close()


def test_points_by_tokens_and_order(reg):
    pts = trend.points(reg, ["model/ckpt-1", "model/ckpt-2", "model/ckpt-4"], "winobias", ["gap"], "tokens")
    assert [(p.x, p.value, p.ci) for p in pts] == [(1000.0, 0.10, (0.05, 0.15)), (2000.0, 0.07, (0.02, 0.12)), (4000.0, 0.12, (0.07, 0.17))]
    assert [p.x for p in trend.points(reg, ["model/ckpt-4", "model/ckpt-1"], "winobias", ["gap"], "order")] == [0.0, 1.0]
    assert trend.versions(pts) == ["winobias/1.1"]


def test_missing_evaluations_and_axes_say_how_to_fix(reg):
    with pytest.raises(InvalidInput, match="has no bbq evaluation of acc") as e:
        trend.points(reg, ["model/ckpt-1"], "bbq", ["acc"])
    assert "charter eval --sweep model/ckpt-1 --bench bbq" in e.value.hint
    reg.add([Asset(id="model/plain@1", kind="model", name="plain", version="1", licenses=("MIT",))])
    with pytest.raises(InvalidInput, match="records no training tokens"):
        trend.x_value(reg, "model/plain@1", "tokens", 0)


def test_parameters_are_counted_from_the_weights_without_loading_them(tmp_path):
    from charter.models.registry import add_folder
    from charter.models.tiny import make_tiny

    r = Registry.open(str(tmp_path / "t.db"))
    folder = make_tiny(tmp_path / "tiny")
    a = add_folder(r, folder, "model/tiny@1", ("MIT",))
    import torch  # the reference count: the loaded model's parameters
    from transformers import AutoModelForCausalLM

    want = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(folder).parameters())
    tied = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(folder).get_input_embeddings().parameters())
    got = trend.count_parameters(r.get(a.id))
    assert got in (want, want + tied)  # tied embeddings are stored once or twice depending on the writer
    assert torch is not None
    r.close()


def test_trend_cli_writes_the_chart_and_warns_on_mixed_versions(reg, tmp_path, capsys):
    db = str(reg.store.path) if hasattr(reg.store, "path") else None
    db = db or str(tmp_path / "r.db")
    stem = tmp_path / "chart" / "gap"
    code, d, _ = run(capsys, "eval", "--trend", "model/ckpt-1", "model/ckpt-2", "model/ckpt-4", "--bench", "winobias", "--metric", "gap",
                     "--x", "tokens", "--chart", str(stem), "--registry", db, "--json")
    assert code == 0 and [p["x"] for p in d["points"]] == [1000, 2000, 4000] and d["versions"] == ["winobias/1.1"]
    assert (tmp_path / "chart" / "gap.png").stat().st_size > 1000 and (tmp_path / "chart" / "gap.svg").exists()
    reg.attach([Property("model/ckpt-4@1", "winobias", "winobias/1.0", "gap", 0.2, (0.1, 0.3), 50)])
    code, out, err = run(capsys, "eval", "--trend", "model/ckpt-1", "model/ckpt-4", "--bench", "winobias", "--metric", "gap",
                         "--chart", str(stem), "--registry", db)
    assert code == 0 and "different versions of winobias" in err and "no curve fitted" in out
    code, _, err = run(capsys, "eval", "--trend", "model/ckpt-1", "--bench", "winobias", "--metric", "gapp", "--registry", db)
    assert code == 2 and "winobias has no metric 'gapp'" in err


def test_sweep_evaluates_each_model_for_real(tmp_path, capsys):
    """The real path: two tiny models, each evaluated (its own gated decision and run folder), then a trend by parameters."""
    from charter.models.registry import add_folder
    from charter.models.tiny import make_tiny

    db = str(tmp_path / "s.db")
    r = Registry.open(db)
    add_folder(r, make_tiny(tmp_path / "a", seed=0), "model/tiny-a@1", ("MIT",))
    add_folder(r, make_tiny(tmp_path / "b", seed=1), "model/tiny-b@1", ("MIT",))
    r.close()
    code, d, err = run(capsys, "eval", "--sweep", "model/tiny-a", "model/tiny-b", "--bench", "crows-pairs", "--limit", "6",
                       "--out", str(tmp_path / "runs"), "--registry", db, "--json")
    assert code == 0, err
    assert [m["model"] for m in d["models"]] == ["model/tiny-a@1", "model/tiny-b@1"]
    assert all(m["benchmarks"][0]["name"] == "crows-pairs" for m in d["models"])
    code, d, _ = run(capsys, "eval", "--trend", "model/tiny-a", "model/tiny-b", "--bench", "crows-pairs", "--x", "parameters",
                     "--chart", str(tmp_path / "t"), "--registry", db, "--json")
    assert code == 0 and len(d["points"]) == 4 and d["points"][0]["x"] == d["points"][2]["x"] > 0


# --- a training run's snapshots: charter train --snapshot-every N, then --sweep RUN_DIR and --trend RUN_DIR ----------------
@pytest.fixture
def snapshot_run(work):
    """A finished 8-step pretraining run on the curated corpus that kept the weights at steps 4 and 8."""
    from charter.training.pretrain import TrainConfig, train
    from tests.conftest import CURATED
    from tests.training.test_pretrain import USES, config_file

    out = train(work.reg, TrainConfig(CURATED, work.dir / "scratch", config_file(work), USES, steps=8, snapshot_every=4,
                                      name="scratch", version="1"))
    return work, work.dir / "scratch", out


def test_sweep_a_run_folder_registers_and_evaluates_each_snapshot(snapshot_run, capsys):
    work, run_dir, out = snapshot_run
    code, d, err = run(capsys, "eval", "--sweep", str(run_dir), "--bench", "crows-pairs", "--limit", "6",
                       "--out", str(work.dir / "evals"), "--registry", work.db, "--json")
    assert code == 0, err
    ids = ["model/scratch-step-4@1", "model/scratch-step-8@1"]
    assert [m["model"] for m in d["models"]] == ids and d["trend"].endswith(f"--trend {run_dir} --bench crows-pairs --x tokens")
    final = work.reg.get(out["model"])
    for mid, step in zip(ids, (4, 8)):
        a = work.reg.get(mid)
        assert a.notes["run"]["metrics"]["tokens"] == step * 8 * 32 and a.notes["run"]["step"] == step and a.notes["snapshot_of"] == final.id
        assert [(e.parent, e.relation) for e in a.derived_from] == [(e.parent, e.relation) for e in final.derived_from]
        assert a.licenses == final.licenses and a.notes["declared_uses"] == final.notes["declared_uses"]
        assert a.notes["weights"]["path"] == str((run_dir / "snapshots" / f"step-{step}").resolve())
        # decided as the final model is
        assert work.reg.can(mid, ["evaluation", "machine-translation"]).allowed == work.reg.can(final.id, ["evaluation", "machine-translation"]).allowed
        assert not work.reg.check(mid, ["inference", "summarization", "commercial"]).allowed
        assert {(p.benchmark, p.metric) for p in work.reg.properties(mid).values()} == {("crows-pairs", "likelihood_diff"), ("crows-pairs", "pct_stereotype")}
    # a second sweep finds the snapshots registered and the evaluations done
    code, d, err = run(capsys, "eval", "--sweep", str(run_dir), "--bench", "crows-pairs", "--limit", "6",
                       "--out", str(work.dir / "evals"), "--registry", work.db, "--json")
    assert code == 0, err and all(m["already_done"] for m in d["models"])
    # the trend over the run: tokens by default, in step order
    code, d, err = run(capsys, "eval", "--trend", str(run_dir), "--bench", "crows-pairs", "--metric", "pct_stereotype",
                       "--chart", str(work.dir / "trend"), "--registry", work.db, "--json")
    assert code == 0, err
    assert d["x"] == "tokens" and [(p["model"], p["x"]) for p in d["points"]] == [(ids[0], 4 * 256), (ids[1], 8 * 256)]
    assert (work.dir / "trend.png").stat().st_size > 1000 and (work.dir / "trend.svg").exists()
    code, d, _ = run(capsys, "eval", "--trend", *reversed(ids), "--bench", "crows-pairs", "--metric", "pct_stereotype", "--x", "tokens",
                     "--chart", str(work.dir / "trend2"), "--registry", work.db, "--json")
    assert code == 0 and [p["x"] for p in d["points"]] == [8 * 256, 4 * 256]  # the snapshot models themselves, too


def test_sweep_refuses_what_is_not_a_finished_run_with_snapshots(snapshot_run, capsys):
    import json

    from charter.training.pretrain import TrainConfig, train
    from tests.conftest import CURATED
    from tests.training.test_pretrain import USES, config_file

    work, run_dir, _ = snapshot_run

    def refused(target, *extra):
        code, out, err = run(capsys, "eval", "--sweep", str(target), "--bench", "crows-pairs", "--limit", "4",
                             "--out", str(work.dir / "evals"), "--registry", work.db, *extra)
        assert code != 0 and out == "" and err.count("\n") == 1  # one line: what is wrong, where, and the fix
        return code, err

    plain = work.dir / "plain"
    train(work.reg, TrainConfig(CURATED, plain, config_file(work), USES, steps=2))
    code, err = refused(plain)
    assert code == 1 and f"{plain}: the run kept no snapshots" in err and "--snapshot-every N" in err
    code, err = refused(work.dir / "nowhere")
    assert ": not a folder" in err
    (work.dir / "empty").mkdir()
    code, err = refused(work.dir / "empty")
    assert "empty: not a run folder" in err
    unfinished = work.dir / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((run_dir / "config.json").read_text())
    code, err = refused(unfinished)
    assert "has not finished (no result.json)" in err and "re-run the same `charter train` command" in err
    evals = work.dir / "an-eval"
    evals.mkdir()
    (evals / "config.json").write_text(json.dumps({"hash": "x", "config": {"kind": "eval"}}))
    code, err = refused(evals)
    assert "holds a `charter eval` run, not a `charter train` or `charter adapt` run" in err
    # the trend of a run whose snapshots were never swept says how
    code, _, err = run(capsys, "eval", "--trend", str(run_dir), "--bench", "crows-pairs", "--registry", work.db)
    assert code == 1 and "are not registered" in err and f"charter eval --sweep {run_dir} --bench" in err
    # a tampered snapshot: refused, naming the file, before anything is registered or evaluated
    weights = run_dir / "snapshots" / "step-8" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    code, err = refused(run_dir)
    assert "step-8/model.safetensors: snapshot step 8: model.safetensors changed since training wrote it" in err
    assert work.reg.store.get("model/scratch-step-4@1") is None and not (work.dir / "evals").exists()
