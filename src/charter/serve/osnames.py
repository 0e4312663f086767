"""Names for the gateway's threads and processes as the operating system shows them.

Python's thread names stay inside Python; ``ps -L``, ``top -H`` and ``/proc/PID/task/TID/comm`` show
every thread of the gateway as ``charter`` and its model process as ``python``. Named here, an operator
(and ``bench/bench_gateway.py``, which reads each thread's scheduler statistics) can tell the audit writer
and the model process apart. Linux only (``prctl(PR_SET_NAME)``, 15 characters); elsewhere nothing happens.
"""

from __future__ import annotations

import ctypes
import sys

AUDIT_WRITER = "charter-audit"
MODEL_PROCESS = "charter-model"

_PR_SET_NAME = 15


def name_this_thread(name: str) -> bool:
    """Set the calling thread's OS name (the first 15 bytes of ``name``); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc to load, or no prctl in it
        return False
