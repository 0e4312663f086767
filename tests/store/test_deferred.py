"""Decisions are appended in groups (log_deferred): never lost, never out of order (SQLite; in the PostgreSQL pass,
./dev test --postgres, PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from charter.core.assets import Withdrawal
from charter.store.base import now
from charter.store import open_store


class Lazy:
    """A payload whose JSON is built when the group is written (like a denial's reasons)."""

    def __init__(self, n: int) -> None:
        self.n, self.built = n, False

    def to_json(self) -> dict:
        self.built = True
        return {"n": self.n}


def test_deferred_events_precede_a_later_write_and_keep_their_time(tmp_path):
    s = open_store(str(tmp_path / "r.db"))
    s.DEFER_S = 60  # only the write below may flush them
    first = Lazy(1)
    before = now()
    s.log_deferred("decision", "model/m@1", first)
    s.log_deferred("decision", "model/m@1", {"n": 2})
    assert not first.built  # nothing built on the caller's path
    s.log("note", "model/m@1", {"n": 3})
    ev = s.events()
    assert [(e.type, e.data) for e in ev] == [("decision", {"n": 1}), ("decision", {"n": 2}), ("note", {"n": 3})]
    assert before <= ev[0].time <= ev[2].time
    s.close()


def test_a_transaction_writes_them_first_and_a_rollback_keeps_them(tmp_path):
    s = open_store(str(tmp_path / "r.db"))
    s.DEFER_S = 60
    s.log_deferred("decision", "x", {"n": 1})
    with pytest.raises(RuntimeError):
        with s._tx():
            raise RuntimeError("the caller's write fails")
    assert s._pending  # rolled back with the failed write, still queued
    s._write_withdrawal(Withdrawal("x", "takedown", now()))
    assert [e.type for e in s.events()] == ["decision", "withdraw"]
    s.close()


def test_written_by_the_timer_without_any_other_call(tmp_path):
    s = open_store(str(tmp_path / "r.db"))
    reader = open_store(str(tmp_path / "r.db"))
    s.log_deferred("decision", "x", {"n": 1})
    deadline = time.monotonic() + 5
    while not reader.events() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.data for e in reader.events()] == [{"n": 1}]
    s.close()
    reader.close()


def test_a_full_group_is_written_at_once(tmp_path):
    s = open_store(str(tmp_path / "r.db"))
    s.DEFER_S = 60
    for i in range(s.DEFER_MAX):
        s.log_deferred("decision", "x", {"n": i})
    assert not s._pending
    reader = open_store(str(tmp_path / "r.db"))
    assert len(reader.events()) == s.DEFER_MAX
    s.close()
    reader.close()


@pytest.mark.parametrize("ending", ["close", "exit"])
def test_close_and_interpreter_exit_write_them(tmp_path, ending):
    db = tmp_path / "r.db"
    code = (f"from charter.store import open_store\ns = open_store({str(db)!r})\ns.DEFER_S = 60\n"
            "s.log_deferred('decision', 'x', {'n': 1})\n" + ("s.close()\n" if ending == "close" else ""))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
    s = open_store(str(db))
    assert [e.data for e in s.events()] == [{"n": 1}]
    s.close()


def test_a_forked_child_does_not_write_the_parents_queue_again(tmp_path):
    import os

    s = open_store(str(tmp_path / "r.db"))
    s.DEFER_S = 60
    s.log_deferred("decision", "x", {"n": 1})
    pid = os.fork()
    if pid == 0:  # the child exits through the interpreter's exit handlers
        os._exit(0 if not s._pending else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    s.close()
    reader = open_store(str(tmp_path / "r.db"))
    assert [e.data for e in reader.events()] == [{"n": 1}]
    reader.close()


@pytest.mark.sqlite_only("SQLiteStore's timer thread publishing the beacon file, read back with raw sqlite3")
def test_close_waits_for_a_flush_in_progress_on_the_timer_thread(tmp_path):
    """close() while the group's timer thread is inside its transaction: close waits for it (closing a connection
    that another thread is using crashed the process once, in the full suite), and the group is written."""
    import sqlite3
    import threading
    import time

    from charter.store.sqlite import SQLiteStore

    s = SQLiteStore(tmp_path / "r.db")
    inside, real = threading.Event(), s._read_generations

    def slow():  # the timer thread, after its COMMIT, publishing the generations
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            time.sleep(0.3)
        return real()

    s._read_generations = slow
    s.log_deferred("decision", "model/m@1", {"allowed": True})
    assert inside.wait(5)
    t0 = time.monotonic()
    s.close()
    assert time.monotonic() - t0 > 0.15  # it waited for the transaction in progress instead of closing under it
    con = sqlite3.connect(tmp_path / "r.db")
    assert con.execute("SELECT count(*) FROM events WHERE type='decision'").fetchone()[0] == 1
    con.close()
