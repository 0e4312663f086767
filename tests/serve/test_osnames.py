"""serve/osnames.py: the audit writer thread and the model process carry their names where the OS shows
them (``/proc/PID/task/TID/comm``: ps -L, top -H, and bench_gateway.py's scheduler statistics)."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from charter.serve import osnames

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_NAME) and /proc are Linux's")


def _comm(tid: int, pid: int | None = None) -> str:
    return Path(f"/proc/{pid or tid}/task/{tid}/comm").read_text().strip()


def test_a_thread_is_named_as_the_os_shows_it_and_long_names_are_cut_to_15_bytes():
    got = {}

    def run(name):
        got[name] = (osnames.name_this_thread(name), _comm(threading.get_native_id(), threading.main_thread().native_id))

    for name in ("charter-x", "charter-a-very-long-thread-name"):
        t = threading.Thread(target=run, args=(name,))
        t.start()
        t.join()
    assert got == {"charter-x": (True, "charter-x"), "charter-a-very-long-thread-name": (True, "charter-a-very-")}
    assert _comm(threading.get_native_id(), threading.main_thread().native_id) != "charter-x"  # only the calling thread


def test_the_audit_writer_thread_is_named(tmp_path):
    from charter.serve.audit import AuditWriter
    from charter.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "r.db")
    w = AuditWriter(store)
    try:
        w.append_sync({"kind": "test"})  # the thread has run (and named itself) by the time its first record is committed
        assert _comm(w._thread.native_id, threading.main_thread().native_id) == osnames.AUDIT_WRITER == "charter-audit"
    finally:
        w.close()
        store.close()


def test_the_model_process_is_named():
    from charter.serve.worker import ModelProcess

    proc = ModelProcess(threads=1)

    async def go():
        try:
            with pytest.raises(Exception, match="never loaded"):  # one round trip: the child is up and serving
                await proc.generate("model/none@1", [1, 2], dict(max_tokens=1)).done
            return _comm(proc.pid)
        finally:
            proc.close()

    assert asyncio.run(go()) == osnames.MODEL_PROCESS == "charter-model"
