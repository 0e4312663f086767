"""Shared fixtures for the importer tests: the real DPI snapshot (../shared) and our fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from charter.core import uses
from charter.policy import licenses as licenses_mod
from charter.registry import Registry
from charter.store import open_store

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The project's shared data sits beside the checkout (../shared); CI clones elsewhere, so also
# look at $CHARTER_SHARED and the workplace's fixed location.
_SHARED = [Path(p) for p in (os.environ.get("CHARTER_SHARED"), ROOT.parent / "shared", "/work/shared") if p]
DPI = next((p / "data" / "data-provenance" for p in _SHARED if (p / "data" / "data-provenance" / "data_summaries").is_dir()),
           _SHARED[0] / "data" / "data-provenance")
DPI_MINI = FIXTURES / "dpi-mini"
EG = FIXTURES / "ecosystem-graphs"
EG_REAL = FIXTURES / "ecosystem-graphs-real"  # entries of the real Ecosystem Graphs (SOURCE.md)
HF = FIXTURES / "hf"

needs_dpi = pytest.mark.skipif(not (DPI / "data_summaries").is_dir(), reason=f"the DPI snapshot is not at {DPI}")


@pytest.fixture(scope="session")
def taxonomy():
    return uses.load()


@pytest.fixture(scope="session")
def table(taxonomy):
    return licenses_mod.load(taxonomy)


@pytest.fixture
def memreg(taxonomy, table):
    return Registry(open_store("memory:"), taxonomy, table)


def run(capsys, main, *argv) -> tuple[int, object, str]:
    """Run the CLI; returns (exit code, parsed JSON or text, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    try:
        return code, json.loads(out.out), out.err
    except json.JSONDecodeError:
        return code, out.out, out.err
