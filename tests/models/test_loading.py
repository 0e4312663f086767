"""charter.models.loading: registered models loaded, verified, through any ``ref -> Asset`` getter."""

from __future__ import annotations

import pytest

from charter.errors import IntegrityError, InvalidInput
from charter.models.loading import chain, load_registered, verify_registered, weights_of
from tests.conftest import BASE, MT, PUBLISHER


def test_load_registered_with_a_plain_dict_getter(work):
    a = work.reg.get(BASE)
    assets = {a.id: a}
    model, tok = load_registered(assets.__getitem__, a)  # no registry: the gateway's prefetched assets
    assert model.config.model_type == "llama" and tok("the river")["input_ids"]
    verify_registered(assets.__getitem__, a)
    assert chain(assets.__getitem__, a) == [a]


def test_adapter_chain_through_a_dict_getter(work):
    from charter.training.adapt import AdaptConfig, adapt

    from tests.conftest import CURATED

    r = adapt(work.reg, AdaptConfig(BASE, CURATED, MT, work.dir / "a", steps=1, batch_size=1, seq_len=16))
    adapter, base = work.reg.get(r.asset.id), work.reg.get(BASE)
    assets = {x.id: x for x in chain(work.reg.get, adapter)}
    assert list(assets) == [adapter.id, BASE]
    assert weights_of(adapter).base_path == weights_of(base).path and weights_of(adapter).is_adapter
    model, _ = load_registered(assets.__getitem__, adapter)
    assert type(model).__name__ == "PeftModelForCausalLM"
    with pytest.raises(KeyError):  # the getter is all it reads: the base is not in this one
        load_registered({adapter.id: adapter}.__getitem__, adapter)


def test_no_weights_and_swapped_weights(work, tmp_path):
    import shutil

    from charter.models.registry import add_folder

    with pytest.raises(InvalidInput, match="has no registered weights"):
        load_registered(work.reg.get, work.reg.get(PUBLISHER))
    copy = shutil.copytree(work.ws.tiny, tmp_path / "w")
    a = add_folder(work.reg, copy, "model/copy@1")
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    with pytest.raises(IntegrityError, match="config.json"):
        verify_registered({a.id: a}.__getitem__, a)
