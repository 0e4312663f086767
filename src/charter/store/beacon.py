"""A registry's generations in shared memory, so that asking "has the policy or a key changed?" costs
no system call.

The gateway asks before every request (``Store.generations``). Reading two counters from SQLite is cheap
by itself (~5 us), but every SQLite call releases the GIL, and under a flood of audited requests the
audit writer thread takes it each time: measured, the one read cost each denied request ~70 us of CPU
in GIL hand-offs, a third of the request's cost. So every Charter process that commits a write
publishes the generations it then reads into a 16-byte file beside the database (like SQLite's own
``-wal`` and ``-shm``), and readers compare those bytes, mapped into memory, with the ones they saw when
they last read the database.

The database stays the only truth: the beacon only says *when to read it*. A beacon that changed means
read now; the writer publishes after its COMMIT, so a reader that sees the change reads the committed
state. Publishers read the database under an exclusive ``flock`` on the beacon, so they follow each other
and a slow one cannot put back bytes that a reader has already seen. What the beacon cannot see (a process killed between COMMIT
and publishing, another program writing the database, a beacon file overwritten by hand) is seen at the
next read after ``Beacon.BACKSTOP_S``: readers read the database at least that often anyway.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

SUFFIX = "-generations"
_SIZE = 16
_PACK = struct.Struct("<qq")


class Beacon:
    BACKSTOP_S = 0.1  # the longest a reader trusts unchanged bytes without reading the database

    def __init__(self, fd: int, view: mmap.mmap, writable: bool):
        self.fd, self.view, self.writable = fd, view, writable

    @classmethod
    def open(cls, db: Path) -> "Beacon | None":
        """The beacon beside ``db``, created when missing; None where it cannot be mapped (then readers
        read the database every time, as before)."""
        path = str(db) + SUFFIX
        for flags, writable in ((os.O_RDWR | os.O_CREAT, True), (os.O_RDONLY, False)):
            try:
                fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError:
                continue
            try:
                if os.fstat(fd).st_size < _SIZE:
                    if not writable:
                        raise OSError("beacon too short")
                    os.ftruncate(fd, _SIZE)  # zeros: no generation yet (readers read the database)
                view = mmap.mmap(fd, _SIZE, mmap.MAP_SHARED, mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0))
                return cls(fd, view, writable)
            except (OSError, ValueError):
                os.close(fd)
        return None

    def read(self) -> bytes:
        return self.view[:_SIZE]

    def publish(self, read) -> None:
        """Publish what ``read()`` gives (the database's (policy, keys) generations), read while holding
        the beacon's lock: publishers follow each other, each with the database as it is then, so the
        bytes never go back to older generations. (A beacon ahead of the database, written by hand or left
        beside a registry restored from a backup, is brought back to the database's values.)"""
        if not self.writable:
            return
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            policy, keys = read()
            new = _PACK.pack(int(policy), int(keys))
            if new != self.view[:_SIZE]:
                self.view[:_SIZE] = new
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        try:
            self.view.close()
        finally:
            os.close(self.fd)
