"""Test-only: run the test suite's SQLite registries on PostgreSQL (`./dev test --postgres`, tests/conftest.py).

While ``$CHARTER_TEST_SQLITE_AS_POSTGRES`` holds a server URL (a role that may create databases) and pytest runs a
test (``$PYTEST_CURRENT_TEST``, which pytest sets and subprocesses inherit), :func:`charter.store.open_store` opens
every SQLite path as a PostgreSQL database of its own on that server instead, in the test process and in every
`charter` process it starts. Set outside a test, the variable is refused (an error, not ignored): a production
registry is never silently moved.

The file at the path stays the registry's handle, so that tests which create, copy or delete registry files keep
their meaning: it holds one line naming the database (``charter-test-postgres NAME PATH``).

- no file (or an empty one): a new database (dropped first if an earlier file of that path left one); ``create=False``
  refuses, as SQLite does (``no registry at PATH``);
- the file names this path's database: that database;
- the file names another path's database (the test copied a registry file): a copy of that database as it is now,
  at the copy's first open (``CREATE DATABASE ... TEMPLATE``, or pg_dump | pg_restore while the source has
  connections: a registry copied while a gateway holds it open); the file is then rewritten to name the copy;
- a real SQLite file: refused (the test is about SQLite: mark it ``sqlite_only``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from charter.errors import StoreError

ENV = "CHARTER_TEST_SQLITE_AS_POSTGRES"
MAGIC = "charter-test-postgres"


def server() -> str | None:
    """The server URL when the switch is on, else None; set outside a test, an error."""
    url = os.environ.get(ENV)
    if not url:
        return None
    if not os.environ.get("PYTEST_CURRENT_TEST"):
        raise StoreError(f"${ENV} is set outside the test suite", hint=f"unset {ENV}: only the tests set it (./dev test --postgres)")
    return url


def name_for(path: Path) -> str:
    """The database name of a registry path: a digest of its absolute path (63 characters at most)."""
    return "sq_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:40]


def open_url(path: Path, server_url: str, create: bool) -> str:
    """The URL of the database that stands for the SQLite registry at ``path`` (see the module's rules)."""
    from charter.store.pgserver import with_database

    path = Path(path)
    name = name_for(path)
    source = _read(path)
    if source is None:
        if not create:
            raise StoreError(f"no registry at {path}", hint="run `charter init` or pass --registry")
        _recreate(server_url, name, template="template0")
    elif source != name:
        _recreate(server_url, name, template=source)
    path.parent.mkdir(parents=True, exist_ok=True)
    if source != name:
        path.write_text(f"{MAGIC} {name} {path.resolve()}\n", encoding="utf-8")
    return with_database(server_url, name)


def _read(path: Path) -> str | None:
    """The database the file at ``path`` names; None when there is no file or it is empty."""
    try:
        head = path.read_bytes()[:512]
    except FileNotFoundError:
        return None
    if not head:
        return None
    words = head.decode("utf-8", "replace").split()
    if len(words) < 2 or words[0] != MAGIC:
        raise StoreError(f"{path} is a real SQLite file, and ${ENV} runs registries on PostgreSQL",
                         hint="this test is about SQLite: mark it @pytest.mark.sqlite_only(reason)", where=str(path))
    return words[1]


def _recreate(server_url: str, name: str, template: str) -> None:
    """Database ``name``, new, from ``template``. Another process may be doing the same for the same path at once:
    its copy then stands. A template in use for more than a moment (a registry open elsewhere) is copied by dump."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        deadline = time.monotonic() + 1
        while True:
            try:
                con.execute(stmt)
                return
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                return
            except psycopg.errors.ObjectInUse:  # "source database is being accessed by other users"
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            except psycopg.errors.InvalidCatalogName:
                raise StoreError(f"the registry this file was copied from is gone (database {template})",
                                 hint="copy the registry file while its registry exists") from None
        con.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    _dump_restore(server_url, template, name)


def _dump_restore(server_url: str, source: str, name: str) -> None:
    """Copy database ``source`` into the empty ``name`` with pg_dump | pg_restore (one snapshot; other sessions go on)."""
    import subprocess

    from charter.store.pgserver import binaries, with_database

    tools = [str(Path(binaries() or "/nonexistent") / t) for t in ("pg_dump", "pg_restore")]
    tools = [t if Path(t).exists() else shutil.which(Path(t).name) for t in tools]
    if None in tools:
        raise StoreError("pg_dump and pg_restore are not installed", hint="apt-get install postgresql")
    dump = subprocess.run([tools[0], "-Fc", "-d", with_database(server_url, source)], capture_output=True)
    if dump.returncode == 0:
        dump = subprocess.run([tools[1], "--no-owner", "--exit-on-error", "-d", with_database(server_url, name)],
                              input=dump.stdout, capture_output=True)
    if dump.returncode:
        raise StoreError(f"copying database {source} to {name} failed: {dump.stderr.decode(errors='replace').strip()}")
