"""The vendored benchmark data: where each file lives, reading it (gzip or not), its checksums, and the
seeded, stratified samples of whole units behind ``--limit``.

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

import numpy as np

T = TypeVar("T")
SEED = 0  # the default seed of a ``--limit`` sample


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


class Sample(list):
    """A benchmark's items (a list) with ``record``: how they were drawn (see ``sample``)."""

    record: dict

    def __init__(self, items=(), record: dict | None = None):
        super().__init__(items)
        self.record = dict(record or {})


def ids_sha256(ids: Iterable) -> str:
    """sha256 of the item ids, one per line in the order given (the run's item set, in short)."""
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()


def sample(items: Sequence[T], limit: int | None, *, strata: Callable[[T], str], unit: Callable[[T], object],
           ident: Callable[[T], object], seed: int = SEED, unit_name: str = "item", extra: dict | None = None) -> Sample:
    """The items behind ``--limit``: a seeded, stratified random sample of whole units.

    Items are grouped into units (``unit``: a CrowS pair, a WinoBias pro/anti pair, a BBQ example's
    four questions...), which are never split. With ``limit`` below the number of items, the sample
    takes ``k = max(1, limit * units // items)`` units (so at most about ``limit`` items), shared out
    among the strata (``strata`` of a unit's first item) in proportion to their number of units
    (largest remainders first, ties to the stratum seen first), and drawn within each stratum
    uniformly without replacement with numpy's PCG64 seeded with ``seed``; the items keep file order.
    The same data, limit and seed give the same items. No limit (or one at least the size of the
    data): everything.

    ``record``: ``{"limit", "seed", "method", "unit", "units", "items", "strata": {stratum: units
    drawn}, "ids_sha256"}`` plus ``extra`` (e.g. exclusions), kept in the run's result."""
    order: dict[object, list[int]] = {}
    for i, it in enumerate(items):
        order.setdefault(unit(it), []).append(i)
    units = list(order.values())
    stratum_of = [strata(items[ix[0]]) for ix in units]
    by: dict[str, list[int]] = {}
    for u, st in enumerate(stratum_of):
        by.setdefault(st, []).append(u)
    if limit is None or limit >= len(items):
        keep, method = list(range(len(items))), "all"
        drawn = {st: len(us) for st, us in by.items()}
    else:
        k = min(len(units), max(1, limit * len(units) // max(len(items), 1))) if limit > 0 else 0
        n = len(units)
        quota = {st: k * len(us) // n for st, us in by.items()}
        rest = k - sum(quota.values())
        for st in sorted(by, key=lambda g: -((k * len(by[g])) % n))[:rest]:  # stable: first-seen wins ties
            quota[st] += 1
        rng = np.random.default_rng(seed)
        chosen: list[int] = []
        for st, us in by.items():
            pick = rng.choice(len(us), size=quota[st], replace=False) if quota[st] else []
            chosen += [us[j] for j in pick]
        keep = sorted(i for u in chosen for i in units[u])
        method = "stratified random sample of units"
        drawn = {st: quota[st] for st in by}
    out = [items[i] for i in keep]
    record = {"limit": limit, "seed": seed, "method": method, "unit": unit_name, "units": len({unit(it) for it in out}),
              "items": len(out), "strata": drawn, "ids_sha256": ids_sha256(ident(it) for it in out), **(extra or {})}
    return Sample(out, record)


def lines(name: str) -> Iterable[str]:
    return read_text(name).splitlines()
