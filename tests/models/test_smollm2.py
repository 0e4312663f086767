"""The real path: the shipped SmolLM2 GGUF converted, registered with its lineage, adapted with LoRA (slow)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from charter.models import smollm2
from tests.conftest import CURATED, MT

pytestmark = pytest.mark.slow

PRETRAINING = {"dataset/HuggingFaceTB/fineweb-edu@1", "dataset/mlfoundations/dclm-baseline@1", "dataset/HuggingFaceTB/stack-edu@1",
               "dataset/HuggingFaceTB/finemath@1", "dataset/HuggingFaceTB/cosmopedia@2"}


def test_smollm2_lineage_and_lora_adaptation(work, smollm2_home):
    from charter.models.hf import folder_hash
    from charter.models.registry import add_smollm2
    from charter.models.loading import load_registered
    from charter.training.adapt import AdaptConfig, adapt

    added = add_smollm2(work.reg, progress=lambda m: None)  # the session converted the GGUF into smollm2_home
    assert smollm2.ASSET in {a.id for a in added}
    a = work.reg.get(smollm2.ASSET)
    w = a.notes["weights"]
    folder = Path(w["path"])
    assert folder == smollm2_home / "models" / smollm2.FOLDER and (folder / "model.safetensors").is_file()
    assert w["sha256"] == folder_hash(folder) and w["format"] == "hf"

    upstream = {h.asset: h.depth for h in work.reg.trace(smollm2.ASSET, down=False)}
    assert PRETRAINING <= set(upstream)
    assert upstream["model/HuggingFaceTB/SmolLM2-135M-Instruct@1"] == 1 and upstream["model/openai/gpt-4@1"] == 3
    d = work.reg.check(smollm2.ASSET, ["fine-tuning", "competing-model-development"])
    assert not d.allowed
    assert [(r.asset, r.source, r.path) for r in d.reasons] == [
        ("model/openai/gpt-4@1", "license:OpenAI", (smollm2.ASSET, "model/HuggingFaceTB/SmolLM2-135M-Instruct@1",
                                                    "dataset/openbmb/UltraFeedback@1", "model/openai/gpt-4@1"))]

    r = adapt(work.reg, AdaptConfig(smollm2.ASSET, CURATED, MT, work.dir / "smollm2-mt", steps=2, batch_size=1, seq_len=32))
    adapted = work.reg.get(r.asset.id)
    assert {(e.parent, e.relation) for e in adapted.derived_from} == {(smollm2.ASSET, "adapter-of"), (CURATED, "trained-on")}
    rows = [json.loads(x) for x in (r.run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in rows] == [1, 2] and all(math.isfinite(x["loss"]) for x in rows)
    aw = adapted.notes["weights"]
    assert aw["format"] == "peft-lora" and aw["base_path"] == str(folder) and aw["sha256"] == folder_hash(Path(aw["path"]))
    # the adaptation inherits GPT-4's terms through SmolLM2's instruction data
    d = work.reg.check(adapted.id, ["inference", "machine-translation", "commercial", "competing-model-development"])
    assert {(x.asset, x.rule, x.path[-2:]) for x in d.reasons} == {
        ("model/openai/gpt-4@1", "deny", ("dataset/openbmb/UltraFeedback@1", "model/openai/gpt-4@1")),
        (CURATED, "allow-only", (adapted.id, CURATED))}  # and the data was curated for machine translation only
    assert work.reg.check(adapted.id, ["inference", "machine-translation", "commercial"]).allowed
    model, tok = load_registered(work.reg.get, adapted)
    assert type(model).__name__ == "PeftModelForCausalLM" and tok.eos_token
