"""Untrusted input never crashes: every fuzz target of bench/fuzz.py with a small budget (the longer
run is `python bench/fuzz.py`; its figures are in the README). A target fails on any exception other
than a CharterError, and a crash of the process (a segfault in a reader) fails the test too."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import fuzz  # noqa: E402

BUDGET = {"charter-file": 150, "charter-json": 100, "taxonomy-file": 100}  # the rest: 40 each (they curate or import)


@pytest.mark.parametrize("target", list(fuzz.targets()))
def test_no_crash(target):
    result = fuzz.run(target, BUDGET.get(target, 40), seed=0)  # derandomized: the same inputs in every CI run; bench/fuzz.py explores
    assert result["examples"] >= 1 and result["crashes"] == 0


def test_mutate_is_deterministic_and_applies_each_operation():
    seed = b"abcdef"
    assert fuzz.mutate(seed, [("insert", 2, b"XY")]) == b"abXYcdef"
    assert fuzz.mutate(seed, [("delete", 1, 2)]) == b"adef"
    assert fuzz.mutate(seed, [("flip", 0, 1)]) == b"`bcdef"
    assert fuzz.mutate(seed, [("repeat", 4, 2)]) == b"abcdefef"
