"""`charter adapt`: decided before anything heavy, LoRA / full fine-tuning, registration, run folders, resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from charter.errors import Conflict, Denied, InvalidInput, UsageError
from charter.models.loading import load_registered, verify_registered
from charter.training import adapt as adapt_mod
from charter.core import runs
from charter.training.adapt import AdaptConfig, adapt
from tests.conftest import BASE, CURATED, MT, PUBLISHER

SMALL = {"steps": 4, "batch_size": 2, "seq_len": 32, "checkpoint_every": 2}


def config(work, out: str, base: str = BASE, data: str = CURATED, uses=MT, **kw) -> AdaptConfig:
    return AdaptConfig(base, data, tuple(uses), work.dir / out, **{**SMALL, **kw})


@pytest.fixture
def nothing_heavy(monkeypatch):
    """Fail the test if a model is loaded or the data is read."""
    def boom(*a, **k):
        raise AssertionError("loaded something before the decision")

    monkeypatch.setattr("charter.models.hf.load", boom)
    monkeypatch.setattr("charter.training.data.texts", boom)
    monkeypatch.setattr("charter.training.data.blocks", boom)


def reasons(e: Denied) -> list:
    return [r for d in e.decisions for r in d.reasons]


# --- refused before any compute ------------------------------------------------------------------
def test_refused_when_base_lineage_denies_names_imposing_asset_and_path(work, nothing_heavy):
    cfg = config(work, "creep", uses=("fine-tuning", "face-recognition"))
    with pytest.raises(Denied) as e:
        adapt(work.reg, cfg)
    assert e.value.exit_code == 3
    assert {d.asset for d in e.value.decisions} == {BASE, CURATED}  # the full chain: the base's and the data's
    r = next(r for r in reasons(e.value) if r.asset == PUBLISHER)
    assert (r.rule, r.use, r.source, r.entries, r.path) == ("deny", "face-recognition", "uses.deny", ("biometric-identification",), (BASE, PUBLISHER))
    assert not cfg.out.exists()  # no run folder
    logged = [ev.data for ev in work.reg.store.events(type="decision")][-2:]  # every decision is logged
    assert [(x["asset"], x["uses"], x["allowed"]) for x in logged] == [(BASE, list(cfg.uses), False), (CURATED, list(cfg.uses), False)]


def test_refusal_via_cli_exit_3_without_importing_torch(work):
    out = work.dir / "creep"
    code = ("import sys; from charter.cli.main import main; rc = main(sys.argv[1:]); "
            "print('HEAVY', [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code, "adapt", BASE, "--data", CURATED, "--for", "fine-tuning", "face-recognition",
                        "--out", str(out), "--registry", work.db], capture_output=True, text=True)
    assert p.returncode == 3, p.stderr
    assert "HEAVY []" in p.stdout
    assert p.stderr.startswith("charter: denied: adapting model/tiny-lm@1 on dataset/community-mt@1 for fine-tuning, face-recognition")
    assert f"path: {BASE} -> {PUBLISHER}" in p.stdout + p.stderr
    assert not out.exists()


def test_refused_when_record_tags_forbid_with_counts_and_hint(work, nothing_heavy):
    raw = "dataset/community-messages@1"
    cfg = config(work, "raw", data=raw)
    assert work.reg.check(raw, MT).allowed  # the source's own charter permits it; some records' owners do not
    with pytest.raises(Denied) as e:
        adapt(work.reg, cfg)
    ex = e.value.exclusions
    assert ex and all(k.startswith("record-") for k in ex)
    assert "record-deny:machine-translation" in ex and "record-deny:commercial" in ex
    # the same counts the curation of this source for the same uses reported
    manifest = json.loads(Path(work.reg.get(CURATED).notes["curation"]["manifest"]).read_text())
    assert ex == next(s for s in manifest["sources"] if s["asset"] == raw)["excluded"]
    assert f"records of {raw} do not permit" in e.value.message
    assert e.value.hint == f"curate first: charter curate {raw} --for {' '.join(MT)} --out DIR"
    assert e.value.to_json()["record_exclusions"] == ex
    assert not cfg.out.exists()


def test_refused_when_a_record_owner_withdrew(work, nothing_heavy):
    """Withdrawn owners count like tags: data curated before the withdrawal still holds their records."""
    import duckdb

    from charter.data.owners import withdraw_records

    files = work.reg.get(CURATED).data["files"]
    owner, n = duckdb.connect().execute(f"SELECT charter_owner, count(*) FROM read_parquet({files!r}) GROUP BY 1 ORDER BY 1 LIMIT 1").fetchall()[0]
    withdraw_records(work.reg, [owner], "asked to be removed")
    with pytest.raises(Denied) as e:
        adapt(work.reg, config(work, "withdrawn"))
    assert e.value.exclusions == {"owner-withdrew-consent": n}


def test_refused_non_commercial_data_for_commercial(work, nothing_heavy):
    with pytest.raises(Denied) as e:
        adapt(work.reg, config(work, "nc", data="dataset/web-text@1", uses=("fine-tuning", "commercial")))
    (r,) = reasons(e.value)
    assert (r.asset, r.rule, r.use, r.source, r.path) == ("dataset/web-text@1", "deny", "commercial", "license:CC-BY-NC-4.0", ("dataset/web-text@1",))


@pytest.mark.parametrize("change, error", [
    ({"steps": 0}, UsageError), ({"batch_size": 0}, UsageError), ({"method": "qlora"}, UsageError),
    ({"version": "bad version"}, UsageError), ({"base": CURATED}, InvalidInput), ({"data": BASE}, InvalidInput),
    ({"base": PUBLISHER}, InvalidInput),  # permitted, but no registered weights
    ({"snapshot_every": 0}, UsageError), ({"snapshot_every": 5}, UsageError),  # SMALL has 4 steps
])
def test_bad_options_refused_before_loading(work, nothing_heavy, change, error):
    cfg = config(work, "bad", **change)
    with pytest.raises(error):
        adapt(work.reg, cfg)
    assert not cfg.out.exists()


# --- LoRA and full fine-tuning -------------------------------------------------------------------
def test_lora_registers_adapter_with_hashes_config_and_metrics(work):
    from charter.models.hf import folder_hash

    r = adapt(work.reg, config(work, "lora-run"))
    a = work.reg.get(r.asset.id)
    assert a.id == f"model/lora-run@{r.asset.version}" and len(a.version) == 12
    assert {(e.parent, e.relation) for e in a.derived_from} == {(BASE, "adapter-of"), (CURATED, "trained-on")}
    assert a.licenses == ("derived",)
    assert a.notes["declared_uses"] == list(MT)
    w = a.notes["weights"]
    assert w["format"] == "peft-lora" and Path(w["path"]).is_dir() and w["sha256"] == folder_hash(Path(w["path"]))
    assert w["base_path"] == str(work.ws.tiny.resolve())
    # the run folder
    run = r.run
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["hash"] == runs.config_hash(cfg["config"]) == a.notes["run"]["config_hash"] and a.version == cfg["hash"][:12]
    assert cfg["config"]["base"] == BASE and cfg["config"]["data"] == CURATED and cfg["config"]["uses"] == list(MT)
    assert cfg["config"]["base_sha256"] == work.reg.get(BASE).notes["weights"]["sha256"]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in rows] == [1, 2, 3, 4]
    assert all(set(x) == {"step", "loss", "tokens", "tokens_per_s", "lr"} for x in rows)
    assert all(math.isfinite(x["loss"]) and x["loss"] > 0 and x["tokens"] == 2 * 32 for x in rows)
    assert (run / "checkpoint" / "state.safetensors").is_file() and (run / "checkpoint" / "state.json").is_file()  # never a pickle
    assert (run / "final" / "adapter_model.safetensors").is_file()
    result = json.loads((run / "result.json").read_text())
    assert result["weights"] == w and result["config_hash"] == cfg["hash"] and result["metrics"] == r.metrics
    assert [d["asset"] for d in result["decisions"]] == [BASE, CURATED]
    assert r.metrics == {"steps": 4, "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"], "tokens": 4 * 64,
                         "tokens_per_s": rows[-1]["tokens_per_s"]}
    assert adapt_mod.as_json(r)["weights"] == w


def test_adapted_model_inherits_every_upstream_restriction(work):
    a = adapt(work.reg, config(work, "lora-inherit", steps=1)).asset
    d = work.reg.check(a.id, ["inference", "face-recognition"])
    assert not d.allowed
    r = next(r for r in d.reasons if r.asset == PUBLISHER)
    assert r.path == (a.id, BASE, PUBLISHER) and r.entries == ("biometric-identification",)
    assert work.reg.check(a.id, ["inference", "machine-translation", "commercial"]).allowed
    # the data was curated for machine translation: another purpose is refused through it
    d = work.reg.check(a.id, ["inference", "summarization", "commercial"])
    assert [(r.asset, r.rule, r.use, r.path) for r in d.reasons] == [(CURATED, "allow-only", "summarization", (a.id, CURATED))]


def test_full_fine_tuning_registers_fine_tuned_from_and_saves_a_model(work):
    import torch
    from safetensors.torch import load_file

    r = adapt(work.reg, config(work, "full-run", method="full", steps=2, lr=1e-3))
    a = work.reg.get(r.asset.id)
    assert {(e.parent, e.relation) for e in a.derived_from} == {(BASE, "fine-tuned-from"), (CURATED, "trained-on")}
    final = r.run / "final"
    assert a.notes["weights"]["format"] == "hf" and a.notes["weights"]["path"] == str(final.resolve())
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in final.iterdir()}
    new, old = load_file(final / "model.safetensors"), load_file(work.ws.tiny / "model.safetensors")
    assert new.keys() == old.keys() and any(not torch.equal(new[k], old[k]) for k in new)
    model, tok = load_registered(work.reg.get, a)
    assert type(model).__name__ == "LlamaForCausalLM" and tok.eos_token == "</s>"


# --- resume ---------------------------------------------------------------------------------------
class Interrupted(Exception):
    pass


def test_resume_after_interruption_matches_an_uninterrupted_run(work, monkeypatch):
    from safetensors.torch import load_file

    kw = {"steps": 6, "checkpoint_every": 2, "lr": 1e-2}
    whole = adapt(work.reg, config(work, "whole", **kw))
    log = runs.RunFolder.log

    def crash_at_4(self, row):
        if row["step"] == 4:  # after step 3 was logged and step 2 checkpointed
            raise Interrupted
        log(self, row)

    monkeypatch.setattr(runs.RunFolder, "log", crash_at_4)
    cfg = config(work, "resumed", **kw)
    with pytest.raises(Interrupted):
        adapt(work.reg, cfg)
    assert [json.loads(x)["step"] for x in (cfg.out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert not (cfg.out / "final").exists() and not (cfg.out / "result.json").exists()
    monkeypatch.setattr(runs.RunFolder, "log", log)

    r = adapt(work.reg, cfg)
    assert r.resumed_from == 2
    rows = [json.loads(x) for x in (cfg.out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in rows] == [1, 2, 3, 4, 5, 6]
    whole_rows = [json.loads(x) for x in (whole.run / "metrics.jsonl").read_text().splitlines()]
    assert [x["loss"] for x in rows] == pytest.approx([x["loss"] for x in whole_rows], abs=1e-5)
    a, b = load_file(whole.run / "final" / "adapter_model.safetensors"), load_file(r.run / "final" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    assert r.metrics["steps"] == 6 and r.metrics["tokens"] == 6 * 64

    # the same config again: nothing to do, same registration
    again = adapt(work.reg, cfg)
    assert again.resumed_from == 6 and again.asset == r.asset
    # a changed config into the same folder is refused, and the folder is untouched
    before = sorted((p.name, p.stat().st_mtime_ns) for p in cfg.out.rglob("*"))
    with pytest.raises(Conflict, match="holds a run with another config"):
        adapt(work.reg, config(work, "resumed", **{**kw, "lr": 2e-2}))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in cfg.out.rglob("*")) == before


def test_out_folder_with_other_files_refused(work):
    out = work.dir / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(Conflict, match="already holds other files"):
        adapt(work.reg, config(work, "busy"))


# --- loading registered models -------------------------------------------------------------------
def _logits(model, ids):
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_load_registered_lora_reproduces_base_plus_adapter(work):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    a = adapt(work.reg, config(work, "lora-load", lr=3e-2)).asset
    model, tok = load_registered(work.reg.get, a)
    ids = torch.tensor([tok("the river and the bridge")["input_ids"]])
    base = AutoModelForCausalLM.from_pretrained(work.ws.tiny)
    plain = _logits(base, ids)
    want = _logits(PeftModel.from_pretrained(base, a.notes["weights"]["path"]), ids)
    got = _logits(model, ids)
    assert torch.allclose(got, want, atol=1e-6)
    assert (got - plain).abs().max() > 1e-3  # the adapter changed the model


def test_adapter_of_an_adapted_model_loads_both_adapters(work):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    first = adapt(work.reg, config(work, "lora-1", lr=3e-2)).asset
    second = adapt(work.reg, config(work, "lora-2", base=first.id, lr=3e-2)).asset
    assert {(e.parent, e.relation) for e in second.derived_from} == {(first.id, "adapter-of"), (CURATED, "trained-on")}
    model, tok = load_registered(work.reg.get, second)
    ids = torch.tensor([tok("a community garden in summer")["input_ids"]])
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(work.ws.tiny), first.notes["weights"]["path"]).merge_and_unload()
    want = _logits(PeftModel.from_pretrained(merged, second.notes["weights"]["path"]), ids)
    assert torch.allclose(_logits(model, ids), want, atol=1e-5)
    # its lineage reaches the publisher through both adapters
    r = next(r for r in work.reg.check(second.id, ["inference", "face-recognition"]).reasons if r.asset == PUBLISHER)
    assert r.path == (second.id, first.id, BASE, PUBLISHER)


def test_full_fine_tuning_of_an_adapted_model(work):
    first = adapt(work.reg, config(work, "lora-base", steps=1)).asset
    r = adapt(work.reg, config(work, "full-of-lora", base=first.id, method="full", steps=1))
    assert r.asset.notes["weights"]["format"] == "hf" and (r.run / "final" / "model.safetensors").is_file()


def _swap(folder: Path) -> None:
    """Replace the weights file's last 8 bytes (same size: only the content gives it away)."""
    f = folder / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-8] + b"\0" * 8)


