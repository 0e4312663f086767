"""PostgreSQL for the tests (imported by tests/conftest.py: the `pg_url` tests and the whole PostgreSQL pass): one throwaway server per test session (per xdist worker: each its own
server, port and folder, charter.store.pgserver), and a fresh database per test, created from template0 and
dropped after it.

``PG_URL`` or ``CHARTER_TEST_POSTGRES`` (a URL of a role that may create databases) points the tests at an
existing server instead: each test still gets its own database there, named after the worker and process.
Without PostgreSQL installed, the postgres tests are skipped (CI installs it, and there a missing server fails).
"""

from __future__ import annotations

import itertools
import os

import pytest

from charter.store.pgserver import Server, binaries, create_database, drop_database

_n = itertools.count(1)
# the PostgreSQL pass (./dev test --postgres): every registry a test opens is on PostgreSQL (tests/conftest.py)
ON_POSTGRES = os.environ.get("CHARTER_TEST_BACKEND", "sqlite") == "postgres"


def _override() -> str | None:
    return os.environ.get("PG_URL") or os.environ.get("CHARTER_TEST_POSTGRES")


@pytest.fixture(scope="session")
def pg_server():
    """A superuser URL of the session's PostgreSQL server."""
    if _override():
        yield _override()
        return
    if binaries() is None:
        if os.environ.get("CHARTER_CI"):  # CI installs PostgreSQL (.ci/run): missing there is a failure
            pytest.fail("PostgreSQL is not installed: .ci/run should have installed it")
        if ON_POSTGRES:  # the PostgreSQL pass asked for it: skipping every test would pass nothing
            pytest.fail("PostgreSQL is not installed (initdb, pg_ctl), and ./dev test --postgres needs it: apt-get install postgresql")
        pytest.skip("PostgreSQL is not installed here (initdb, pg_ctl): the postgres backend is not tested (CI installs it)")
    with Server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh, empty database (dropped after the test, connections and all)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"t_{worker}_{os.getpid()}_{next(_n)}"
    url = create_database(pg_server, name)
    try:
        yield url
    finally:
        drop_database(pg_server, name)
