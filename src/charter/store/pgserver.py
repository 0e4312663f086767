"""A throwaway PostgreSQL server (the tests, `./dev demo --postgres`, bench/bench_crash.py --backend postgres):
initdb in a temp folder, listening on a unix socket and 127.0.0.1, stopped and removed afterwards. Not for
production data: fsync is off and every local connection is trusted.

PostgreSQL refuses to run as root, so under root the server runs as an unprivileged user (``postgres`` when it
exists, else one made with useradd). The binaries come from PATH or Debian's /usr/lib/postgresql/N/bin;
`.ci/run` installs them with apt-get when neither has them.

    python -m charter.store.pgserver    starts one, prints its URL, and stops it on SIGTERM/SIGINT (./dev demo --postgres)
"""

from __future__ import annotations

import glob
import signal
import sys
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        real = Path(found).resolve().parent  # a symlink on PATH: its folder has the other tools (pg_dump) too
        return real if (real / "pg_ctl").exists() else Path(found).parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "initdb").exists():
            return Path(d)
    return None


def _user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "charter-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "charter-pg"], check=True)
    return "charter-pg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``with Server() as url:`` a superuser connection URL to a fresh cluster's ``postgres`` database."""

    def __init__(self) -> None:
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (initdb, pg_ctl): apt-get install postgresql")
        self.user = _user()
        self.dir = Path(tempfile.mkdtemp(prefix="charter-pg-"))
        self.port = _free_port()

    def _run(self, *argv: str) -> None:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")

    def __enter__(self) -> str:
        data, sock = self.dir / "data", self.dir / "sock"
        sock.mkdir()
        if self.user:
            shutil.chown(self.dir, self.user)
            shutil.chown(sock, self.user)
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "charter", "-E", "UTF8", "--no-sync")
        opts = f"-k {sock} -h 127.0.0.1 -p {self.port} -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-o", opts, "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # pg_ctl -w waits for the socket; be sure TCP answers too
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        return f"postgresql://charter@127.0.0.1:{self.port}/postgres"

    def __exit__(self, *exc) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    """``url`` with another database name (a postgresql:// URL, as open_store takes)."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def create_database(server: str, name: str, template: str = "template0") -> str:
    """Create database ``name`` on ``server`` (a URL of a role that may create databases); its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return with_database(server, name)


def drop_database(server: str, name: str) -> None:
    """Drop database ``name`` on ``server``, closing its connections first."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> int:
    """Start a server, create database ``charter`` on it, print that database's URL, wait for SIGTERM/SIGINT, stop it."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        server = Server()
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with server as url:
        print(create_database(url, "charter"), flush=True)
        while not stop:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
