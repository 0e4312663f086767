"""The vendored benchmark data: where each file lives, reading it (gzip or not), its checksums, and the
deterministic subsets behind ``--limit``.

Every file under ``charter/evals/resources`` is listed in ``resources/MANIFEST.tsv`` with its source
repository, commit, path, licence and the sha256 of the original file (of the decompressed bytes for
the ``.gz`` copies); ``resources/<benchmark>/SOURCE.md`` says the same in words.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

T = TypeVar("T")


def path(name: str) -> Path:
    """Path of a vendored file, e.g. ``path("crows_pairs/crows_pairs_anonymized.csv")``."""
    return Path(str(resources.files("charter.evals") / "resources" / name))


def read_bytes(name: str) -> bytes:
    """The file's original bytes (``.gz`` copies are decompressed)."""
    raw = path(name).read_bytes()
    return gzip.decompress(raw) if name.endswith(".gz") else raw


def read_text(name: str) -> str:
    return read_bytes(name).decode("utf-8")


def sha256(name: str) -> str:
    return hashlib.sha256(read_bytes(name)).hexdigest()


def manifest() -> list[dict[str, str]]:
    """Rows of ``resources/MANIFEST.tsv``: file (as vendored), benchmark, source_repo, commit,
    source_path, sha256 (of the original), license."""
    return list(csv.DictReader(io.StringIO(read_text("MANIFEST.tsv")), delimiter="\t"))


def subset(items: Sequence[T], limit: int | None, key: Callable[[T], str]) -> list[T]:
    """A deterministic, stratified subset of ``limit`` items: each group (``key``) gets its share of
    ``limit`` in proportion to its size (largest remainders first, ties to the group seen first), and
    within a group its first items in file order; the result keeps file order. No limit (or a limit
    at least the size of the data): everything."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        return []
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(key(it), []).append(i)
    n = len(items)
    quota = {g: limit * len(ix) // n for g, ix in groups.items()}
    rest = limit - sum(quota.values())
    by_remainder = sorted(groups, key=lambda g: -((limit * len(groups[g])) % n))  # stable: first-seen wins ties
    for g in by_remainder[:rest]:
        quota[g] += 1
    keep = sorted(i for g, ix in groups.items() for i in ix[:quota[g]])
    return [items[i] for i in keep]


def lines(name: str) -> Iterable[str]:
    return read_text(name).splitlines()
