"""The generations beacon (store/beacon.py): a reader sees every Charter write at its next call without
reading the database otherwise; what the beacon cannot see is seen after the backstop; a hostile or stale
beacon costs speed, never an answer."""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import sys
import time

import pytest

from charter.store.beacon import SUFFIX, Beacon
from charter.store.sqlite import SQLiteStore
from tests.store.test_contract import A

pytestmark = pytest.mark.sqlite_only("SQLite's beacon file (PostgreSQL uses LISTEN/NOTIFY: tests/store/test_postgres.py)")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def db(tmp_path):
    s = SQLiteStore(tmp_path / "registry.db")
    s.add([A("model/m@1"), A("application/a@1", ("model/m@1", "deployed-from"))])
    s.close()
    return tmp_path / "registry.db"


def statements(store: SQLiteStore) -> list[str]:
    seen: list[str] = []
    store.db.set_trace_callback(seen.append)
    return seen


def test_a_write_in_another_process_is_seen_at_the_next_call_and_nothing_is_read_meanwhile(db):
    reader = SQLiteStore(db, create=False)
    g0 = reader.generations()
    seen = statements(reader)
    for _ in range(1000):
        assert reader.generations() == g0
    assert seen == []  # unchanged beacon, within the backstop: no statement at all
    code = ("import sys; from charter.store.sqlite import SQLiteStore; s = SQLiteStore(sys.argv[1], create=False); "
            "s.withdraw('model/m@1', 'consent withdrawn'); s.add_api_key('application/a@1', 'k9', 'h9'); s.close()")
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": os.path.join(ROOT, "src")})
    g1 = reader.generations()  # no sleep: the writer published before it returned
    assert g1[0] == g0[0] + 1 and g1[1] == g0[1] + 1
    assert len(seen) == 1 and "generations" in seen[0]
    reader.close()


def test_the_writers_own_process_sees_its_write_at_once(db):
    s = SQLiteStore(db, create=False)
    g0 = s.generations()
    s.restrict("model/m@1", ["surveillance"], "the publisher's new terms")
    assert s.generations()[0] == g0[0] + 1
    s.revoke_api_key(s.add_api_key("application/a@1", "k1", "h1").key_id)
    assert s.generations()[1] == g0[1] + 2
    s.close()


def test_audit_appends_move_no_generation_and_publish_nothing(db):
    s = SQLiteStore(db, create=False)
    s.add_api_key("application/a@1", "k1", "h1")
    before = (db.parent / (db.name + SUFFIX)).read_bytes()
    s._append_audit_many(['{"a":1}', '{"a":2}'])
    s._append_audit('{"a":3}')
    assert (db.parent / (db.name + SUFFIX)).read_bytes() == before == struct.pack("<qq", 0, 1)
    s.close()


def test_a_write_by_another_program_is_seen_after_the_backstop(db, monkeypatch):
    monkeypatch.setattr(Beacon, "BACKSTOP_S", 0.05)
    s = SQLiteStore(db, create=False)
    g0 = s.generations()
    raw = sqlite3.connect(db)  # not Charter: the triggers move the generation, nobody publishes it
    raw.execute("INSERT INTO withdrawal_events(asset, action, reason, time) SELECT rid, 'withdraw', 'by hand', 't' FROM assets WHERE id='model/m@1'")
    raw.commit()
    raw.close()
    deadline = time.monotonic() + 5
    while s.generations() == g0:
        assert time.monotonic() < deadline, "a write the beacon did not announce was never seen"
        time.sleep(0.01)
    assert s.generations()[0] == g0[0] + 1
    s.close()


@pytest.mark.parametrize("content", [struct.pack("<qq", 2**62, 2**62), b"\xff" * 16, b""])
def test_a_forged_or_damaged_beacon_costs_speed_never_an_answer(db, content):
    """Bytes far ahead of the database (written by hand, or beside a registry restored from a backup),
    garbage, or a truncated file: readers still get the database's generations, and the next Charter
    write puts the database's values back."""
    path = db.parent / (db.name + SUFFIX)
    path.write_bytes(content)
    s = SQLiteStore(db, create=False)
    g0 = s.generations()
    assert g0 == (0, 0)
    s.add_api_key("application/a@1", "k1", "h1")
    assert s.generations() == (0, 1)
    assert path.read_bytes() == struct.pack("<qq", 0, 1)
    s.close()


def test_without_a_beacon_every_call_reads_the_database(db, monkeypatch):
    monkeypatch.setattr(Beacon, "open", classmethod(lambda cls, p: None))  # e.g. a read-only folder
    s = SQLiteStore(db, create=False)
    seen = statements(s)
    g0 = s.generations()
    assert s.generations() == g0 and len(seen) == 2
    other = SQLiteStore(db, create=False)
    other.withdraw("model/m@1", "gone")
    other.close()
    assert s.generations()[0] == g0[0] + 1
    s.close()


def test_a_read_only_beacon_is_read_and_never_written(db, monkeypatch):
    SQLiteStore(db, create=False).close()  # creates it
    path = db.parent / (db.name + SUFFIX)
    real_open = os.open

    def no_write(p, flags, *a):  # as for a user who may read the registry's folder but not write it
        if flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", p)
        return real_open(p, flags, *a)

    monkeypatch.setattr("charter.store.beacon.os.open", no_write)
    b = Beacon.open(db)
    assert b is not None and not b.writable
    b.publish(lambda: (5, 5))
    assert b.read() == path.read_bytes() == struct.pack("<qq", 0, 0)
    b.close()


def test_publishers_in_several_processes_leave_the_databases_values(db):
    code = ("import sys; from charter.store.sqlite import SQLiteStore; s = SQLiteStore(sys.argv[1], create=False)\n"
            "for i in range(15): s.add_api_key('application/a@1', f'k{sys.argv[2]}-{i}', f'h{sys.argv[2]}-{i}')\n"
            "s.close()")
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src")}
    ps = [subprocess.Popen([sys.executable, "-c", code, str(db), str(n)], cwd=ROOT, env=env) for n in range(3)]
    assert all(p.wait(120) == 0 for p in ps)
    assert (db.parent / (db.name + SUFFIX)).read_bytes() == struct.pack("<qq", 0, 45)
