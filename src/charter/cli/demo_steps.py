"""What the demo's parts share: numbered step titles, `$ charter ...` lines run in process, and failure."""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path


class Failed(Exception):
    """A demo step exited with another code than the one it expects (already printed)."""


def short(arg: str, workdir: Path) -> str:
    """An argument as shown: paths under the demo's folder relative to it."""
    return arg.replace(str(workdir) + "/", "") if arg.startswith(str(workdir)) else arg


class Steps:
    """Numbered steps against one registry, continuing the numbering of the part before."""

    def __init__(self, workdir: Path, db: str, first_step: int) -> None:
        self.workdir, self.db, self.n = workdir, db, first_step

    def title(self, text: str) -> None:
        from rich.rule import Rule

        from charter.cli.output import console

        console.print(Rule(f"{self.n}. {text}", align="left", style="dim"))
        self.n += 1

    def shown(self, argv) -> str:
        return shlex.join(short(a, self.workdir) for a in argv)

    def charter(self, *argv: str, expect: int = 0, capture: bool = False, registry: Path | None = None) -> str:
        """Run `charter ARGV --registry DB` in process (``registry``: another organisation's instead); its
        stdout when ``capture``. Raises Failed on another exit code."""
        from charter.cli.main import main
        from charter.cli.output import console

        shown = self.shown(argv) + (f" --registry {short(str(registry), self.workdir)}" if registry else "")
        console.print(f"[bold cyan]$ charter {shown}[/]")
        out = io.StringIO()
        with contextlib.redirect_stdout(out) if capture else contextlib.nullcontext():
            code = main([*argv, "--registry", str(registry or self.db)])
        if code != expect:
            console.print(f"[red]demo step exited {code}, expected {expect}[/]")
            raise Failed
        return out.getvalue()
