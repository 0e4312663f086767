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
