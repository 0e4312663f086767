"""Printing: rich for people, stable JSON (see docs/cli-json.md) for programs."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markup import escape  # every piece of user text (descriptions, reasons, owners) goes through it: printed literally

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


_CONTROL = {c: "?" for c in (*range(0x20), 0x7F)}


def plain(text: str) -> str:
    """User text for tab-separated output: control characters (tabs, newlines, terminal escapes) become '?'."""
    return text.translate(_CONTROL)


def emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def reason_line(r) -> str:
    """One reason as two lines: what blocks which use, then the lineage path (charter.policy.explain)."""
    from charter.policy.explain import reason_text

    return escape(reason_text(r))


class progress_bars:
    """A rich progress display for charter.data.curate.Progress (records and records/s)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):
                rate = task.completed / task.elapsed if task.elapsed else 0
                unit = task.fields.get("unit", "rec")
                return Text(f"{rate:>10,.0f} {unit}/s" if rate else "", no_wrap=True)

        from rich.table import Column

        desc = TextColumn("{task.description}", table_column=Column(width=28, no_wrap=True, overflow="ellipsis"))
        self.bar = Progress(desc, BarColumn(bar_width=16), MofNCompleteColumn(), Rate(), TimeElapsedColumn(),
                            console=err_console, disable=self.quiet, transient=False)
        from charter.data.curate import Progress as Callbacks

        def start(label: str, total: int, unit: str = "rec"):
            if not self.bar.live.is_started:  # started with the first task: nothing is drawn for a run that
                self.bar.start()  # fails early or is already done (an error stays one line)
            task = self.bar.add_task(label, total=total, unit=unit)
            return lambda n: self.bar.advance(task, n)

        return Callbacks(start=start)

    def __exit__(self, *exc):
        if self.bar.live.is_started:
            self.bar.stop()
        return False
