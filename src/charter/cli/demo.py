"""charter demo:  build a small ecosystem from the shipped example charters and walk through it.

Each step is a real `charter` command run against a fresh SQLite registry, printed as
the command a user would type, followed by its output.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from charter.core.files import resource


@dataclass(frozen=True)
class Step:
    title: str
    argv: tuple[str, ...]
    expect: int = 0  # exit code the step must return; the demo fails loudly otherwise


def steps(examples: Path) -> list[Step]:
    eco = str(examples / "ecosystem.yaml")
    return [
        Step("Register the ecosystem: sources with their contributors' choices, models, adaptations, apps", ("add", eco)),
        Step("Lineage of the help-desk bot", ("trace", "application/helpdesk-bot@1", "--up")),
        Step("A permitted use: commercial fine-tuning of the support assistant for chat",
             ("can", "model/support-assistant@1", "fine-tuning", "conversational-agent", "commercial")),
        Step("A data contributor's choice: the emails' donors said no machine translation",
             ("can", "model/foundation-lm@1", "fine-tuning", "machine-translation", "commercial"), 3),
        Step("Function creep: adapting the photo tagger for face recognition",
             ("can", "model/photo-tagger@1", "fine-tuning", "face-recognition"), 3),
        Step("What the help-desk bot inherits", ("show", "application/helpdesk-bot@1")),
        Step("The forum withdraws its posts: everything built on them is affected",
             ("withdraw", "dataset/forum-posts@1", "--reason", "forum members revoked consent on 2026-11-01")),
        Step("The help-desk bot may no longer be served",
             ("can", "application/helpdesk-bot@1", "inference", "conversational-agent", "commercial"), 3),
        Step("Models still usable for commercial fine-tuning", ("ls", "--kind", "model", "--allowed", "fine-tuning,commercial")),
    ]


def run(workdir: Path) -> int:
    from rich.rule import Rule

    from charter.cli.main import main
    from charter.cli.output import console

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "registry.db"
    for suffix in ("", "-wal", "-shm"):  # a fresh registry each run, so the demo is repeatable
        Path(str(db) + suffix).unlink(missing_ok=True)
    examples = resource("examples")
    console.print(Rule("[bold]charter demo[/]: what may each asset be used for?"))
    console.print(f"registry: {db} (SQLite)\n")
    for i, step in enumerate(steps(examples), 1):
        console.print(Rule(f"{i}. {step.title}", align="left", style="dim"))
        shown = [a if not a.endswith(".yaml") else Path(a).name for a in step.argv]
        console.print(f"[bold cyan]$ charter {shlex.join(shown)}[/]")
        code = main([*step.argv, "--registry", str(db)])
        if code != step.expect:
            console.print(f"[red]demo step {i} exited {code}, expected {step.expect}[/]")
            return 1
        console.print()
    console.print(Rule("done"))
    console.print(f"Explore further: charter show model/foundation-lm@1 --registry {db}")
    return 0


def register(sub, common) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on a fresh SQLite registry")
    p.add_argument("--dir", type=Path, default=Path("charter-demo"), help="working folder (default ./charter-demo; its registry is recreated)")
    p.set_defaults(func=lambda args: run(args.dir))
