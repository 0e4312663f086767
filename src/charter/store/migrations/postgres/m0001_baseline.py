"""Schema 1: every table, append-only trigger and generation trigger of a PostgreSQL registry as the backend
first shipped (the same tables as SQLite's schema 9), and its version row."""

from __future__ import annotations


def migrate(store, version: int) -> None:
    from charter.store.postgres import _schema_script

    store.db.execute(_schema_script())
