"""Small models made from scratch: a byte-level BPE tokenizer trained on the data, and Llama configs.

``make_tiny`` builds a random one in about a second, for tests; ``charter train`` uses the same parts.
"""

from __future__ import annotations

from pathlib import Path

SIZES = {  # configs are data: `charter train --config tiny|small|FILE`
    "tiny": {"vocab": 1024, "hidden": 64, "layers": 2, "heads": 4, "intermediate": 128, "seq_len": 64, "steps": 300, "batch_size": 16, "lr": 3e-3},
    "small": {"vocab": 2048, "hidden": 128, "layers": 4, "heads": 4, "intermediate": 256, "seq_len": 128, "steps": 600, "batch_size": 16, "lr": 2e-3},
}


def train_tokenizer(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>", "<s>", "</s>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>")


def llama(tok, hidden: int, layers: int, heads: int, intermediate: int, max_len: int, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=max_len,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg)


def make_tiny(folder: Path, texts: list[str] | None = None, vocab: int = 256, seed: int = 0) -> Path:
    folder = Path(folder)
    texts = texts or ["the river and the bridge", "a community garden in summer", "translate this letter for a friend"] * 20
    tok = train_tokenizer(texts, vocab)
    llama(tok, 32, 2, 4, 64, 256, seed).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