def test_swapped_weights_are_refused_by_every_stage_that_loads_them(work, tmp_path):
    """Issue 12: a registered model's weights replaced on disk were loaded (and served) as if registered.
    adapt, eval, serve and generate all load through load_registered, which verifies the digest first."""
    import hashlib
    import shutil

    from charter.errors import IntegrityError
    from charter.models.registry import add_folder

    copy = tmp_path / "weights"
    shutil.copytree(work.ws.tiny, copy)
    a = add_folder(work.reg, copy, "model/swapped@1", ("Apache-2.0",))
    registered = next(f["sha256"] for f in a.notes["weights"]["files"] if f["path"] == "model.safetensors")
    load_registered(work.reg.get, a)  # intact: loads
    _swap(copy)
    with pytest.raises(IntegrityError) as e:
        load_registered(work.reg.get, a)
    found = hashlib.sha256((copy / "model.safetensors").read_bytes()).hexdigest()
    assert e.value.where == str(copy.resolve() / "model.safetensors") and e.value.exit_code == 1
    assert f"registered sha256 {registered}, found {found}" in e.value.message and "new version" in e.value.hint


def test_adapt_refuses_a_swapped_base_before_any_run_folder(work, tmp_path, nothing_heavy):
    import shutil

    from charter.errors import IntegrityError
    from charter.models.registry import add_folder

    copy = tmp_path / "weights"
    shutil.copytree(work.ws.tiny, copy)
    add_folder(work.reg, copy, "model/swapped@1", ("Apache-2.0",))
    _swap(copy)
    cfg = config(work, "on-swapped", base="model/swapped@1")
    with pytest.raises(IntegrityError, match="model.safetensors changed since registration"):
        adapt(work.reg, cfg)
    assert not cfg.out.exists()


