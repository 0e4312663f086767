"""The PostgreSQL pass's switch (charter.store.sqlite_as_postgres): a SQLite path opens a database of its own; the
file is its handle (copied: a copy, deleted: a new registry); refused outside a test and for a real SQLite file."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from charter.errors import StoreError
from charter.registry import Registry
from charter.store import open_store
from charter.store.sqlite_as_postgres import ENV
from charter.core.files import resource


@pytest.fixture
def switched(pg_server, monkeypatch):
    monkeypatch.setenv(ENV, pg_server)


def test_paths_open_databases_of_their_own_and_the_file_is_the_handle(switched, tmp_path):
    a = tmp_path / "a.db"
    reg = Registry.open(str(a))
    assert type(reg.store).__name__ == "PostgresStore"
    reg.add_files([resource("examples") / "ecosystem.yaml"])
    n = reg.store.count()
    reg.close()
    assert n > 0 and a.read_text().startswith("charter-test-postgres sq_")

    shutil.copyfile(a, tmp_path / "b.db")  # a copy of the registry, not the same database
    b = open_store(str(tmp_path / "b.db"))
    assert b.count() == n
    b.withdraw(next(x.id for x in b.find()), "only in the copy")
    b.close()
    s = open_store(str(a))
    assert s.withdrawals() == {} and s.count() == n
    s.close()

    a.unlink()  # deleted: the next open makes a new registry
    with pytest.raises(StoreError, match="no registry at"):
        open_store(str(a), create=False)
    s = open_store(str(a))
    assert s.count() == 0
    s.close()


def test_a_copy_of_a_registry_in_use_is_made_by_dump(switched, tmp_path):
    reg = Registry.open(str(tmp_path / "live.db"))
    reg.add_files([resource("examples") / "ecosystem.yaml"])
    try:  # still open (a gateway holding it): CREATE DATABASE ... TEMPLATE is refused, pg_dump is not
        shutil.copyfile(tmp_path / "live.db", tmp_path / "copy.db")
        c = open_store(str(tmp_path / "copy.db"))
        assert c.count() == reg.store.count()
        c.close()
    finally:
        reg.close()


def test_a_real_sqlite_file_is_refused(switched, tmp_path):
    p = tmp_path / "real.db"
    sqlite3.connect(p).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(StoreError, match="real SQLite file"):
        open_store(str(p))


def test_refused_outside_a_test(switched, monkeypatch, tmp_path):
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    with pytest.raises(StoreError, match="set outside the test suite"):
        open_store(str(tmp_path / "x.db"))
    assert not (tmp_path / "x.db").exists()
