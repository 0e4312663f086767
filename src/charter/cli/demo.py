"""charter demo"""

from __future__ import annotations

from pathlib import Path


def register(sub, common) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on a fresh SQLite registry")
    p.add_argument("--dir", type=Path, default=Path("charter-demo"), help="working folder (default ./charter-demo; its registry is recreated)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from charter.demo import run

    return run(args.dir)
