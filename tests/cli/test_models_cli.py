"""CLI of the model stage: `model add`, `adapt`, `train`, `generate` — exit codes and --json schemas (docs/cli-json.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.cli.main import main
from clirun import run
from tests.conftest import BASE, CURATED, MT, PUBLISHER

SMALL = ("--steps", "2", "--batch-size", "2", "--seq-len", "32")




def test_model_add_folder_json(work, capsys):
    code, d, _ = run(capsys, "model", "add", str(work.ws.tiny), "--id", "model/my-tiny@1", "--license", "MIT", "--json", "--registry", work.db)
    assert code == 0 and d == {"added": ["model/my-tiny@1"]}
    code, d, _ = run(capsys, "show", "model/my-tiny@1", "--json", "--registry", work.db)
    assert d["asset"]["licenses"] == ["MIT"] and d["asset"]["notes"]["weights"]["format"] == "hf"
    assert d["asset"]["notes"]["weights"]["path"] == str(work.ws.tiny.resolve())
    code, d, _ = run(capsys, "model", "add", str(work.ws.tiny), "--id", "model/my-tiny@1", "--license", "MIT", "--json", "--registry", work.db)
    assert code == 0 and d == {"added": []}  # already registered, identical
    code, d, _ = run(capsys, "model", "add", str(work.ws.tiny), "--id", "model/my-tiny@1", "--license", "Apache-2.0", "--json", "--registry", work.db)
    assert code == 1 and d["error"] == "conflict"


def test_model_add_errors(work, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:  # argparse: no FOLDER
        main(["model", "add", "--registry", work.db])
    assert e.value.code == 2
    code, d, _ = run(capsys, "model", "add", str(work.ws.tiny), "--json", "--registry", work.db)
    assert code == 2 and d["error"] == "usage" and "--id" in d["hint"]
    code, d, _ = run(capsys, "model", "add", str(work.ws.tiny), "--id", "dataset/x@1", "--json", "--registry", work.db)
    assert code == 1 and d["error"] == "invalid-input" and "not a model id" in d["message"]
    code, d, _ = run(capsys, "model", "add", str(tmp_path), "--id", "model/x@1", "--json", "--registry", work.db)
    assert code == 1 and "no config.json" in d["message"]


def test_adapt_json_schema(work, capsys):
    out = work.dir / "cli-run"
    code, d, err = run(capsys, "adapt", BASE, "--data", CURATED, "--for", *MT, "--out", str(out), *SMALL, "--name", "cli-tiny",
                       "--version", "1", "--json", "--registry", work.db)
    assert code == 0, err
    assert set(d) >= {"model", "run", "metrics", "resumed_from_step", "weights"}
    assert d["model"] == "model/cli-tiny@1" and d["run"] == str(out) and d["resumed_from_step"] == 0
    assert set(d["metrics"]) >= {"steps", "first_loss", "last_loss", "tokens", "tokens_per_s"} and d["metrics"]["steps"] == 2
    assert set(d["weights"]) >= {"path", "sha256", "format"} and d["weights"]["format"] == "peft-lora"
    # text mode, same config: resumes at the end, nothing to do
    code, text, _ = run(capsys, "adapt", BASE, "--data", CURATED, "--for", *MT, "--out", str(out), *SMALL, "--name", "cli-tiny",
                        "--version", "1", "--registry", work.db)
    assert code == 0 and "adapted model/cli-tiny@1 (resumed at step 2)" in text


def test_adapt_and_train_keep_snapshots_and_say_how_to_sweep_them(work, capsys):
    out = work.dir / "snap-run"
    code, text, err = run(capsys, "adapt", BASE, "--data", CURATED, "--for", *MT, "--out", str(out), *SMALL, "--snapshot-every", "1",
                          "--name", "snap", "--version", "1", "--registry", work.db)
    assert code == 0, err
    assert f"2 snapshots kept (steps 1, 2) in {out / 'snapshots'}" in text and f"charter eval --sweep {out} --bench NAME" in text
    cfg = work.dir / "fast.yaml"
    cfg.write_text("{vocab: 300, hidden: 32, layers: 1, heads: 2, intermediate: 64, seq_len: 32, steps: 30, batch_size: 8, lr: 0.01}\n")
    code, d, err = run(capsys, "train", "--data", CURATED, "--config", str(cfg), "--for", "machine-translation", "commercial", "--steps", "4",
                       "--snapshot-every", "2", "--out", str(work.dir / "lm"), "--json", "--registry", work.db)
    assert code == 0, err
    assert d["metrics"]["steps"] == 4 and [(s["step"], s["tokens"]) for s in d["snapshots"]] == [(2, 2 * 8 * 32), (4, 4 * 8 * 32)]
    code, _, err = run(capsys, "train", "--data", CURATED, "--config", str(cfg), "--for", "machine-translation", "commercial", "--steps", "4",
                       "--snapshot-every", "5", "--out", str(work.dir / "lm2"), "--registry", work.db)
    assert code == 2 and "--snapshot-every must be between 1 and the run's 4 steps, not 5" in err


def test_adapt_denied_json_exit_3(work, capsys):
    out = work.dir / "creep"
    code, d, err = run(capsys, "adapt", BASE, "--data", CURATED, "--for", "fine-tuning", "face-recognition", "--out", str(out),
                       "--json", "--registry", work.db)
    assert code == 3 and not out.exists()
    assert d["error"] == "denied" and d["record_exclusions"] == {}
    assert {x["asset"] for x in d["decisions"]} == {BASE, CURATED}
    base = next(x for x in d["decisions"] if x["asset"] == BASE)
    assert base["allowed"] is False and base["reasons"][0]["path"] == [BASE, PUBLISHER]
    assert err.startswith("charter: denied:")


def test_refusal_json_is_the_only_stdout(work, capsys):
    capsys.readouterr()
    code = main(["adapt", BASE, "--data", CURATED, "--for", "fine-tuning", "face-recognition", "--out", str(work.dir / "x"),
                 "--json", "--registry", work.db])
    assert code == 3
    assert json.loads(capsys.readouterr().out)["error"] == "denied"


def test_adapt_denied_by_record_tags_prints_counts(work, capsys):
    raw = "dataset/community-messages@1"
    code, d, _ = run(capsys, "adapt", BASE, "--data", raw, "--for", *MT, "--out", str(work.dir / "raw"), "--json", "--registry", work.db)
    assert code == 3 and d["decisions"] == [] and d["record_exclusions"]["record-deny:machine-translation"] > 0
    assert d["hint"].startswith(f"curate first: charter curate {raw} --for")
    code, _, err = run(capsys, "adapt", BASE, "--data", raw, "--for", *MT, "--out", str(work.dir / "raw"), "--registry", work.db)
    assert code == 3 and "records: record-deny:machine-translation" in err


def test_train_json_schema(work, capsys):
    cfg = work.dir / "fast.yaml"
    cfg.write_text("{vocab: 300, hidden: 32, layers: 1, heads: 2, intermediate: 64, seq_len: 32, steps: 30, batch_size: 8, lr: 0.01}\n")
    code, d, err = run(capsys, "train", "--data", CURATED, "--config", str(cfg), "--for", "machine-translation", "commercial",
                       "--out", str(work.dir / "lm"), "--json", "--registry", work.db)
    assert code == 0, err
    assert set(d) >= {"model", "run", "metrics"}
    assert set(d["metrics"]) >= {"steps", "tokens", "tokens_per_s", "held_out_perplexity", "unigram_perplexity", "beats_unigram", "parameters"}
    assert d["metrics"]["steps"] == 30 and isinstance(d["metrics"]["beats_unigram"], bool)
    code, d, _ = run(capsys, "train", "--data", "dataset/web-text@1", "--for", "commercial", "--out", str(work.dir / "nc"), "--json",
                     "--registry", work.db)
    assert code == 3 and d["error"] == "denied"


@pytest.mark.parametrize("argv", [
    ["--for", "inference", "text-generation", "the river"],  # --for USE... PROMPT
    ["the river", "--for", "inference", "text-generation"],  # PROMPT --for USE...
])
def test_generate_allowed_json(work, capsys, argv):
    code, d, err = run(capsys, "generate", BASE, *argv, "--max-tokens", "6", "--json", "--registry", work.db)
    assert code == 0, err
    assert set(d) >= {"model", "allowed", "decision", "text"}
    assert d["model"] == BASE and d["allowed"] is True and isinstance(d["text"], str)
    assert d["decision"]["uses"] == ["inference", "text-generation"] and d["decision"]["reasons"] == []


def test_generate_denied_exit_3(work, capsys):
    code, d, _ = run(capsys, "generate", BASE, "--for", "inference", "face-recognition", "who is this?", "--json", "--registry", work.db)
    assert code == 3 and d["allowed"] is False and d["text"] is None
    assert d["decision"]["reasons"][0]["path"] == [BASE, PUBLISHER]
    code, out, _ = run(capsys, "generate", BASE, "--for", "inference", "face-recognition", "who is this?", "--registry", work.db)
    assert code == 3 and "DENIED" in out and f"path: {BASE} -> {PUBLISHER}" in out


def test_generate_needs_a_prompt(work, capsys):
    code, d, _ = run(capsys, "generate", BASE, "--for", "inference", "--json", "--registry", work.db)
    assert code == 2 and d["error"] == "usage" and "PROMPT" in d["hint"]


def test_generate_with_an_adapted_model(work, capsys):
    code, d, _ = run(capsys, "adapt", BASE, "--data", CURATED, "--for", *MT, "--out", str(work.dir / "g"), *SMALL, "--json",
                     "--registry", work.db)
    assert code == 0
    code, g, _ = run(capsys, "generate", d["model"], "--for", "inference", "machine-translation", "commercial", "bonjour",
                     "--max-tokens", "4", "--json", "--registry", work.db)
    assert code == 0 and g["allowed"] is True and isinstance(g["text"], str)
    assert Path(d["weights"]["path"]).is_dir()


def test_generate_refuses_swapped_weights(work, tmp_path, capsys):
    """Issue 12: generate ran whatever the registered folder held; a swapped file is exit 1 naming it, no text."""
    import shutil

    copy = tmp_path / "weights"
    shutil.copytree(work.ws.tiny, copy)
    code, _, _ = run(capsys, "model", "add", str(copy), "--id", "model/swapped@1", "--license", "Apache-2.0", "--json", "--registry", work.db)
    assert code == 0
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes()[:-8] + b"\0" * 8)
    code, d, _ = run(capsys, "generate", "model/swapped@1", "--for", "inference", "hello", "--json", "--registry", work.db)
    assert code == 1 and d["error"] == "integrity" and d["where"] == str(copy.resolve() / "model.safetensors")
    assert "changed since registration" in d["message"] and "new version" in d["hint"] and "text" not in d
