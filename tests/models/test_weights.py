"""charter.models.weights: a registration's weights record, typed and parsed strictly."""

from __future__ import annotations

import json

import pytest

from charter.core.assets import Asset
from charter.core.digests import legacy_folder_hash, verify_weights
from charter.errors import InvalidInput
from charter.models.weights import Weights, WeightsFile
from tests.conftest import BASE


def asset(weights, aid="model/m@1") -> Asset:
    return Asset(id=aid, kind="model", name="m", version="1", notes={} if weights is None else {"weights": weights})


def test_of_a_current_registration(work):
    a = work.reg.get(BASE)  # add_folder registered the tiny model
    w = Weights.of(a)
    assert w.path == str(work.ws.tiny.resolve()) and w.format == "hf" and w.digest == "folder-v2" and not w.is_adapter
    assert {f.path for f in w.files} >= {"config.json", "model.safetensors"} and all(isinstance(f, WeightsFile) for f in w.files)
    assert w.to_json() == a.notes["weights"]  # exactly what is stored


def test_add_folder_records_dtype_and_size(work):
    w = Weights.of(work.reg.get(BASE))
    config = json.loads((work.ws.tiny / "config.json").read_text())
    assert w.dtype == (config.get("torch_dtype") or config.get("dtype")) == "float32"
    files = sorted(p for p in work.ws.tiny.rglob("*") if p.is_file())
    assert w.size == sum(f.bytes for f in w.files) == sum(p.stat().st_size for p in files)
    assert work.reg.get(BASE).notes["weights"]["size"] == w.size


def test_of_a_legacy_registration(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    stored = {"path": str(tmp_path), "sha256": legacy_folder_hash(tmp_path)}
    w = Weights.of(asset(stored))
    assert (w.path, w.sha256, w.format, w.digest, w.files, w.dtype, w.size) == (str(tmp_path), stored["sha256"], "hf", None, None, None, None)
    assert w.to_json() == {**stored, "format": "hf"}
    assert verify_weights("model/m@1", w.to_json()) == tmp_path  # still verifies with the legacy folder hash
    assert Weights.of(asset({**stored, "format": "peft-lora"})).is_adapter


def test_of_no_weights():
    assert Weights.of(asset(None)) is None


@pytest.mark.parametrize("weights, field", [
    ({"sha256": "ab"}, "notes.weights.path"),
    ({"path": "/w"}, "notes.weights.sha256"),
    ({"path": "/w", "sha256": 7}, "notes.weights.sha256"),
    ({"path": "/w", "sha256": "ab", "format": "gguf"}, "notes.weights.format"),
    ({"path": "/w", "sha256": "ab", "files": [{"path": "a", "sha256": "cd"}]}, "notes.weights.files[0]"),
    ({"path": "/w", "sha256": "ab", "files": [{"path": "a", "sha256": "cd", "bytes": "7"}]}, "notes.weights.files[0].bytes"),
    ({"path": "/w", "sha256": "ab", "size": -1}, "notes.weights.size"),
    ({"path": "/w", "sha256": "ab", "base_path": "/b"}, "notes.weights.base_path"),
    ({"path": "/w", "sha256": "ab", "weigths": 1}, "notes.weights.weigths"),
    (["/w"], "notes.weights"),
])
def test_of_a_malformed_registration_names_the_asset_and_field(weights, field):
    with pytest.raises(InvalidInput) as e:
        Weights.of(asset(weights, "model/bad@1"))
    assert e.value.field == field and "model/bad@1" in e.value.message
    assert "\n" not in str(e.value) and str(e.value).startswith(field + ": model/bad@1")


def test_to_json_round_trips():
    lora = Weights(path="/runs/a/final", format="peft-lora", sha256="ab", digest="folder-v2",
                   files=(WeightsFile("adapter_model.safetensors", "cd", 10), WeightsFile("adapter_config.json", "ef", 2)),
                   dtype=None, size=12, source=None, base_path="/models/tiny", base_adapter=None)
    stored = lora.to_json()
    assert stored["base_adapter"] is None and "dtype" not in stored and "source" not in stored
    assert Weights.from_json(json.loads(json.dumps(stored))) == lora
    assert Weights.from_json(stored).to_json() == stored
    full = Weights(path="/m", format="hf", sha256="ab", digest="folder-v2", files=(), dtype="bfloat16", size=0, source="hub")
    assert Weights.from_json(full.to_json()) == full and list(full.to_json()) == ["path", "sha256", "digest", "files", "format", "source", "dtype", "size"]


def test_decision_path_stays_light():
    import subprocess
    import sys

    code = "import sys, charter.models.weights, charter.models.loading; print([m for m in ('torch', 'transformers', 'peft') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
