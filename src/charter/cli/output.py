"""Printing: rich for people, stable JSON (see docs/cli-json.md) for programs."""

from __future__ import annotations

import json
import sys

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def reason_line(r) -> str:
    """One reason as two lines: what blocks which use, then the lineage path."""
    if r.rule == "withdrawn":
        head = f"withdrawn: {r.asset} ({r.detail.removeprefix('withdrawn: ')})"
    elif r.rule == "deny":
        head = f"deny {r.use}: {r.asset} denies {r.entries[0]} ({r.source})"
    elif r.rule == "undeclared-facet":
        head = f"undeclared-facet {r.use}: {r.asset} permits only {', '.join(r.entries)} ({r.source}); declare a {r.use} use"
    else:
        head = f"allow-only {r.use}: {r.asset} permits only {', '.join(r.entries)} ({r.source})"
    return f"{head}\n      path: {' -> '.join(r.path)}"
