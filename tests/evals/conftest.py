"""A tiny random Llama for the evaluation tests, with a BPE tokenizer trained on benchmark text (so
sentences are a few dozen tokens, as with a real tokenizer), built once per test worker."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    import torch

    torch.set_num_threads(1)  # two pytest workers on two cores (see tests/conftest.py)
    from charter.evals import bbq, crows_pairs
    from charter.models.hf import HFModel, load
    from charter.models.tiny import make_tiny

    texts = [s for it in crows_pairs.load(300) for s in (it["sent_more"], it["sent_less"])]
    texts += [bbq.prompt(it) + " " + c for it in bbq.load(60) for c in it["choices"][:3]]
    folder = make_tiny(tmp_path_factory.mktemp("evals") / "tiny", texts=texts, vocab=512)
    model, tok = load(folder)
    return HFModel(model, tok, "tiny", batch_size=8)
