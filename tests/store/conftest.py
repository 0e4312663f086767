"""PostgreSQL for the store tests: tests/pgfixtures.py (a throwaway server per session, a fresh database per test)."""

from tests.pgfixtures import pg_server, pg_url  # noqa: F401
