"""Model work for the gateway: registered models loaded once (a weights folder, or a LoRA chain
merged for serving), prompts tokenized and checked against the limits, and generation with
max_tokens / temperature / top_p / stop / seed, token by token so that it can stream.

torch is imported here only, when the first model loads; a denied request never gets here.
Model work runs on one worker thread (``Engine.executor``), so the event loop keeps deciding
and refusing requests while a model generates. ``charter serve`` runs the models in a child process
instead (``charter.serve.worker``: why, there); this side then holds only their tokenizers (``adopt``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

from charter.errors import InvalidInput

Emit = Callable[[str], None]


class PromptError(ValueError):
    """The prompt cannot be served as asked (too long, cannot be tokenized); maps to 400."""

    def __init__(self, message: str, code: str = "invalid_prompt", param: str = "prompt"):
        super().__init__(message)
        self.code, self.param = code, param


@dataclass
class Loaded:
    id: str
    model: object
    tok: object
    eos: frozenset[int]
    context: int  # the most tokens (prompt + generated) the model takes


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # stop | length | cancelled


class Engine:
    def __init__(self, threads: int | None = None):
        self.threads = threads
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charter-model")
        self._loaded: dict[str, Loaded] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    # --- loading ------------------------------------------------------------------------
    @staticmethod
    def assets_for(reg, model_id: str) -> dict:
        """The registered assets loading ``model_id`` reads: it and its adapter-of chain (read on the registry's thread)."""
        from charter.models.loading import chain

        return {a.id: a for a in chain(reg.get, reg.get(model_id))}

    def loaded(self, model_id: str) -> Loaded | None:
        return self._loaded.get(model_id)

    def load(self, model_id: str, assets: dict) -> Loaded:
        """Load once (thread-safe); ``assets`` from ``assets_for`` (so no registry is touched off its thread)."""
        hit = self._loaded.get(model_id)
        if hit is not None:
            return hit
        with self._lock:
            hit = self._loaded.get(model_id)
            if hit is not None:
                return hit
            import torch

            from charter.models.loading import load_registered
            from charter.models.weights import Weights

            if self.threads:
                torch.set_num_threads(self.threads)
            a = assets[model_id]
            w = Weights.of(a)
            if w is None:
                raise InvalidInput(f"{model_id} has no registered weights", hint="serve a model registered with `charter model add` or `charter adapt`")
            model, tok = load_registered(assets.__getitem__, a)
            if w.is_adapter:  # a LoRA adapter: merged once, served as plain weights
                model = model.merge_and_unload()
            model.eval()
            eos = getattr(model.generation_config, "eos_token_id", None)
            eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
            if tok.eos_token_id is not None:
                eos_ids.add(tok.eos_token_id)
            ctx = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
            hit = self._loaded[model_id] = Loaded(model_id, model, tok, frozenset(eos_ids), ctx)
            return hit

    def adopt(self, model_id: str, assets: dict, info: dict) -> Loaded:
        """A model loaded in the model process (``info``: its {"eos": [...], "context": N} there): only its
        tokenizer here (verified like the weights), so that prompts are encoded on this side."""
        from charter.models.loading import tokenizer_registered

        with self._lock:
            tok = tokenizer_registered(assets.__getitem__, assets[model_id])
            hit = self._loaded[model_id] = Loaded(model_id, None, tok, frozenset(info["eos"]), int(info["context"]))
            return hit

    # --- prompts --------------------------------------------------------------------------
    def chat_prompt(self, lm: Loaded, messages: Sequence[dict]) -> tuple[str, bool]:
        """(prompt, templated): the model's chat template when it has one; otherwise ``role: content``
        lines followed by ``assistant:``."""
        if getattr(lm.tok, "chat_template", None):
            try:
                return lm.tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True), True
            except Exception as e:  # a template that rejects these messages (roles, order)
                raise PromptError(f"the model's chat template rejects these messages: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                                  "invalid_messages", "messages") from None
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:", False

    def encode(self, lm: Loaded, prompt: str, max_prompt_tokens: int, max_tokens: int, param: str = "prompt", templated: bool = False) -> list[int]:
        """Token ids of a prompt (a chat template's output already holds its special tokens), within the limits."""
        try:
            ids = list(lm.tok(prompt, add_special_tokens=not templated)["input_ids"])
        except Exception as e:
            raise PromptError(f"cannot tokenize the {param}: {type(e).__name__}", "invalid_prompt", param) from None
        if not ids:
            start = lm.tok.bos_token_id if lm.tok.bos_token_id is not None else lm.tok.eos_token_id
            ids = [start if start is not None else 0]
        limit = min(max_prompt_tokens, lm.context - max_tokens)
        if len(ids) > limit:
            raise PromptError(f"the {param} has {len(ids)} tokens; at most {max(limit, 0)} fit (max_prompt_tokens "
                              f"{max_prompt_tokens}, context {lm.context}, max_tokens {max_tokens})", "context_length_exceeded", param)
        return ids

    # --- generation -------------------------------------------------------------------------
    def generate(self, lm: Loaded, ids: list[int], max_tokens: int, temperature: float = 1.0, top_p: float = 1.0,
                 stop: Sequence[str] = (), seed: int | None = None, emit: Emit | None = None,
                 cancelled: Callable[[], bool] = lambda: False, delay: float = 0.0) -> Generation:
        """Generate up to ``max_tokens`` after ``ids``; ``emit`` receives the text as it becomes final
        (never a partial UTF-8 character, never the start of a stop sequence). ``cancelled`` is asked before
        every token, after waiting ``delay`` seconds (a test hook that slows a stream down)."""
        import torch

        tok, model = lm.tok, lm.model
        stop = [s for s in stop if s]
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        out: list[int] = []
        text, sent, finish = "", 0, "length"
        past = None
        x = torch.tensor([ids], device=model.device)
        with torch.inference_mode():
            for _ in range(max_tokens):
                if delay:
                    time.sleep(delay)
                if cancelled():
                    finish = "cancelled"
                    break
                o = model(input_ids=x, cache=past, use_cache=True)
                past = o.cache
                t = _pick(torch, o.logits[0, -1].float(), temperature, top_p, gen)
                if t in lm.eos:
                    finish = "stop"
                    break
                out.append(t)
                text = tok.decode(out, skip_special_tokens=True)
                cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
                if cut >= 0:
                    text, finish = text[:cut], "stop"
                    break
                safe = len(text) - _held(text, stop)
                if text.endswith("\ufffd"):  # an unfinished multi-byte character
                    safe = min(safe, len(text) - 1)
                if emit and safe > sent:
                    emit(text[sent:safe])
                    sent = safe
                x = torch.tensor([[t]], device=model.device)
        if emit and len(text) > sent:
            emit(text[sent:])
        return Generation(text, len(ids), len(out), finish)

    def complete(self, reg, model_id: str, prompt: str, max_tokens: int = 16, **kw) -> Generation:
        """The in-process call (no gateway): load (once), encode, generate."""
        lm = self._loaded.get(model_id) or self.load(model_id, self.assets_for(reg, model_id))
        return self.generate(lm, self.encode(lm, prompt, 1 << 30, max_tokens), max_tokens, **kw)


def _pick(torch, logits, temperature: float, top_p: float, gen) -> int:
    if temperature < 1e-4:  # greedy (a tinier temperature only overflows to the same choice)
        return int(logits.argmax())
    probs = torch.softmax((logits - logits.max()) / temperature, -1)
    if top_p < 1.0:
        p, idx = probs.sort(descending=True)
        keep = p.cumsum(-1) - p < top_p  # the smallest prefix whose mass reaches top_p
        keep[0] = True  # at least the likeliest token, however small top_p is
        probs = torch.zeros_like(probs).scatter(0, idx[keep], p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


def _held(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could still become a stop sequence (held back while streaming)."""
    n = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), n, -1):
            if text.endswith(s[:k]):
                n = k
                break
    return n
