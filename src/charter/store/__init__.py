"""Registry storage: one contract (:class:`Store`, composed of one contract per concern: store/base.py), SQLite by default, PostgreSQL for a shared server, an in-memory one for tests."""

from __future__ import annotations

import os
from pathlib import Path

from charter.store.base import Store

DEFAULT_PATH = Path(".charter") / "registry.db"


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open a registry by URL: ``sqlite:///path``, a plain file path, ``postgresql://...`` (or ``postgres://...``), or ``memory:``.

    Without a URL: ``$CHARTER_REGISTRY``, else ``.charter/registry.db`` in the working folder.
    Under `./dev test --postgres` (only there) a SQLite path opens a PostgreSQL database instead: charter.store.sqlite_as_postgres.
    """
    url = url or os.environ.get("CHARTER_REGISTRY") or str(DEFAULT_PATH)
    if url in ("memory:", "memory://"):
        from charter.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith(("postgres://", "postgresql://")):
        from charter.store.postgres import PostgresStore

        return PostgresStore(url, create=create)
    if url.startswith("sqlite://"):
        url = url[len("sqlite://"):]
        url = url[1:] if url.startswith("//") else url
    from charter.store import sqlite_as_postgres

    if server := sqlite_as_postgres.server():
        from charter.store.postgres import PostgresStore

        return PostgresStore(sqlite_as_postgres.open_url(Path(url), server, create), create=create)
    from charter.store.sqlite import SQLiteStore

    return SQLiteStore(Path(url), create=create)
