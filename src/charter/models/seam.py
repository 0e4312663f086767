"""The narrow model interface everything else uses (after lm-evaluation-harness's three methods)."""

from __future__ import annotations

from typing import Protocol, Sequence


class LanguageModel(Protocol):
    name: str

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of log p(continuation | context) for each (context, continuation)."""

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """Sum of log p(text) from the beginning of sequence, for each text."""

    def continuation_tokens(self, requests: Sequence[tuple[str, str]]) -> list[int]:
        """How many tokens ``loglikelihood`` scores for each (context, continuation) (for per-token means)."""

    def generate(self, prompts: Sequence[str], max_new_tokens: int = 64) -> list[str]:
        """Greedy continuations."""
