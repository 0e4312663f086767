"""Decisions logged in groups (group commit), for SQLite and PostgreSQL alike: a store appends each
deferred event to a queue; the queue is written in one transaction within ``DEFER_S`` seconds (a timer
thread), when it holds ``DEFER_MAX`` events, before the store's next write (its ``_tx`` writes the queue
first), before its event log is read, at its close and at the interpreter's exit."""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import os
import threading
import time as _time
import weakref

from charter.store.events import INSERT_EVENT

_live: "weakref.WeakSet" = weakref.WeakSet()  # stores with a queue or a timer: flushed at exit


def _event_json(d) -> str:
    return json.dumps(d.to_json() if hasattr(d, "to_json") else d, sort_keys=True)


class DeferredLog:
    """The group-commit queue of a SQL store. The store provides ``dialect``, ``_tx()`` (a write transaction
    that calls :meth:`_write_pending` first) and ``_open()``; it calls :meth:`_start_deferred` in its
    ``__init__`` and :meth:`_stop_timer` in its ``close``."""

    DEFER_MAX = 1024
    DEFER_S = 0.05

    def _start_deferred(self) -> None:
        # decisions waiting to be appended, and the lock every use of the connection takes, so that the
        # flusher thread and the caller never interleave statements of two transactions on one connection
        self._pending: list[tuple[float, str, str, object]] = []
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _open(self) -> bool:
        return True

    def log_deferred(self, type: str, asset: str, data) -> None:
        """Append an event in a group with others (group commit): at most ``DEFER_S`` seconds or
        ``DEFER_MAX`` events later, and always before this store's next write, its next read of the events,
        and its close (or the interpreter's exit). ``data``: a mapping, or an object whose ``to_json()``
        gives it, called when the group is written (a denial's reasons are built then, not on the caller's
        path). The event keeps the time it was logged. A process killed outright loses at most the
        last ``DEFER_S`` seconds of such events; withdrawals, restrictions and audit records are never deferred."""
        p = self._pending
        p.append((_time.time(), type, asset, data))
        if len(p) == 1 or len(p) >= self.DEFER_MAX:
            self.grouped()

    @property
    def pending(self) -> list:
        return self._pending

    def grouped(self) -> None:
        if len(self._pending) >= self.DEFER_MAX:
            self.flush()
        elif self._pending:
            self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            _live.add(self)
            t = self._timer = threading.Timer(self.DEFER_S, _flush_ref, (weakref.ref(self),))
            t.daemon = True
            t.start()

    def flush(self) -> None:
        """Write the deferred events now (one transaction)."""
        if self._pending and self._open():
            with self._tx():
                pass

    def _write_pending(self, cur) -> list:
        """Insert the deferred events (inside the caller's transaction); returns them, to put back on a rollback."""
        batch = self._pending[:]  # the caller's thread may append meanwhile: only these are removed
        rows = []
        for t, ty, a, d in batch:
            iso = _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="microseconds")
            rows.append((iso, ty, a, d if type(d) is str else _event_json(d)))
        cur.executemany(self.dialect.q(INSERT_EVENT), rows)
        del self._pending[:len(batch)]
        return batch


def _flush_ref(ref) -> None:
    store = ref()
    if store is None:
        return
    store._timer = None
    try:
        # Serialise first, one event at a time, letting the caller's thread run between them (sleep(0)
        # yields the GIL, every 0.1 ms): a denial's reasons take tens of microseconds to build, and a caller deciding
        # meanwhile must not wait for the whole group (it would otherwise wait up to the 5 ms switch interval).
        with store._lock:
            p = store._pending
            last = _time.perf_counter()
            for i in range(len(p)):
                t, ty, a, d = p[i]
                if type(d) is not str:
                    p[i] = (t, ty, a, _event_json(d))
                    if _time.perf_counter() - last > 1e-4:
                        _time.sleep(0)
                        last = _time.perf_counter()
        store.flush()
    except Exception:  # a closed store or a failed write: the next write or close tries again
        pass


def _forget_in_child() -> None:
    # a forked child (a DataLoader worker, multiprocessing) inherits the parent's queued events: only the
    # parent writes them, or each would be logged twice; the child's copy of the timer thread does not exist
    for store in list(_live):
        store._pending.clear()
        store._timer = None


os.register_at_fork(after_in_child=_forget_in_child)


@atexit.register
def _flush_all() -> None:
    for store in list(_live):
        try:
            store.flush()
        except Exception:
            pass
