"""The SQL dialect seam (store/dialect.py) and the one escaping module (core/sql.py)."""

import sqlite3

from charter.core.sql import ident, like_contains, like_escape, literal
from charter.store.dialect import POSTGRES, SQLITE


def test_postgres_placeholders_and_percent_signs():
    assert POSTGRES.q("SELECT 1 FROM t WHERE a=? AND b LIKE '%x'") == "SELECT 1 FROM t WHERE a=%s AND b LIKE '%%x'"
    assert SQLITE.q("a=? AND b LIKE '%x'") == "a=? AND b LIKE '%x'"


def test_in_list_and_insert_ignore():
    assert POSTGRES.q(POSTGRES.any_of("asset")) == "asset = ANY(%s::text[])"
    assert POSTGRES.values(iter(["a"])) == ["a"]
    assert SQLITE.values(["a", "b"]) == '["a", "b"]'
    assert POSTGRES.insert_ignore("t(a)", "VALUES (?)").endswith("ON CONFLICT DO NOTHING")
    assert SQLITE.insert_ignore("t(a)", "VALUES (?)") == "INSERT OR IGNORE INTO t(a) VALUES (?)"
    assert SQLITE.limit(None) == -1 and SQLITE.limit(0) == -1 and POSTGRES.limit(None) is None and POSTGRES.limit(5) == 5


def test_escaping_round_trips_through_sqlite():
    db = sqlite3.connect(":memory:")
    nasty = "it's \"q\" 50%_\\"
    assert db.execute(f"SELECT {literal(nasty)}").fetchone()[0] == nasty
    db.execute(f"CREATE TABLE t({ident(nasty)} TEXT)")
    db.execute("INSERT INTO t VALUES (?), (?)", (nasty, "it's q 50xx"))
    got = db.execute(f"SELECT {ident(nasty)} FROM t WHERE {ident(nasty)} LIKE ? ESCAPE '\\'", (like_contains("50%_"),)).fetchall()
    assert got == [(nasty,)]
    assert like_escape("a_b") == "a\\_b"
    assert literal("a\\b", backslashes=True) == "'a\\\\b'"
    assert db.execute(f"SELECT count(*) FROM t WHERE {ident(nasty)} LIKE {SQLITE.q('?')} ESCAPE '\\'", (like_contains("IT'S "),)).fetchone()[0] == 2
