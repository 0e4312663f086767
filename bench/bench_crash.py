"""Crash safety of a registry: writers killed with SIGKILL at random points lose nothing they acknowledged.

    python bench/bench_crash.py --kills 200 --writers 2                      (SQLite)
    python bench/bench_crash.py --kills 200 --writers 2 --backend postgres   (a throwaway PostgreSQL server, charter.store.pgserver)
    python bench/bench_crash.py --registry postgresql://USER@HOST/DB         (an existing, empty PostgreSQL database)

A registry is created with a few base assets. ``--writers`` writer processes each register small charters
(YAML files through ``Registry.add_files``, derived from the base assets and from their own), withdraw, lift,
restrict, decide (``Registry.can``) and append audit records, as fast as they can. Right after a write returns,
the writer appends what it wrote to its log (JSON Lines, flush + fsync): that is an acknowledged write. The
killer waits until a writer has opened the registry, lets it run a random time (0 to ``--max-delay`` s),
kills it with SIGKILL and starts another in its place, until ``--kills`` kills. Then: ``charter check``
(charter.registry_check) must pass (no partial asset: every asset has its edges, closure, lineage, terms and
listing rows), and every acknowledged write must be in the registry (lost = 0). A writer's error other than a
clear retry is counted too, and must be 0.

On PostgreSQL the killed processes are the clients (the server keeps running, as it does when a gateway or a
writer dies): what the run shows there is that a client killed inside a transaction leaves nothing half-written.

Also used by tests/store/test_crash.py (a short run) and tests/store/test_concurrency.py (``concurrent_worker``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BASE = """\
assets:
  - id: dataset/base-text@1
    license: CC-BY-4.0
  - id: dataset/base-code@1
    license: MIT
    uses: {deny: [surveillance]}
  - id: model/base-lm@1
    license: Apache-2.0
    derived_from:
      - {asset: dataset/base-text@1, relation: trained-on}
      - {asset: dataset/base-code@1, relation: trained-on}
