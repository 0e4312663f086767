"""Text spliced into SQL, escaped in one place: string literals, identifiers and LIKE patterns
(the registry's backends, DuckDB and Spark all read these the same way)."""

from __future__ import annotations


def literal(value: object, *, backslashes: bool = False) -> str:
    """``value`` as a quoted SQL string literal; ``backslashes``: for a dialect that reads backslash
    escapes in literals (Spark SQL), so that ``a\\b`` stays ``a\\b``."""
    text = str(value)
    if backslashes:
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (a column named ``select``, or with a quote in it)."""
    return '"' + name.replace('"', '""') + '"'


def like_escape(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern that declares ``ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_contains(text: str) -> str:
    """A LIKE pattern (``ESCAPE '\\'``) matching any string that contains ``text``."""
    return "%" + like_escape(text) + "%"
