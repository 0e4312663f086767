"""The benchmarks under bench/ import (what they name at module level exists) and their shared helpers work:
they are not run by the suite (bench/README.md), so a renamed module would otherwise surface only when one runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py"))


@pytest.fixture(scope="module", autouse=True)
def on_path():
    sys.path.insert(0, str(BENCH))
    yield
    sys.path.remove(str(BENCH))


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports(name):
    mod = importlib.import_module(name)
    assert mod.__doc__, f"bench/{name}.py says what it measures in its docstring"


def test_common_pg_server_is_the_packaged_one():
    import common

    from charter.store.pgserver import Server, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL is not installed here (.ci/run installs it)")
    server = common.pg_server()  # constructed, not started
    try:
        assert isinstance(server, Server)
    finally:
        server.dir.rmdir()
