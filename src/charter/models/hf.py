"""Transformers backend: any local Hugging Face model folder, or a hub id when a hub is reachable."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from charter.errors import InvalidInput


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load(ref: str | Path, *, gguf_file: str | None = None, dtype=None):
    """(model, tokenizer) from a folder (or a hub id). Offline unless HF_HUB_OFFLINE=0 is set."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if gguf_file is None:  # loading a safetensors folder takes ~2 s: no progress bar; converting a GGUF keeps its bar
        hf_logging.disable_progress_bar()
    else:
        hf_logging.enable_progress_bar()

    try:
        tok = AutoTokenizer.from_pretrained(str(ref), gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(str(ref), gguf_file=gguf_file, dtype=dtype)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidInput(f"cannot load a causal language model from {ref}: {first}",
                           hint="pass a local Hugging Face model folder (config.json + weights), or a hub id with a reachable hub",
                           where=str(ref)) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def folder_hash(folder: Path) -> str:
    """sha256 over the folder's files (names and contents), in name order."""
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + b"\0")
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


class HFModel:
    """The model seam over a transformers causal LM."""

    def __init__(self, model, tokenizer, name: str = "model", batch_size: int = 16):
        import torch

        self.model, self.tok, self.name, self.batch_size = model, tokenizer, name, batch_size
        self.torch = torch
        self.model.eval()

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _score(self, seqs: Sequence[list[int]], starts: Sequence[int]) -> list[float]:
        """Sum of token log-probs of seq[start:] given seq[:start], batched by length."""
        torch = self.torch
        out = [0.0] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            width = len(seqs[idx[0]])
            ids = torch.full((len(idx), width), self.tok.pad_token_id or 0, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
                mask[r, :len(seqs[i])] = 1
            with torch.no_grad():
                logp = torch.log_softmax(self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float(), -1)
            for r, i in enumerate(idx):
                s = seqs[i]
                tgt = torch.tensor(s[max(starts[i], 1):], device=self.device)
                pos = torch.arange(max(starts[i], 1) - 1, len(s) - 1, device=self.device)
                out[i] = float(logp[r, pos, tgt].sum()) if len(tgt) else 0.0
        return out

    def _bos(self) -> list[int]:
        bos = self.tok.bos_token_id
        return [bos] if bos is not None else [self.tok.eos_token_id]

    def loglikelihood(self, requests):
        seqs, starts = [], []
        for ctx, cont in requests:
            c = self._bos() + self.tok(ctx, add_special_tokens=False)["input_ids"]
            seqs.append(c + self.tok(cont, add_special_tokens=False)["input_ids"])
            starts.append(len(c))
        return self._score(seqs, starts)

    def loglikelihood_rolling(self, texts):
        seqs = [self._bos() + self.tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        return self._score(seqs, [1] * len(seqs))

    def generate(self, prompts, max_new_tokens: int = 64):
        outs = []
        for p in prompts:
            enc = self.tok(p, return_tensors="pt").to(self.device)
            with self.torch.no_grad():
                g = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.tok.pad_token_id)
            outs.append(self.tok.decode(g[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
        return outs
