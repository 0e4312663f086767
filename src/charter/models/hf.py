"""Transformers backend: any local Hugging Face model folder, or a hub id when a hub is reachable."""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
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
        raise _unloadable(ref, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def load_tokenizer(ref: str | Path):
    """The tokenizer ``load`` returns, alone (the gateway's model process holds the model)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(ref))
    except (OSError, ValueError) as e:
        raise _unloadable(ref, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _unloadable(ref, e: Exception) -> InvalidInput:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return InvalidInput(f"cannot load a causal language model from {ref}: {first}",
                        hint="pass a local Hugging Face model folder (config.json + weights), or a hub id with a reachable hub",
                        where=str(ref))


def folder_hash(folder: Path) -> str:
    """The digest registrations record for a weights folder (cached per file: core/digests.py)."""
    from charter.core.digests import folder_digest

    return folder_digest(folder)


class HFModel:
    """The model seam over a transformers causal LM, scoring exactly as lm-evaluation-harness 0.4.x's ``hf`` model.

    Tokenization follows the harness: an empty context is the prefix token (BOS, else EOS); a non-empty
    context is encoded together with its continuation and split at the context's length (trailing spaces
    of the context move to the continuation), with the tokenizer's own special-token default; a rolling
    text is the prefix token plus the text's tokens, in windows of the model's maximum length. Each
    distinct string is tokenized once (batched) and cached for the model's lifetime.

    Scoring: identical sequences are scored once. Sequences are sorted by token and cut into rows of
    at most ``ROW_MEMBERS``; a row is the token trie of its sequences (every distinct prefix once, at
    its depth as its position id), with an attention mask that lets each token see exactly its own
    prefix, so each sequence is scored as if alone while a shared prefix (a BBQ context and its 12
    answers, the start of a CrowS-Pairs pair, the common openings of sorted neighbours) is computed
    once. Rows are sorted by length and batched up to ``batch_size`` sequences each, padded to the
    batch's longest row. The output head runs only at the distinct positions whose next token is
    scored (hidden states gathered there, in chunks), then ``log_softmax`` and the target's entry;
    each sequence's log-probs are summed with one float32 ``.sum()``, as the harness sums them. On
    one sequence alone the values are the harness's to the bit; batched, within float32 rounding
    (the bench and tests/evals/test_exactness.py measure it). On a CPU with n > 1 torch threads, n batches
    run at once, each on one thread (``_workers``).
    """

    HEAD_CHUNK = 512  # scored positions per output-head matmul (bounds the [positions, vocab] logits)
    ROW_MEMBERS = 32  # sequences per packed row at most (a row's attention grows with the square of its length)

    def __init__(self, model, tokenizer, name: str = "model", batch_size: int = 16, max_length: int | None = None):
        import torch

        self.model, self.tok, self.name, self.batch_size = model, tokenizer, name, batch_size
        self.torch = torch
        self.model.eval()
        self.max_length = max_length or _max_length(model.config, tokenizer)
        self._ids: dict[tuple[str, bool | None], list[int]] = {}
        self._head_ok: bool | None = None  # whether logits == output_head(last hidden state); checked once
        self._head_lock = threading.Lock()
        prefix = self.prefix_token_id
        self._prefix_str = self.tok.decode(prefix) if prefix is not None else None

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def prefix_token_id(self) -> int:
        """The token an empty context stands for (the harness's ``prefix_token_id``)."""
        bos = self.tok.bos_token_id
        return bos if bos is not None else self.tok.eos_token_id

    # -- tokenization (each distinct string once) ------------------------------------------------

    def _encode(self, strings: Sequence[str], special: bool | None = None) -> list[list[int]]:
        """Token ids of each string, like the harness's ``tok_encode(s, add_special_tokens=special)``:
        ``None`` uses the tokenizer's default unless the string already starts with the prefix token."""
        keys = []
        for s in strings:
            flag = special
            if flag is None and self._prefix_str and s.startswith(self._prefix_str):
                flag = False
            keys.append((s, flag))
        missing: dict[bool | None, list[str]] = {}
        seen = set()
        for k in keys:
            if k not in self._ids and k not in seen:
                seen.add(k)
                missing.setdefault(k[1], []).append(k[0])
        for flag, todo in missing.items():
            kwargs = {} if flag is None else {"add_special_tokens": flag}
            for s, ids in zip(todo, self.tok(todo, **kwargs)["input_ids"]):
                self._ids[(s, flag)] = list(ids)
        return [self._ids[k] for k in keys]

    def _pairs(self, requests: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """(context tokens, continuation tokens) for each request, split as the harness splits them."""
        empty = [cont for ctx, cont in requests if ctx == ""]
        split = []
        for ctx, cont in requests:
            if ctx != "":
                n = len(ctx) - len(ctx.rstrip())
                if n:
                    ctx, cont = ctx[:-n], ctx[-n:] + cont
                split.append((ctx, cont))
        cont_ids = iter(self._encode(empty, special=False))
        whole = iter(self._encode([c + x for c, x in split]))
        ctx_ids = iter(self._encode([c for c, _ in split]))
        prefix = self.prefix_token_id
        out = []
        for ctx, _ in requests:
            if ctx == "":
                cont = next(cont_ids)
                out.append(([prefix], cont) if not cont or cont[0] != prefix else (cont[:1], cont[1:]))
            else:
                w, c = next(whole), next(ctx_ids)
                out.append((c, w[len(c):]))
        return out

    def continuation_tokens(self, requests: Sequence[tuple[str, str]]) -> list[int]:
        """How many tokens ``loglikelihood`` scores for each (context, continuation): the continuation's, at most
        the window's ``max_length`` (a longer continuation is scored on the window's last ``max_length`` tokens)."""
        return [min(len(cont), self.max_length) for _, cont in self._pairs(requests)]

    # -- the seam ------------------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[tuple[str, str]], progress=None) -> list[float]:
        return self._score(self._pairs(requests), progress)

    def loglikelihood_rolling(self, texts: Sequence[str], progress=None) -> list[float]:
        windows, owner = [], []
        for i, ids in enumerate(self._encode(texts)):
            for w in _rolling_windows(ids, self.prefix_token_id, self.max_length):
                windows.append(w)
                owner.append(i)
        out = [0.0] * len(texts)
        for i, v in zip(owner, self._score(windows, progress)):
            out[i] += v
        return out

    def generate(self, prompts, max_new_tokens: int = 64):
        outs = []
        for p in prompts:
            enc = self.tok(p, return_tensors="pt").to(self.device)
            with self.torch.inference_mode():
                g = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.tok.pad_token_id)
            outs.append(self.tok.decode(g[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
        return outs

    # -- scoring -------------------------------------------------------------------------------

    def _score(self, pairs: Sequence[tuple[list[int], list[int]]], progress=None) -> list[float]:
        """Sum of log p(continuation | context) for each (context tokens, continuation tokens)."""
        # The harness's input window: the last max_length + 1 tokens of context + continuation.
        seqs: dict[tuple[tuple[int, ...], int], int] = {}
        which = []
        for ctx, cont in pairs:
            if not cont:
                which.append(-1)
                continue
            s = tuple((ctx + cont)[-(self.max_length + 1):])
            # a continuation longer than the window: the window's first token is context, the rest are scored
            which.append(seqs.setdefault((s, max(1, len(s) - len(cont))), len(seqs)))
        uniq = list(seqs)
        values = self._score_unique(uniq, progress) if uniq else []
        return [values[j] if j >= 0 else 0.0 for j in which]

    def _score_unique(self, uniq: list[tuple[tuple[int, ...], int]], progress) -> list[float]:
        torch = self.torch
        rows = _pack(uniq, min(self.batch_size, self.ROW_MEMBERS))
        rows.sort(key=lambda r: -len(r.tokens))
        batches = list(_batches(rows, self.batch_size))
        out = torch.zeros(len(uniq), dtype=torch.float32)
        done = 0
        with _workers(torch, self.device, len(batches)) as pool:
            runs = pool.map(lambda batch: self._run_batch(batch, out), batches) if pool else map(lambda b: self._run_batch(b, out), batches)
            for members in runs:
                done += members
                if progress:
                    progress(done, len(uniq))
        return out.tolist()

    def _run_batch(self, batch: list[_Row], out) -> int:
        """Score ``batch`` into ``out`` (each sequence its own entry); returns how many sequences."""
        torch = self.torch
        width = len(batch[0].tokens)
        n = len(batch)
        ids = torch.full((n, width), self.tok.pad_token_id or 0, dtype=torch.long)
        pos = torch.zeros((n, width), dtype=torch.long)
        mask = torch.zeros((n, 1, width, width), dtype=torch.bool)
        mask[:, 0] = torch.eye(width, dtype=torch.bool)  # padding attends to itself (no empty softmax rows)
        q_rows, q_cols, targets, owner, sizes = [], [], [], [], []
        for r, row in enumerate(batch):
            k = len(row.tokens)
            ids[r, :k] = torch.tensor(row.tokens)
            pos[r, :k] = torch.tensor(row.depth)
            mask[r, 0, :k, :k] = torch.from_numpy(row.ancestors())
            for u, nodes, tgts in row.members:
                q_rows += [r] * len(nodes)
                q_cols += nodes
                targets += tgts
                owner.append(u)
                sizes.append(len(nodes))
        if getattr(self.model.config, "_attn_implementation", "sdpa") != "sdpa":  # eager adds its mask to the scores
            dtype = next(self.model.parameters()).dtype
            mask = torch.zeros(mask.shape, dtype=dtype).masked_fill_(~mask, torch.finfo(dtype).min)
        dev = self.device
        with torch.inference_mode():
            lp = self._logprobs(ids.to(dev), mask.to(dev), pos.to(dev), torch.tensor(q_rows), torch.tensor(q_cols), torch.tensor(targets))
            # each sequence's tokens are contiguous: sum them as the harness does (one float32 .sum() each)
            out[torch.tensor(owner)] = torch.stack([part.sum() for part in torch.split(lp, sizes)]).cpu()
        return len(owner)

    def _logprobs(self, ids, mask, pos, q_rows, q_cols, targets):
        """log p(target) at each (row, column) of the batch, in float32; the output head runs once per
        distinct position, in chunks."""
        torch = self.torch
        with self._head_lock:  # checked once, by whichever batch comes first
            if self._head_ok is None:  # on the first few positions of the first row (a prefix of a trie row is one too)
                k = min(4, ids.shape[1])
                self._head_ok = self._check_head(ids[:1, :k], mask[:1, :, :k, :k], pos[:1, :k])
        width = ids.shape[1]
        flat = q_rows * width + q_cols
        uniq, inverse = torch.unique(flat, return_inverse=True)  # sorted distinct positions
        if self._head_ok:
            base = getattr(self.model, self.model.base_model_prefix)
            hidden = base(input_ids=ids, attention_mask=mask, position_ids=pos).last_hidden_state
            head = self.model.get_output_embeddings()
            picked = hidden.reshape(-1, hidden.shape[-1])[uniq.to(hidden.device)]
            logits_of = lambda c: head(picked[c:c + self.HEAD_CHUNK])  # noqa: E731
        else:
            all_logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
            picked = all_logits.reshape(-1, all_logits.shape[-1])[uniq.to(all_logits.device)]
            logits_of = lambda c: picked[c:c + self.HEAD_CHUNK]  # noqa: E731
        lp = torch.empty(len(flat), dtype=torch.float32)
        order = torch.argsort(inverse, stable=True)
        bounds = torch.searchsorted(inverse[order], torch.arange(0, len(uniq) + self.HEAD_CHUNK, self.HEAD_CHUNK)).tolist()
        for i, c in enumerate(range(0, len(uniq), self.HEAD_CHUNK)):
            logp = torch.log_softmax(logits_of(c).float(), -1)
            sel = order[bounds[i]:bounds[i + 1]]
            lp[sel] = logp[(inverse[sel] - c).to(logp.device), targets[sel].to(logp.device)].cpu()
        return lp

    def _check_head(self, ids, mask, pos) -> bool:
        """Whether the model's logits are its output head applied to its last hidden state (true of
        Llama, Mistral, Qwen, GPT-2...; false where a model scales or caps its logits)."""
        try:
            base = getattr(self.model, self.model.base_model_prefix)
            head = self.model.get_output_embeddings()
            with self.torch.inference_mode():
                want = self.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()
                got = head(base(input_ids=ids, attention_mask=mask, position_ids=pos).last_hidden_state).float()
            return head is not None and bool(self.torch.allclose(want, got, atol=1e-5, rtol=0))
        except (AttributeError, TypeError):
            return False


class _Row:
    """Sequences packed into one row as a token trie: every distinct prefix once, at its depth as its
    position; a token sees exactly its own prefix (its ancestors), so each sequence is scored as if alone."""

    __slots__ = ("tokens", "depth", "parent", "members", "_children")

    def __init__(self):
        self.tokens: list[int] = []
        self.depth: list[int] = []
        self.parent: list[int] = []
        self.members: list[tuple[int, list[int], list[int]]] = []  # (sequence, query nodes, target tokens)
        self._children: dict[tuple[int, int], int] = {}

    def add(self, u: int, seq: tuple[int, ...], start: int) -> None:
        node = -1
        nodes = []
        for d in range(len(seq) - 1):  # the last token is never an input
            key = (node, seq[d])
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = len(self.tokens)
                self.tokens.append(seq[d])
                self.depth.append(d)
                self.parent.append(node)
            node = child
            nodes.append(node)
        # token t is predicted at the node of seq[:t], i.e. nodes[t - 1]
        self.members.append((u, nodes[start - 1:], list(seq[start:])))

    def ancestors(self):
        import numpy as np

        k = len(self.tokens)
        m = np.zeros((k, k), dtype=bool)
        for q, p in enumerate(self.parent):  # parents come before their children
            if p >= 0:
                m[q] = m[p]
            m[q, q] = True
        return m


def _batches(rows: list[_Row], size: int):
    """Consecutive rows (sorted by length) with at most ``size`` sequences in all (one row at least)."""
    b = 0
    while b < len(rows):
        batch, members = [], 0
        while b < len(rows) and (not batch or members + len(rows[b].members) <= size):
            batch.append(rows[b])
            members += len(rows[b].members)
            b += 1
        yield batch


@contextlib.contextmanager
def _workers(torch, dev, batches: int):
    """On a CPU with n > 1 torch threads: n workers, each running whole batches on one thread, for
    the duration of a scoring call (torch's thread setting is restored after). A batch is a few hundred
    tokens, too small for a matrix product to keep two cores busy; two batches at once do
    (bench/bench_eval.py: a SmolLM2 forward of 224 tokens 425 ms on two threads, 303 ms per forward
    with two on one thread each). Yields None (run batches in order, here) otherwise."""
    n = torch.get_num_threads()
    if torch.device(dev).type != "cpu" or n < 2 or batches < 2:
        yield None
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=min(n, batches), thread_name_prefix="charter-score") as pool:
            yield pool
    finally:
        torch.set_num_threads(n)


def _pack(uniq: list[tuple[tuple[int, ...], int]], members: int) -> list[_Row]:
    """Rows of at most ``members`` sequences, consecutive in token order (so neighbours share prefixes)."""
    order = sorted(range(len(uniq)), key=lambda i: uniq[i][0])
    rows = []
    for c in range(0, len(order), members):
        row = _Row()
        for i in order[c:c + members]:
            row.add(i, *uniq[i])
        rows.append(row)
    return rows


def _rolling_windows(ids: list[int], prefix: int, max_len: int):
    """The harness's ``get_rolling_token_windows(..., context_len=1)`` made disjoint: (context, continuation)."""
    if not ids:
        return
    first = min(max_len, len(ids))
    yield [prefix], ids[:first]
    done = first
    while done < len(ids):
        n = min(len(ids) - done, max_len)
        end = done + n
        ctx = ids[end - max_len - 1:end - 1]
        yield ctx[:len(ctx) - (n - 1)], ids[end - n:end]
        done += n


TOKENIZER_INFINITY = 1000000000000000019884624838656


def _max_length(config, tokenizer, default: int = 2048) -> int:
    """The harness's ``resolve_max_length``: the config's context length, else the tokenizer's, else 2048."""
    cfg = getattr(config, "text_config", None) or config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if getattr(cfg, attr, None) is not None:
            return int(getattr(cfg, attr))
    m = getattr(tokenizer, "model_max_length", None)
    return int(m) if m is not None and m != TOKENIZER_INFINITY else default