def test_an_adapters_swapped_base_is_refused(work, tmp_path):
    """Loading an adapter loads its base too: the base's weights are verified as well."""
    import shutil

    from charter.errors import IntegrityError
    from charter.models.registry import add_folder

    copy = tmp_path / "weights"
    shutil.copytree(work.ws.tiny, copy)
    add_folder(work.reg, copy, "model/base-copy@1", ("Apache-2.0",))
    adapter = adapt(work.reg, config(work, "over-copy", base="model/base-copy@1", steps=1)).asset
    load_registered(work.reg.get, adapter)
    _swap(copy)
    with pytest.raises(IntegrityError) as e:
        load_registered(work.reg.get, adapter)
    assert e.value.where == str(copy.resolve() / "model.safetensors") and "model/base-copy@1" in e.value.message
    (Path(adapter.notes["weights"]["path"]) / "adapter_model.safetensors").write_bytes(b"not an adapter")
    with pytest.raises(IntegrityError, match="adapter_model.safetensors"):
        verify_registered(work.reg.get, adapter)  # the adapter's own file, checked first


def test_an_adapter_without_a_registered_base_is_refused(work):
    from dataclasses import replace

    first = adapt(work.reg, config(work, "orphan", steps=1)).asset
    orphan = replace(first, id="model/orphan@1", version="1", derived_from=tuple(e for e in first.derived_from if e.relation != "adapter-of"))
    with pytest.raises(InvalidInput, match="no registered base"):
        load_registered(work.reg.get, orphan)


