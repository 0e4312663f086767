"""A peer's process tree lives and dies together.

hivemind runs the DHT and each averager as forked processes and p2pd as a subprocess; if the peer
process is killed (-9 included) they would outlive it, holding ports and keys. So the peer runs in
its own process group under a supervisor: when the peer exits, for any reason, the supervisor kills
the whole group; when the supervisor dies, the kernel sends the peer SIGTERM (PR_SET_PDEATHSIG) and
the peer, on its way out, kills the rest of its group.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's killpg is the only guard
        pass


def spawn(config: Path, log: Path) -> subprocess.Popen:
    """The peer process, leading a new process group, told to stop when its parent dies."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.Popen([sys.executable, "-m", "charter.swarm.peer", str(config)], stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent, env=env)


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (from /proc; zombies excluded)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        after = stat.rsplit(")", 1)[1].split()
        if int(after[2]) == pgid and after[0] != "Z":
            out.append(int(d.name))
    return out


def kill_group(pgid: int, timeout: float = 5.0) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def supervise(config: Path, folder: Path, grace: float = 60.0) -> int:
    """Run the peer to its end (SIGINT/SIGTERM here ask it to stop, then wait ``grace`` seconds); then
    kill its group. Returns the peer's exit code."""
    p = spawn(config, Path(folder) / "peer.log")
    asked = [0.0]

    def ask(*_):
        (Path(folder) / "STOP").touch()
        asked[0] = asked[0] or time.monotonic()

    old = {s: signal.signal(s, ask) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while p.poll() is None:
            if asked[0] and time.monotonic() - asked[0] > grace:
                break
            time.sleep(0.1)
    finally:
        kill_group(p.pid)
        p.wait()
        for s, h in old.items():
            signal.signal(s, h)
    return p.returncode


def main() -> None:
    """``python -m charter.swarm.supervise CONFIG FOLDER``: the detached supervisor of a coordinator."""
    os._exit(supervise(Path(sys.argv[1]), Path(sys.argv[2])) & 0xFF)


if __name__ == "__main__":
    main()
