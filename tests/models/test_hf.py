"""The model seam over transformers: log-likelihoods checked by hand, batching, loading, folder hashes."""

from __future__ import annotations

import pytest

from charter.errors import InvalidInput
from charter.models.hf import HFModel, folder_hash, load
from charter.models.seam import LanguageModel

REQUESTS = [("the river", " and the bridge"), ("a community", " garden in summer"), ("translate", " this"),
            ("", "the"), ("the river and the bridge, a community garden in summer", " and a letter")]


@pytest.fixture(scope="module")
def lm(workspace):
    model, tok = load(workspace.tiny)
    return HFModel(model, tok, "tiny", batch_size=16)


def direct(lm, ids: list[int]):
    """Log-probs of every next token of ``ids``, straight from the model's logits."""
    import torch

    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0]
    return torch.log_softmax(logits.double(), -1)


def test_loglikelihood_by_hand(lm):
    tok = lm.tok
    ctx = [tok.bos_token_id] + tok("the river", add_special_tokens=False)["input_ids"]
    cont = tok(" and the bridge", add_special_tokens=False)["input_ids"]
    assert len(cont) > 1
    logp = direct(lm, ctx + cont)
    want = sum(float(logp[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))
    (got,) = lm.loglikelihood([("the river", " and the bridge")])
    assert got == pytest.approx(want, abs=1e-4)
    assert got < 0


def test_loglikelihood_rolling_by_hand(lm):
    ids = [lm.tok.bos_token_id] + lm.tok("a community garden", add_special_tokens=False)["input_ids"]
    logp = direct(lm, ids)
    want = sum(float(logp[i - 1, ids[i]]) for i in range(1, len(ids)))
    (got,) = lm.loglikelihood_rolling(["a community garden"])
    assert got == pytest.approx(want, abs=1e-4)
    # the rolling score of ctx+cont is the score of ctx plus that of cont given ctx
    (whole,) = lm.loglikelihood_rolling(["the river and the bridge"])
    (ctx,) = lm.loglikelihood_rolling(["the river"])
    (cont,) = lm.loglikelihood([("the river", " and the bridge")])
    assert whole == pytest.approx(ctx + cont, abs=1e-4)


def test_batching_by_length_gives_the_same_values(lm):
    one = HFModel(lm.model, lm.tok, "tiny", batch_size=1)
    two = HFModel(lm.model, lm.tok, "tiny", batch_size=2)
    want = one.loglikelihood(REQUESTS)
    assert lm.loglikelihood(REQUESTS) == pytest.approx(want, abs=1e-4)
    assert two.loglikelihood(REQUESTS) == pytest.approx(want, abs=1e-4)
    texts = [c + x for c, x in REQUESTS]
    assert lm.loglikelihood_rolling(texts) == pytest.approx(one.loglikelihood_rolling(texts), abs=1e-4)
    assert lm.loglikelihood([]) == []


def test_generate_is_greedy_and_deterministic(lm):
    a = lm.generate(["the river", "a community"], max_new_tokens=8)
    assert a == lm.generate(["the river", "a community"], max_new_tokens=8)
    assert len(a) == 2 and all(isinstance(t, str) for t in a)


def test_hfmodel_satisfies_the_seam(lm):
    def use(m: LanguageModel) -> list[float]:
        return m.loglikelihood([("the", " river")])

    assert len(use(lm)) == 1 and lm.name == "tiny"


def test_load_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(InvalidInput, match="cannot load a causal language model") as e:
        load(tmp_path)
    assert e.value.where == str(tmp_path) and "config.json" in e.value.hint


def test_folder_hash_covers_names_and_contents(tmp_path):
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "x.bin").write_bytes(b"123")
    (a / "sub" / "y.json").write_text("{}")
    h = folder_hash(a)
    b = tmp_path / "b"
    (b / "sub").mkdir(parents=True)
    (b / "sub" / "y.json").write_text("{}")  # created in another order: same hash
    (b / "x.bin").write_bytes(b"123")
    assert folder_hash(b) == h
    (b / "x.bin").write_bytes(b"124")
    assert folder_hash(b) != h
    (b / "x.bin").rename(b / "z.bin")
    (b / "z.bin").write_bytes(b"123")
    assert folder_hash(b) != h
