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
    """As lm-evaluation-harness splits a request: context + continuation encoded together and cut at the
    context's length (the tiny tokenizer adds no BOS of its own, so none is added)."""
    tok = lm.tok
    whole = tok("the river and the bridge")["input_ids"]
    ctx = tok("the river")["input_ids"]
    cont = whole[len(ctx):]
    assert len(cont) > 1 and tok.bos_token_id not in whole
    logp = direct(lm, whole)
    want = sum(float(logp[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))
    (got,) = lm.loglikelihood([("the river", " and the bridge")])
    assert got == pytest.approx(want, abs=1e-4)
    assert got < 0
    # trailing spaces of the context move to the continuation
    assert lm.loglikelihood([("the river ", "and the bridge")]) == pytest.approx([got], abs=1e-6)
    assert lm.continuation_tokens([("the river", " and the bridge"), ("", "the river")]) == [len(cont), len(ctx)]


def test_empty_context_is_the_prefix_token(lm):
    ids = [lm.tok.bos_token_id] + lm.tok("a community garden", add_special_tokens=False)["input_ids"]
    logp = direct(lm, ids)
    want = sum(float(logp[i - 1, ids[i]]) for i in range(1, len(ids)))
    assert lm.loglikelihood([("", "a community garden")]) == pytest.approx([want], abs=1e-4)
    assert lm.loglikelihood_rolling(["a community garden"]) == pytest.approx([want], abs=1e-4)


def test_rolling_windows_beyond_the_context_length(lm):
    """A text longer than the model's context is scored in the harness's disjoint windows."""
    lm_eval_utils = pytest.importorskip("lm_eval.utils")
    short = HFModel(lm.model, lm.tok, "tiny", batch_size=4, max_length=8)
    text = "the river and the bridge, a community garden in summer, translate this letter for a friend"
    ids = lm.tok(text)["input_ids"]
    assert len(ids) > 16
    want = 0.0
    for ctx, cont in map(lm_eval_utils.make_disjoint_window,
                         lm_eval_utils.get_rolling_token_windows(ids, lm.tok.bos_token_id, max_seq_len=8, context_len=1)):
        logp = direct(lm, ctx + cont[:-1] if len(ctx + cont) > 1 else ctx + cont)
        want += sum(float(logp[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))
    assert short.loglikelihood_rolling([text]) == pytest.approx([want], abs=1e-4)


def test_a_continuation_longer_than_the_window_is_scored_on_the_window(lm):
    """The window is the last max_length + 1 tokens: its first is context, the other max_length are scored
    (a continuation that fills it used to index past the scored positions)."""
    short = HFModel(lm.model, lm.tok, "tiny", batch_size=4, max_length=8)
    text = "the river and the bridge, a community garden in summer"
    ids = [lm.tok.bos_token_id] + lm.tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > 10
    window = ids[-9:]
    logp = direct(lm, window)
    want = sum(float(logp[i - 1, window[i]]) for i in range(1, 9))
    assert short.loglikelihood([("", text), ("the", " river")]) == pytest.approx([want, lm.loglikelihood([("the", " river")])[0]], abs=1e-4)
    assert short.continuation_tokens([("", text)]) == [8]


def test_batching_and_packing_give_the_same_values(lm):
    """Batch size 1 scores each sequence alone; larger batches pack sequences sharing a prefix into one
    row (a token trie): the values agree, identical requests get identical values."""
    many = REQUESTS + [("the river", " and the garden"), ("the river and", " the bridge"), ("the river", " and the bridge"),
                       ("", "the river and the bridge"), ("", "the river and the garden")]
    one = HFModel(lm.model, lm.tok, "tiny", batch_size=1)
    two = HFModel(lm.model, lm.tok, "tiny", batch_size=2)
    want = one.loglikelihood(many)
    got = lm.loglikelihood(many)
    assert got == pytest.approx(want, abs=1e-4)
    assert two.loglikelihood(many) == pytest.approx(want, abs=1e-4)
    assert got[0] == got[7]
    texts = [c + x for c, x in REQUESTS]
    assert lm.loglikelihood_rolling(texts) == pytest.approx(one.loglikelihood_rolling(texts), abs=1e-4)
    assert lm.loglikelihood([]) == [] and lm.loglikelihood_rolling([]) == []
    done = []
    lm.loglikelihood(many, progress=lambda d, n: done.append((d, n)))
    assert done[-1] == (9, 9)  # distinct (sequence, split) pairs: many[7] repeats many[0]


def test_batches_on_parallel_workers_give_the_same_values(lm):
    """With n > 1 torch threads on a CPU, batches run on n workers of one thread each; the values are
    those of one batch at a time, progress counts every sequence, and torch's setting is restored."""
    import torch

    many = REQUESTS + [(c, x + " again") for c, x in REQUESTS]
    small = HFModel(lm.model, lm.tok, "tiny", batch_size=2)  # several batches
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        want = small.loglikelihood(many)
        torch.set_num_threads(2)
        done = []
        got = small.loglikelihood(many, progress=lambda d, n: done.append((d, n)))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert got == pytest.approx(want, abs=1e-5)
    assert done[-1] == (len(many), len(many)) and len(done) > 2


def test_rows_share_prefixes_once():
    from charter.models.hf import _pack

    seqs = [((1, 5, 6, 7), 1), ((1, 5, 6, 8), 1), ((1, 5, 9), 2), ((2, 3), 1)]
    (row,) = _pack(seqs, 8)
    assert row.tokens == [1, 5, 6, 2] and row.depth == [0, 1, 2, 0]  # the inputs (all but each last token), each prefix once
    # (sequence, the nodes whose outputs predict its scored tokens, those tokens)
    assert row.members == [(0, [0, 1, 2], [5, 6, 7]), (1, [0, 1, 2], [5, 6, 8]), (2, [1], [9]), (3, [3], [3])]
    anc = row.ancestors()
    for node, parent in enumerate(row.parent):  # a node sees exactly its ancestors and itself
        chain = {node}
        while parent >= 0:
            chain.add(parent)
            parent = row.parent[parent]
        assert set(anc[node].nonzero()[0]) == chain


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