"""
BASE_IDS = ("dataset/base-text@1", "dataset/base-code@1", "model/base-lm@1")


def is_postgres(db) -> bool:
    return str(db).startswith(("postgres://", "postgresql://"))


def init(db: Path | str, workdir: Path | None = None) -> str:
    """A new registry at ``db`` (a SQLite path, or an empty PostgreSQL database's URL) with the base assets; which
    backend holds it (the store that opened it says)."""
    from charter.registry import Registry

    base = (workdir or Path(db).parent) / "base.yaml"
    base.write_text(BASE, encoding="utf-8")
    reg = Registry.open(str(db))
    reg.add_files([base])
    reg.close()
    return "PostgreSQL" if type(reg.store).__name__ == "PostgresStore" else "SQLite"


class Writer:
    """Random registry writes; each acknowledged one appended to ``log`` (flush + fsync) right after it returns."""

    def __init__(self, db: Path | str, log: Path, tag: str, seed: int, cli_every: int = 0) -> None:
        from charter.registry import Registry

        self.reg = Registry.open(str(db), create=False)
        self.db, self.tag, self.rng = db, tag, random.Random(seed)
        self.log = open(log, "a", encoding="utf-8")
        self.dir = log.parent / f"yaml-{tag}"
        self.dir.mkdir(exist_ok=True)
        self.mine: list[str] = []
        self.withdrawn: set[str] = set()
        self.restricted: set[str] = set()
        self.n = 0
        self.cli_every = cli_every  # every so many registrations go through `charter add` (in process) instead

    def ack(self, **rec) -> None:
        self.log.write(json.dumps(rec, sort_keys=True) + "\n")
        self.log.flush()
        os.fsync(self.log.fileno())

    def begin(self, **rec) -> None:
        """Say what the next write is, before it starts (flushed, not fsynced: a SIGKILL keeps it, the page cache has
        it): a log whose last line is a ``begin`` was killed during that write."""
        self.log.write(json.dumps({"op": "begin", **rec}, sort_keys=True) + "\n")
        self.log.flush()

    def step(self) -> str:
        rng, self.n = self.rng, self.n + 1
        r = rng.random()
        if r < 0.45 or not self.mine:
            return self.add()
        if r < 0.55:
            a = rng.choice(self.mine)
            if a in self.withdrawn:
                reason = f"lift {self.tag}-{self.n}"
                self.begin(what="lift", asset=a, reason=reason)
                self.reg.lift(a, reason)
                self.withdrawn.discard(a)
                self.ack(op="lift", asset=a, reason=reason)
                return "lift"
            reason = f"withdraw {self.tag}-{self.n}"
            self.begin(what="withdraw", asset=a, reason=reason)
            self.reg.withdraw(a, reason)
            self.withdrawn.add(a)
            self.ack(op="withdraw", asset=a, reason=reason)
            return "withdraw"
        if r < 0.65:
            a = rng.choice(self.mine + list(BASE_IDS))
            reason = f"restrict {self.tag}-{self.n}"
            if a in self.restricted and a in self.mine and rng.random() < 0.5:  # another writer may lift a base asset's
                self.begin(what="lift-restrictions", asset=a, reason=reason)
                self.reg.lift_restrictions(a, reason)
                self.restricted.discard(a)
                self.ack(op="lift-restrictions", asset=a, reason=reason)
                return "lift-restrictions"
            self.begin(what="restrict", asset=a, reason=reason)
            self.reg.restrict(a, [rng.choice(["military", "surveillance", "profiling"])], reason)
            self.restricted.add(a)
            self.ack(op="restrict", asset=a, reason=reason)
            return "restrict"
        if r < 0.85:
            self.begin(what="audit", time=f"{self.tag}-{self.n}")
            e = self.reg.store.append_audit({"time": f"{self.tag}-{self.n}", "endpoint": "/v1/chat/completions", "status": 200,
                                             "decision": "allowed", "application": None, "model": rng.choice(self.mine)})
            self.ack(op="audit", seq=e.seq, hash=e.hash)
            return "audit"
        self.reg.can(rng.choice(self.mine + list(BASE_IDS)), ["inference"])  # deferred event: not an acknowledged write
        return "decide"

    def add(self) -> str:
        rng = self.rng
        aid = f"model/{self.tag}-{self.n}@1"
        parents = rng.sample(list(BASE_IDS) + self.mine[-20:], k=min(2, 1 + len(self.mine[-20:])))
        lines = [f"id: {aid}", f"license: {rng.choice(['MIT', 'Apache-2.0', 'CC-BY-4.0'])}", "derived_from:"]
        lines += [f"  - {{asset: {p}, relation: {'trained-on' if p.startswith('dataset/') else 'fine-tuned-from'}}}" for p in parents]
        path = self.dir / f"{self.n}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.begin(what="add", asset=aid)
        if self.cli_every and self.n % self.cli_every == 0:
            import contextlib
            import io

            from charter.cli.main import main

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                code = main(["add", str(path), "--registry", str(self.db)])
            if code != 0:
                raise RuntimeError(f"charter add {path} exited {code}: {err.getvalue().strip()}")
        else:
            self.reg.add_files([path])
        path.unlink()
        self.mine.append(aid)
        self.ack(op="add", asset=aid)
        return "add"


def writer_main(db: str, log: str, tag: str, seed: int) -> None:
    """A crash-test writer: announce readiness on stdout, then write until killed."""
    from charter.errors import CharterError

    w = Writer(db, Path(log), tag, seed)
    print("ready", flush=True)
    while True:
        try:
            w.step()
        except CharterError as e:  # recorded (never acknowledged), and counted by the killer
            w.log.write(json.dumps({"op": "error", "error": e.oneline()}) + "\n")
            w.log.flush()


def concurrent_worker(db: str, log: str, tag: str, seed: int, seconds: float) -> None:
    """tests/store/test_concurrency.py: write for ``seconds`` (and on, for at most as long again, until it has decided
    once: on a loaded machine a few slow steps could all miss the 15% of decisions); every exception is logged as an
    error line."""
    import traceback

    from charter.errors import CharterError

    w = Writer(db, Path(log), tag, seed, cli_every=4)
    end = time.monotonic() + seconds
    counts: dict[str, int] = {}
    while time.monotonic() < end or ("decide" not in counts and time.monotonic() < end + seconds):
        try:
            op = w.step()
            counts[op] = counts.get(op, 0) + 1
        except CharterError as e:
            w.ack(op="error", error=e.oneline())
        except Exception as e:  # a crash: reported, with where
            w.ack(op="error", error=f"{type(e).__name__}: {e}", trace=traceback.format_exc())
    w.reg.close()  # deferred decisions written
    w.ack(op="done", counts=counts)


# --- verification ----------------------------------------------------------------------------------------
def read_logs(logs) -> tuple[list[dict], int]:
    """Every complete line of the logs (a line cut by the kill was never acknowledged), and how many were cut."""
    recs, torn = [], 0
    for p in logs:
        text = Path(p).read_text(encoding="utf-8")
        lines = text.split("\n")
        if lines and lines[-1]:
            torn += 1
        for line in lines[:-1]:
            recs.append(json.loads(line))
    return recs, torn


def in_flight(db: Path | str, logs) -> tuple[int, int]:
    """(writes a kill interrupted, how many of them committed all the same): the logs whose last line is a ``begin``."""
    last = []
    for p in logs:
        lines = [x for x in Path(p).read_text(encoding="utf-8").split("\n")[:-1] if x]
        if lines and json.loads(lines[-1])["op"] == "begin":
            last.append(json.loads(lines[-1]))
    c = _Reader(db)
    try:
        committed = 0
        for b in last:
            what = b["what"]
            if what == "add":
                q, args = "SELECT 1 FROM assets WHERE id=?", (b["asset"],)
            elif what == "audit":
                record_time = "record::json->>'time'" if c.pg else "json_extract(record, '$.time')"
                q, args = f"SELECT 1 FROM audit WHERE {record_time}=?", (b["time"],)
            else:
                table = {"withdraw": "withdrawal_events", "lift": "withdrawal_events", "restrict": "restrictions",
                         "lift-restrictions": "restriction_lifts"}[what]
                q, args = f"SELECT 1 FROM {table} WHERE reason=?", (b["reason"],)
            committed += c.execute(q, args).fetchone() is not None
    finally:
        c.close()
    return len(last), committed


class _Reader:
    """A read-only connection to the registry that takes ``?`` parameters on both backends."""

    def __init__(self, db) -> None:
        from charter.store import sqlite_as_postgres

        if not is_postgres(db) and (server := sqlite_as_postgres.server()):  # the test suite's PostgreSQL pass
            db = sqlite_as_postgres.open_url(Path(db), server, create=False)
        if is_postgres(db):
            import psycopg

            self.pg, self.con = True, psycopg.connect(str(db), autocommit=True)
        else:
            self.pg, self.con = False, sqlite3.connect(f"file:{db}?mode=ro", uri=True)

    def execute(self, q: str, args=()):
        return self.con.execute(q.replace("?", "%s"), args or None) if self.pg else self.con.execute(q, args)

    def close(self) -> None:
        self.con.close()


def missing(db: Path | str, recs: list[dict]) -> list[dict]:
    """The acknowledged writes not in the registry."""
    c = _Reader(db)
    try:
        ids = {i for (i,) in c.execute("SELECT id FROM assets")}
        wd = set(map(tuple, c.execute("SELECT a.id, w.action, w.reason FROM withdrawal_events w JOIN assets a ON a.rid=w.asset")))
        rs = set(map(tuple, c.execute("SELECT asset, reason FROM restrictions")))
        lifts = set(map(tuple, c.execute("SELECT asset, reason FROM restriction_lifts")))
        audit = dict(c.execute("SELECT seq, hash FROM audit"))
    finally:
        c.close()
    out = []
    for r in recs:
        op = r["op"]
        ok = (op in ("error", "done", "begin") or (op == "add" and r["asset"] in ids)
              or (op in ("withdraw", "lift") and (r["asset"], op, r["reason"]) in wd)
              or (op == "restrict" and (r["asset"], r["reason"]) in rs)
              or (op == "lift-restrictions" and (r["asset"], r["reason"]) in lifts)
              or (op == "audit" and audit.get(r["seq"]) == r["hash"]))
        if not ok:
            out.append(r)
    return out


def run(workdir: Path, kills: int, writers: int, max_delay: float, seed: int, registry: str | None = None) -> dict:
    """The kill loop on a new SQLite registry in ``workdir``, or on ``registry`` (an empty PostgreSQL database's URL)."""
    from charter.registry_check import check

    workdir.mkdir(parents=True, exist_ok=True)
    for p in [*workdir.glob("registry.db*"), *workdir.glob("w*.jsonl")]:
        p.unlink()
    db = registry or workdir / "registry.db"
    backend = init(db, workdir)
    rng = random.Random(seed)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    logs: list[Path] = []
    slots: list[dict | None] = [None] * writers
    started = 0
    t0 = time.monotonic()
    done = 0

    def start() -> dict:
        nonlocal started
        started += 1
        log = workdir / f"w{started:04d}.jsonl"
        log.write_text("")
        logs.append(log)
        p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--writer", str(db), str(log), f"w{started}", str(rng.randrange(2**31))],
                             stdout=subprocess.PIPE, env=env)
        os.set_blocking(p.stdout.fileno(), False)
        return {"p": p, "t": time.monotonic(), "kill_at": None}

    for i in range(writers):
        slots[i] = start()
    while done < kills:
        now = time.monotonic()
        for i, s in enumerate(slots):
            p = s["p"]
            if s["kill_at"] is None:
                if (p.stdout.read() or b"").startswith(b"ready"):
                    s["kill_at"] = now + rng.uniform(0, max_delay)
                elif p.poll() is not None or now - s["t"] > 60:
                    raise SystemExit(f"writer {p.args[4]} exited {p.returncode} before it was ready: see {logs[-1]}")
            elif now >= s["kill_at"]:
                if p.poll() is not None:
                    raise SystemExit(f"writer {p.args[4]} exited {p.returncode} by itself: a crash, see its log")
                p.send_signal(signal.SIGKILL)
                p.wait()
                p.stdout.close()
                done += 1
                if done < kills:
                    slots[i] = start()
                else:
                    break
        time.sleep(0.002)
    for s in slots:
        if s and s["p"].poll() is None:
            s["p"].send_signal(signal.SIGKILL)
            s["p"].wait()
            s["p"].stdout.close()
    elapsed = time.monotonic() - t0
    recs, torn = read_logs(logs)
    acked = [r for r in recs if r["op"] not in ("error", "done", "begin")]
    mid, mid_committed = in_flight(db, logs)
    errors = [r for r in recs if r["op"] == "error"]
    lost = missing(db, recs)
    tc = time.monotonic()
    report = check(db)
    check_s = time.monotonic() - tc
    by_op: dict[str, int] = {}
    for r in acked:
        by_op[r["op"]] = by_op.get(r["op"], 0) + 1
    failed = [f"{c.name}: {c.problem}" for c in report.checks if not c.ok]
    return {"kills": done, "writers": writers, "writers_started": started, "acknowledged": len(acked), "by_op": by_op,
            "found": len(acked) - len(lost), "killed_mid_write": mid, "mid_write_committed": mid_committed, "lost": len(lost), "lost_first": lost[:5], "torn_log_lines": torn,
            "errors": len(errors), "errors_first": [e["error"] for e in errors[:5]], "check": "ok" if report.ok else "FAILED",
            "check_failed": failed, "check_s": round(check_s, 3), "time_s": round(elapsed, 1),
            "backend": backend}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        _, _, db, log, tag, seed = sys.argv
        writer_main(db, log, tag, int(seed))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--max-delay", type=float, default=0.5, help="a writer runs 0 to this many seconds after opening the registry (default 0.5)")
    ap.add_argument("--seed", type=int, default=20261204)
    ap.add_argument("--dir", type=Path, default=HERE / "out" / "crash", help="working folder (its registry is recreated)")
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                    help="postgres: start a throwaway PostgreSQL server (charter.store.pgserver) for the run, stopped after it")
    ap.add_argument("--registry", metavar="URL", help="an existing, empty PostgreSQL database instead (postgresql://USER@HOST/DB)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.registry and not is_postgres(a.registry):
        ap.error(f"--registry {a.registry}: a postgresql:// URL (the SQLite registry is made in --dir)")
    if a.backend == "postgres" and not a.registry:
        from charter.store.pgserver import Server, create_database

        with Server() as server:
            r = run(a.dir, a.kills, a.writers, a.max_delay, a.seed, create_database(server, "crash"))
    else:
        r = run(a.dir, a.kills, a.writers, a.max_delay, a.seed, a.registry)
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        rows = [("registry", r["backend"]),
                ("kills", f"{r['kills']:,} (SIGKILL, {r['writers']} writers at a time, 0-{a.max_delay:g} s after opening)"),
                ("acknowledged writes", f"{r['acknowledged']:,} (" + ", ".join(f"{k} {v:,}" for k, v in sorted(r["by_op"].items())) + ")"),
                ("killed during a write", f"{r['killed_mid_write']:,} ({r['mid_write_committed']:,} of those writes committed before the kill, "
                                          f"the rest rolled back)"),
                ("found", f"{r['found']:,}"), ("lost (must be 0)", f"{r['lost']:,}"),
                ("writer errors", f"{r['errors']:,}" + (f": {r['errors_first'][0]}" if r["errors"] else "")),
                ("charter check", r["check"] + (f": {r['check_failed'][0]}" if r["check_failed"] else "") + f" ({r['check_s']} s)"),
                ("time", f"{r['time_s']} s")]
        w = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"{k:<{w}}  {v}")
        for x in r["lost_first"]:
            print("lost:", json.dumps(x))
    return 0 if r["lost"] == 0 and r["check"] == "ok" and r["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
