"""The throwaway PostgreSQL server the backend tests use starts, answers and goes away."""

from __future__ import annotations

import os

import pytest

from charter.store.pgserver import Server, binaries


def test_throwaway_server_answers_and_is_removed():
    if binaries() is None:
        if os.environ.get("CHARTER_CI"):  # CI installs PostgreSQL (.ci/run): missing there is a failure
            pytest.fail("PostgreSQL is not installed: .ci/run should have installed it")
        pytest.skip("PostgreSQL is not installed here (.ci/run installs it)")
    import psycopg

    server = Server()
    with server as url:
        with psycopg.connect(url) as con:
            assert con.execute("SELECT current_user, version()").fetchone()[0] == "charter"
            con.execute("CREATE TABLE t(x int)")
    assert not server.dir.exists()
