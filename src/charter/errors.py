"""Errors. Every error carries where it happened and a hint that says what to do.

    CharterError                 exit 1
    ├── UsageError               exit 2   bad command-line arguments
    ├── InvalidInput             exit 1   a file or field is wrong (names file:line and field)
    │   ├── UnknownUse                    a use id not in the taxonomy
    │   └── TaxonomyError                 cycle, two facets, unknown parent
    ├── NotFound                 exit 1   an asset reference that is not registered
    ├── Conflict                 exit 1   same id, different content
    ├── LineageCycle             exit 1   derived_from forms a cycle
    ├── StoreError               exit 1   the registry cannot be opened or written
    ├── IntegrityError           exit 1   a file is not what was registered (hash mismatch)
    └── Denied                   exit 3   the charter does not permit the work (carries decisions)
"""

from __future__ import annotations


class CharterError(Exception):
    exit_code = 1
    code = "error"

    def __init__(self, message: str, *, hint: str = "", where: str = "", field: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where
        self.field = field

    def oneline(self) -> str:
        parts = [p for p in (self.where, self.field) if p]
        head = ": ".join(parts + [self.message])
        return f"{head} (fix: {self.hint})" if self.hint else head

    def to_json(self) -> dict:
        return {
            "error": self.code,
            "message": self.message,
            "where": self.where,
            "field": self.field,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        return self.oneline()


class UsageError(CharterError):
    exit_code = 2
    code = "usage"


class InvalidInput(CharterError):
    code = "invalid-input"


class UnknownUse(InvalidInput):
    code = "unknown-use"


class TaxonomyError(InvalidInput):
    code = "invalid-taxonomy"


class NotFound(CharterError):
    code = "not-found"


class Conflict(CharterError):
    code = "conflict"


class LineageCycle(CharterError):
    code = "lineage-cycle"


class StoreError(CharterError):
    code = "store"


class IntegrityError(CharterError):
    """A data file or weights differ from what was hashed at registration: refused before any work."""

    code = "integrity"


class Denied(CharterError):
    """Work refused by policy before any compute is spent; ``decisions`` explain why."""

    exit_code = 3
    code = "denied"

    def __init__(self, message: str, *, decisions=(), exclusions=None, hint: str = ""):
        super().__init__(message, hint=hint)
        self.decisions = tuple(decisions)
        self.exclusions = dict(exclusions or {})

    def to_json(self) -> dict:
        return {**super().to_json(), "decisions": [d.to_json() for d in self.decisions], "record_exclusions": self.exclusions}


class NotPermitted(CharterError):
    """A write refused because its actor may not make it (roles and namespaces, charter.core.identity); the
    refusal is recorded in the action log like the writes that are allowed."""

    exit_code = 3
    code = "not-permitted"

    def __init__(self, message: str, *, rule: str, actor: str, action: str, asset: str | None = None, hint: str = ""):
        super().__init__(message, hint=hint)
        self.rule, self.actor, self.action, self.asset = rule, actor, action, asset

    def to_json(self) -> dict:
        return {**super().to_json(), "rule": self.rule, "actor": self.actor, "action": self.action, "asset": self.asset}
