"""Run folders (config + hash, metrics, atomic checkpoints) and training data blocks."""

from __future__ import annotations


import pytest

from charter.errors import InvalidInput
from charter.training import data as data_mod
from tests.conftest import CURATED


def test_blocks_concatenate_documents_with_eos(workspace):
    from charter.models.hf import load

    _, tok = load(workspace.tiny)
    docs = ["the river", "a bridge", "summer"]
    ids = [t for d in docs for t in tok(d, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]]
    b = data_mod.blocks(tok, docs, 4)
    assert b.shape == (len(ids) // 4, 4) and b.flatten().tolist() == ids[: len(ids) // 4 * 4]
    with pytest.raises(InvalidInput, match="fewer than one block"):
        data_mod.blocks(tok, ["hi"], 1000)


def test_texts_of_a_curated_dataset(work):
    import duckdb

    a = work.reg.get(CURATED)
    texts = data_mod.texts(a)
    files = a.data["files"]
    assert len(texts) == duckdb.connect().execute(f"SELECT count(*) FROM read_parquet({files!r})").fetchall()[0][0] == a.notes["curation"]["output"]
    assert data_mod.tag_exclusions(work.reg, a, ("fine-tuning", "machine-translation", "commercial")) == {}


def test_checkpoint_packing_round_trips():
    import torch

    from charter.training.adapt import _pack, _unpack

    ts = [torch.randn(3, 4), torch.tensor(7.0), torch.arange(5), torch.randn(2, 1, 2).transpose(0, 2), torch.randn(0)]
    flat, layout = _pack(ts)
    assert sorted(flat) == ["torch.float32@cpu", "torch.int64@cpu"]  # one tensor per dtype and device
    back = _unpack(flat, layout)
    assert all(a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b) for a, b in zip(ts, back))


def test_a_pickled_checkpoint_is_refused_and_never_unpickled(tmp_path):
    """Resume used torch.load(weights_only=False): a crafted checkpoint ran code. Now a pickle is never loaded."""
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / "state.pt").write_bytes(pickle.dumps({"step": Evil()}))
    from charter.errors import InvalidInput
    from charter.training.runs import load_state

    with pytest.raises(InvalidInput) as e:
        load_state(folder)
    assert "pickle" in e.value.message and "delete" in e.value.hint
    assert not marker.exists()


def test_state_round_trips_through_safetensors_and_json(tmp_path):
    import torch

    from charter.training.runs import load_state, save_state

    state = {"step": 3, "optimizer": {"state": {0: {"exp_avg": torch.arange(4.0), "step": torch.tensor(3.0)}},
                                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
             "rng": torch.get_rng_state(), "names": ["a", "b"], "none": None}
    save_state(tmp_path, state)
    got = load_state(tmp_path)
    assert got["optimizer"]["param_groups"] == state["optimizer"]["param_groups"] and got["names"] == ["a", "b"] and got["none"] is None
    assert torch.equal(got["optimizer"]["state"][0]["exp_avg"], torch.arange(4.0)) and torch.equal(got["rng"], state["rng"])
    assert not (tmp_path / "state.pt").exists()
