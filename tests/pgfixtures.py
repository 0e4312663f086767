"""PostgreSQL for the tests (tests/store, tests/serve/test_postgres_gateway.py): one throwaway server per test session (per xdist worker: each its own
server, port and folder, tests/pgserver.py), and a fresh database per test, created from template0 and
dropped after it.

``PG_URL`` or ``CHARTER_TEST_POSTGRES`` (a URL of a role that may create databases) points the tests at an
existing server instead: each test still gets its own database there, named after the worker and process.
Without PostgreSQL installed, the postgres tests are skipped (CI installs it, and there a missing server fails).
"""

from __future__ import annotations

import itertools
import os

import pytest

from tests.pgserver import Server, binaries

_n = itertools.count(1)


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
        pytest.skip("PostgreSQL is not installed here (initdb, pg_ctl): the postgres backend is not tested (CI installs it)")
    with Server() as url:
        yield url


def _with_db(server: str, name: str) -> str:
    """The server's URL with another database name (a postgresql:// URL, as open_store takes)."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(server)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh, empty database (dropped after the test, connections and all)."""
    import psycopg
    from psycopg import sql

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"t_{worker}_{os.getpid()}_{next(_n)}"
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield _with_db(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
