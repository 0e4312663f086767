"""What every storage concern shares: the time stamp writes carry and this process's count of policy writes."""

from __future__ import annotations

import datetime as _dt

WRITES = [0]  # policy writes by any store of this process (one cell: read on every decision without a call)


def local_writes() -> int:
    """How many policy writes (registrations, withdrawals, lifts, restrictions, evaluations) any store
    in this process made: a Registry polls its store's change counter at once when this moved."""
    return WRITES[0]


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")