def test_adapt_refuses_an_edited_data_shard_before_any_run_folder(work, tmp_path, nothing_heavy):
    """The training data is verified against the digests curate registered: a shard rewritten afterwards
    (here: records the curation excluded slipped back in) is refused, naming it (train reads through the same check)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from charter.data.curate import CurateConfig, curate
    from charter.errors import IntegrityError
    from tests.conftest import SOURCES

    curate(work.reg, CurateConfig(SOURCES, MT, tmp_path / "cur", name="cur-copy", version="1"))
    shard = (tmp_path / "cur" / "part-00000.parquet").resolve()
    t = pq.read_table(shard)
    pq.write_table(pa.concat_tables([t, t.slice(0, 1)]), shard)
    cfg = config(work, "on-edited", data="dataset/cur-copy@1")
    with pytest.raises(IntegrityError) as e:
        adapt(work.reg, cfg)
    assert e.value.where == str(shard) and "dataset/cur-copy@1" in e.value.message and not cfg.out.exists()


# --- held-out loss --------------------------------------------------------------------------------
def _heldout_dataset(work, name: str, deny: str = "") -> str:
    f = work.dir / f"{name}.jsonl"
    f.write_text("".join(json.dumps({"text": f"the river and the bridge near the garden, letter {i}"}) + "\n" for i in range(40)))
    aid = f"dataset/{name}@1"
    (work.dir / f"{name}.yaml").write_text(f"id: {aid}\nlicense: CC0-1.0\n" + (f"uses: {{deny: [{deny}]}}\n" if deny else "")
                                           + f"data: {{files: [{f}], fields: {{text: text}}}}\n")
    work.reg.add_files([work.dir / f"{name}.yaml"])
    return aid


def test_heldout_loss_of_base_and_adapted_is_measured_and_recorded(work):
    held = _heldout_dataset(work, "held")
    r = adapt(work.reg, config(work, "held-run", heldout=held, lr=1e-2))
    h = r.metrics["heldout"]
    assert h["dataset"] == held and h["blocks"] >= 1 and h["tokens"] == h["blocks"] * SMALL["seq_len"]
    assert math.isfinite(h["base_loss"]) and math.isfinite(h["adapted_loss"]) and h["adapted_loss"] != h["base_loss"]
    assert work.reg.get(r.asset.id).notes["run"]["metrics"]["heldout"] == h
    result = json.loads((r.run / "result.json").read_text())
    assert result["metrics"]["heldout"] == h
    assert [d["asset"] for d in result["decisions"]] == [BASE, CURATED, held]  # measuring on it was decided too
    assert result["decisions"][2]["uses"][0] == "evaluation"
    # the base's loss, measured on its own, is what the run recorded (the same blocks, the same model)
    from charter.training.heldout import loss
    from charter.training.data import texts

    assert loss(work.reg.get, work.reg.get(BASE), texts(work.reg.get(held)), SMALL["seq_len"])["loss"] == h["base_loss"]


def test_heldout_that_forbids_evaluation_is_refused_before_compute(work, nothing_heavy):
    held = _heldout_dataset(work, "no-eval", deny="evaluation")
    with pytest.raises(Denied) as e:
        adapt(work.reg, config(work, "no-eval-run", heldout=held))
    assert [(r.asset, r.use) for r in reasons(e.value)] == [(held, "evaluation")]
    assert not (work.dir / "no-eval-run").exists()
    with pytest.raises(InvalidInput, match="--heldout is the training data"):
        adapt(work.reg, config(work, "same-run", heldout=CURATED))


def test_lora_snapshots_are_adapters_registered_over_the_same_base(work):
    """`adapt --snapshot-every N`: the adapter kept every N steps; registered (charter eval --sweep RUN) as adapters
    over the same base, they load as the final adapter does, and the last one is the final adapter."""
    from safetensors.torch import load_file

    from charter.training import snapshots

    r = adapt(work.reg, config(work, "snap", snapshot_every=2, name="snap", version="1"))
    kept = snapshots.records(r.run)
    assert [(x["step"], x["tokens"]) for x in kept] == [(2, 2 * 2 * 32), (4, 4 * 2 * 32)]
    files = sorted(p.name for p in (r.run / "snapshots" / "step-2").iterdir())
    assert "adapter_model.safetensors" in files and not [f for f in files if f.endswith((".bin", ".pt"))]
    a, b = load_file(r.run / "snapshots" / "step-4" / "adapter_model.safetensors"), load_file(r.run / "final" / "adapter_model.safetensors")
    assert set(a) == set(b) and all(bool((a[k] == b[k]).all()) for k in a)
    assert json.loads((r.run / "config.json").read_text())["config"]["snapshot_every"] == 2
    assert [x["step"] for x in adapt_mod.as_json(r)["snapshots"]] == [2, 4]
    regd = snapshots.register(work.reg, r.run)
    assert [x.id for x in regd] == ["model/snap-step-2@1", "model/snap-step-4@1"]
    s2 = work.reg.get("model/snap-step-2@1")
    assert [(e.parent, e.relation) for e in s2.derived_from] == [(BASE, "adapter-of"), (CURATED, "trained-on")]
    w, fw = s2.notes["weights"], r.asset.notes["weights"]
    assert w["format"] == "peft-lora" and w["base_path"] == fw["base_path"] and s2.notes["run"]["metrics"]["tokens"] == 2 * 2 * 32
    import torch

    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        last = load_registered(work.reg.get, work.reg.get("model/snap-step-4@1"))[0](input_ids=ids).logits
        final = load_registered(work.reg.get, r.asset)[0](input_ids=ids).logits
        first = load_registered(work.reg.get, s2)[0](input_ids=ids).logits
    assert torch.allclose(last, final) and not torch.allclose(first, final)


def test_an_adapt_run_without_snapshots_keeps_its_config(work):
    r = adapt(work.reg, config(work, "plain"))
    assert "snapshot_every" not in json.loads((r.run / "config.json").read_text())["config"] and "snapshots" not in adapt_mod.as_json(r)
