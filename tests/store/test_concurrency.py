"""Four processes (multiprocessing, spawn) write one registry (SQLite, and PostgreSQL) at once for a few seconds: registrations
(Registry.add_files and `charter add`), decisions, withdrawals and lifts, restrictions, audit records. No error
(SQLITE_BUSY must not leak), no deadlock (bounded time), every acknowledged write present afterwards, and
`charter check` passes, afterwards and on each snapshot it reads while they write."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bench_crash  # noqa: E402
import pytest  # noqa: E402

from charter.cli.main import main  # noqa: E402
from charter.registry_check import check  # noqa: E402

N, SECONDS = 4, 3.0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_four_processes_write_one_registry(tmp_path, capsys, backend, request):
    db = request.getfixturevalue("pg_url") if backend == "postgres" else tmp_path / "registry.db"
    bench_crash.init(db, tmp_path)
    logs = [tmp_path / f"p{i}.jsonl" for i in range(N)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=bench_crash.concurrent_worker, args=(str(db), str(logs[i]), f"p{i}", i, SECONDS)) for i in range(N)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    # meanwhile, the integrity check reads one snapshot at a time: each must pass while the others write
    checks = []
    while any(p.is_alive() for p in procs) and time.monotonic() - t0 < SECONDS + 60:
        r = check(db)
        checks.append([f"{c.name}: {c.problem}" for c in r.checks if not c.ok])
        time.sleep(0.2)
    for p in procs:
        p.join(timeout=max(1.0, SECONDS + 60 - (time.monotonic() - t0)))
    hung = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert not hung, f"processes {hung} still running {time.monotonic() - t0:.0f} s in: a deadlock"
    assert [p.exitcode for p in procs] == [0] * N
    recs, torn = bench_crash.read_logs(logs)
    assert torn == 0
    errors = [r["error"] + "\n" + r.get("trace", "") for r in recs if r["op"] == "error"]
    assert not errors, f"{len(errors)} errors, the first: {errors[0]}"
    done = [r for r in recs if r["op"] == "done"]
    assert len(done) == N  # every process ran to its end
    acked = [r for r in recs if r["op"] not in ("error", "done", "begin")]
    ops = {r["op"] for r in acked}
    assert {"add", "audit", "withdraw", "restrict"} <= ops, ops
    assert all(d["counts"].get("decide", 0) > 0 for d in done)
    assert len({r["asset"] for r in acked if r["op"] == "add"}) == sum(d["counts"]["add"] for d in done)
    assert bench_crash.missing(db, recs) == []
    assert checks and not any(checks), [c for c in checks if c][:1]
    assert main(["check", "--registry", str(db)]) == 0, capsys.readouterr().out
