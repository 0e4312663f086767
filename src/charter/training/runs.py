"""Checkpoints without pickle: tensors in safetensors plus a JSON skeleton of everything else.

The run folder itself (config + hash, metrics, checkpoint folder, result) is ``charter.core.runs.RunFolder``,
shared with curate, eval and swarm runs.
"""

from __future__ import annotations

import json
from pathlib import Path

# --- checkpoints without pickle --------------------------------------------------------------
# A checkpoint is tensors (safetensors) plus a JSON skeleton of everything else: loading it can
# never run code, unlike torch.load of a pickle, which a crafted checkpoint turns into code execution.
STATE_TENSORS, STATE_JSON = "state.safetensors", "state.json"


def save_state(folder: Path, state) -> None:
    """Write a nested state (dicts with any JSON-able keys, lists, tuples, tensors, numbers, strings)."""
    from safetensors.torch import save_file

    tensors: dict = {}
    skeleton = _flatten(state, tensors)
    save_file(tensors, str(Path(folder) / STATE_TENSORS))
    (Path(folder) / STATE_JSON).write_text(json.dumps(skeleton))


def load_state(folder: Path):
    """The state ``save_state`` wrote, or None when the folder has none. A pickled checkpoint
    (``state.pt``, older runs) is refused, never loaded."""
    from safetensors.torch import load_file

    from charter.errors import InvalidInput

    folder = Path(folder)
    if (folder / "state.pt").exists() and not (folder / STATE_JSON).exists():
        raise InvalidInput("the checkpoint is a pickle (state.pt), which Charter does not load: unpickling can run code",
                           hint="delete the run's checkpoint/ folder to restart the run from step 0", where=str(folder / "state.pt"))
    if not (folder / STATE_JSON).exists():
        return None
    try:
        tensors = load_file(str(folder / STATE_TENSORS))
        return _unflatten(json.loads((folder / STATE_JSON).read_text()), tensors)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InvalidInput(f"unreadable checkpoint ({e})", hint="delete the run's checkpoint/ folder to restart the run", where=str(folder)) from None


def _flatten(x, tensors: dict):
    import torch

    if torch.is_tensor(x):
        name = f"t{len(tensors)}"
        tensors[name] = x.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(x, dict):
        return {"__dict__": [[_flatten(k, tensors), _flatten(v, tensors)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"__tuple__": [_flatten(v, tensors) for v in x]}
    if isinstance(x, list):
        return [_flatten(v, tensors) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"cannot checkpoint a {type(x).__name__}")


def _unflatten(x, tensors: dict):
    if isinstance(x, list):
        return [_unflatten(v, tensors) for v in x]
    if isinstance(x, dict):
        if "__tensor__" in x:
            return tensors[x["__tensor__"]]
        if "__tuple__" in x:
            return tuple(_unflatten(v, tensors) for v in x["__tuple__"])
        return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in x["__dict__"]}
    return x

