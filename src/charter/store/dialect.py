"""The one place SQLite's and PostgreSQL's SQL differ, for the statements both backends share (each
concern's ``SQL...`` mixin writes its SQL once, with ``?`` placeholders, and runs it through its store's
``dialect``). What stays a backend's own: its connection, transactions and the reads it tunes itself."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Dialect:
    name: str
    param: str  # the driver's placeholder: sqlite3 "?", psycopg "%s"
    write_lock: str  # what a write transaction runs first to hold the registry's write lock
    like: str  # the ASCII case-insensitive LIKE (SQLite's LIKE is; PostgreSQL's is ILIKE)
    no_limit: object  # a LIMIT parameter that means "all rows"
    _any: str  # ``column`` is one of a list passed as one parameter ({c} column, {t} type)

    def q(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this dialect."""
        return _translate(sql) if self.param == "%s" else sql

    def insert_ignore(self, into: str, values: str) -> str:
        """``INSERT INTO {into} {values}`` that skips a row whose unique key is already stored."""
        return f"INSERT OR IGNORE INTO {into} {values}" if self.name == "sqlite" else f"INSERT INTO {into} {values} ON CONFLICT DO NOTHING"

    def any_of(self, column: str, type: str = "text") -> str:
        """A condition: ``column`` is one of the values passed (as :meth:`values`) in one ``?``."""
        return self._any.format(c=column, t=type)

    def values(self, items: Iterable) -> object:
        return json.dumps(list(items)) if self.name == "sqlite" else list(items)

    def limit(self, n: int | None) -> object:
        """The parameter for ``LIMIT ?``: ``n``, or all rows when it is None or 0."""
        return n or self.no_limit

    def flag(self, value: object) -> object:
        return bool(value) if self.name == "postgres" else int(bool(value))


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    # psycopg reads % as the start of a placeholder: a literal one is doubled
    return sql.replace("%", "%%").replace("?", "%s")


SQLITE = Dialect("sqlite", "?", "BEGIN IMMEDIATE", "LIKE", -1, "{c} IN (SELECT value FROM json_each(?))")
POSTGRES = Dialect("postgres", "%s", "SELECT pg_advisory_xact_lock(%s)", "ILIKE", None, "{c} = ANY(?::{t}[])")
