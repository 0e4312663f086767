"""A LanguageModel that answers from dictionaries, and counts its calls."""

from __future__ import annotations


class FakeLM:
    name = "fake"

    def __init__(self, ll: dict | None = None, tokens: dict | None = None, default: float = -10.0):
        self.ll, self.tokens, self.default = dict(ll or {}), dict(tokens or {}), default
        self.calls: list[tuple[str, int]] = []

    def loglikelihood(self, requests):
        self.calls.append(("loglikelihood", len(requests)))
        return [self.ll.get(r, self.ll.get(r[1], self.default)) for r in requests]

    def loglikelihood_rolling(self, texts):
        self.calls.append(("loglikelihood_rolling", len(texts)))
        return [self.ll.get(t, self.default) for t in texts]

    def continuation_tokens(self, requests):
        self.calls.append(("continuation_tokens", len(requests)))
        return [self.tokens.get(r[1], 1) for r in requests]

    def generate(self, prompts, max_new_tokens=64):
        return ["" for _ in prompts]
