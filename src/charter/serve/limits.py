"""Request limits: sizes, a token-bucket rate limit per key, another per client address for requests
without a valid key (and one for all of those together), a cap on concurrent model work.

Each server process keeps its own buckets and counter (several processes behind a balancer
multiply the rate a key gets by their number; the registry's decisions and audit log are shared).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int = 32_000  # per prompt / all messages together (400 beyond)
    max_prompt_tokens: int = 2_048  # after tokenization (400 context_length_exceeded beyond)
    max_tokens: int = 512  # the most tokens one request may generate (400 beyond)
    default_max_tokens: int = 16  # when a completion request names none (OpenAI's default)
    rate: float = 20.0  # requests per second per key, sustained (0: no limit)
    burst: int = 40  # requests a key may make at once
    max_concurrent: int = 8  # requests waiting for or doing model work at once (503 beyond)
    max_body_bytes: int = 1_048_576  # request body (413 beyond)
    # Requests without a valid key (no Authorization, a wrong or revoked key): a bucket per client address,
    # and one for all addresses together, so that a flood of bad keys cannot grow the audit log without bound.
    # Beyond them: 429, counted per address into one aggregate audit record per `suppressed_every` seconds.
    keyless_rate: float = 1.0  # per address, sustained (0: no limit)
    keyless_burst: int = 10
    keyless_total_rate: float = 50.0  # all addresses together (0: no limit); burst 4x


class RateLimiter:
    """A token bucket per key: ``burst`` tokens, refilled at ``rate`` per second. At most ``max_keys``
    buckets are kept (least recently used forgotten first: a forgotten key starts again full), so
    memory is bounded whatever the keys, e.g. client addresses."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic, max_keys: int = 100_000):
        self.rate, self.burst, self.clock, self.max_keys = rate, max(1, burst), clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when), least recently used first

    def take(self, key: str) -> float:
        """0.0 if the request may go ahead (one token taken), else the seconds until a token is back."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, when = self._buckets.pop(key, None) or (self.burst, now)  # re-inserted below: most recent last
        tokens = min(self.burst, tokens + (now - when) * self.rate)
        if len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class Concurrency:
    """A counter, not a queue: beyond ``cap`` requests in flight, the next is refused at once (503)."""

    def __init__(self, cap: int):
        self.cap = cap
        self.active = 0

    def enter(self) -> bool:
        if self.active >= self.cap:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1
