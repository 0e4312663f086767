"""Crash safety (bench/bench_crash.py, short), on SQLite and PostgreSQL: writers killed with SIGKILL at random points
lose nothing they acknowledged, leave no partial asset, and `charter check` passes afterwards."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bench_crash  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request) -> str | None:
    """None: a SQLite registry in the run's folder; else an empty PostgreSQL database's URL."""
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def test_sigkilled_writers_lose_no_acknowledged_write(tmp_path, registry):
    on_postgres = bool(registry) or os.environ.get("CHARTER_TEST_BACKEND") == "postgres"
    # a PostgreSQL writer opens in ~0.5 s and writes in ~50 ms (SQLite: ~5 ms): given longer, it writes as many
    r = bench_crash.run(tmp_path, kills=16, writers=2, max_delay=1.5 if on_postgres else 0.4, seed=7, registry=registry)
    assert r["backend"] == ("PostgreSQL" if on_postgres else "SQLite")
    assert r["kills"] == 16
    assert r["acknowledged"] > 50, r  # the writers did write between kills
    assert r["killed_mid_write"] >= 1, r  # some kills landed inside a write (a log ending in its `begin` line)
    assert r["lost"] == 0, r["lost_first"]
    assert r["errors"] == 0, r["errors_first"]
    assert r["check"] == "ok", r["check_failed"]
    assert r["time_s"] < 45


def test_the_verifier_sees_a_lost_write(tmp_path, registry):
    """A write logged as acknowledged but absent is counted lost; a torn last line is not a write."""
    db = registry or tmp_path / "registry.db"
    bench_crash.init(db, tmp_path)
    log = tmp_path / "w.jsonl"
    w = bench_crash.Writer(db, log, "t", 1)
    for _ in range(30):
        w.step()
    w.reg.close()
    recs, torn = bench_crash.read_logs([log])
    assert torn == 0 and bench_crash.missing(db, recs) == []
    assert bench_crash.in_flight(db, [log]) == (0, 0)
    with open(log, "a") as f:
        f.write(json.dumps({"op": "add", "asset": "model/never@1"}) + "\n")
        f.write(json.dumps({"op": "audit", "seq": 10_000, "hash": "0" * 64}) + "\n")
        f.write('{"op": "add", "asse')
    recs, torn = bench_crash.read_logs([log])
    assert torn == 1
    assert [r.get("asset", r.get("seq")) for r in bench_crash.missing(db, recs)] == ["model/never@1", 10_000]
