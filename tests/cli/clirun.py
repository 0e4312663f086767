"""Run the CLI in process and parse its output (shared by the CLI tests)."""

import json

from charter.cli.main import main


def run(capsys, *argv) -> tuple[int, object, str]:
    """(exit code, stdout parsed as JSON or raw text, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    try:
        return code, json.loads(out.out), out.err
    except json.JSONDecodeError:
        return code, out.out, out.err
