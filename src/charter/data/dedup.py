"""Deduplication of curated records: exact (normalised text hash, in SQL) and near (MinHash LSH).

Both keep the first occurrence in curation order (source order, file order, record order) and
report every other one with its reason (``exact-duplicate`` / ``near-duplicate``).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

NORMALIZED = "lower(regexp_replace(trim(coalesce(text, '')), '\\s+', ' ', 'g'))"
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 3) -> set[bytes]:
    """Word n-grams of the normalised text (the whole text when shorter than n words)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


def near_duplicates(texts: Iterable[tuple[int, str]], threshold: float = 0.8, num_perm: int = 128,
                    tick: Callable[[int], None] | None = None) -> set[int]:
    """Keys of records whose estimated Jaccard similarity to an earlier kept record is >= threshold."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    dups: set[int] = set()
    for key, text in texts:
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(list(shingles(text)))
        if lsh.query(m):
            dups.add(key)
        else:
            lsh.insert(str(key), m)
        if tick:
            tick(1)
    return dups
