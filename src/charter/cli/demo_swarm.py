"""A part of `charter demo`: volunteers adapt SmolLM2 together (hivemind on 127.0.0.1), each under its own terms.

Two volunteers' machines (real `charter swarm join` processes) train a LoRA adapter for the demo's declared
uses; a third, whose terms forbid commercial use, is refused before it connects; the finished model lists
both contributors and is denied what either volunteer's terms deny.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from charter.cli.demo_steps import Failed, Steps

BASE = "model/smollm2-135m-instruct-q4_1@1"
DATA = "dataset/community-mt@2"
USES = ("fine-tuning", "machine-translation", "commercial")
VOLUNTEERS = {  # name -> terms
    "alice-workstation": "{deny: [military, surveillance]}",
    "bob-laptop": "{deny: [biometric-identification]}",
}
REFUSED = ("carol-server", "{deny: [commercial]}")
EPOCHS = 2  # optimizer steps the swarm takes before the demo finishes it


def run_swarm(workdir: Path, db: str, first_step: int) -> tuple[int, int]:
    """Returns (exit code, next step number)."""
    from charter.cli.output import console

    steps = Steps(workdir, db, first_step)
    title, charter = steps.title, steps.charter
    runs = workdir / "swarm"
    import shutil

    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)

    procs: list[subprocess.Popen] = []
    run_dir = runs / "run"
    try:
        title("Volunteers make keys and write their terms: compute charters")
        pubs = {}
        for name, _ in [*VOLUNTEERS.items(), REFUSED]:
            pubs[name] = json.loads(charter("swarm", "keygen", str(runs / f"{name}.key"), "--json", capture=True))["public_key"]
        for name, uses in [*VOLUNTEERS.items(), REFUSED]:
            (runs / f"{name}.yaml").write_text(f"id: compute/{name}@1\ndescription: a volunteer's machine\nuses: {uses}\n"
                                               f"public_key: \"{pubs[name]}\"\n")
        from charter.cli.output import escape

        console.print(escape((runs / "alice-workstation.yaml").read_text()))

        title("Start a swarm run: the base model's and the data's lineage are decided first")
        charter("swarm", "start", "--base", BASE, "--data", DATA, "--for", *USES, "--out", str(run_dir), "--target-batch-size", "8",
                "--batch-size", "2", "--seq-len", "64", "--name", "smollm2-swarm-mt", "--version", "1")
        console.print()

        title("A volunteer whose terms forbid commercial use is refused before connecting")
        name, _ = REFUSED
        charter("swarm", "join", str(run_dir / "join.json"), "--terms", str(runs / f"{name}.yaml"), "--key", str(runs / f"{name}.key"),
                "--out", str(runs / name), expect=3)
        console.print()

        title("Two volunteers join (each in its own terminal; here, background processes)")
        exe = Path(sys.executable).parent / "charter"
        for name in VOLUNTEERS:
            argv = ["swarm", "join", str(run_dir / "join.json"), "--terms", str(runs / f"{name}.yaml"), "--key", str(runs / f"{name}.key"),
                    "--out", str(runs / name)]
            console.print(f"[bold cyan]$ charter {steps.shown(argv)} &[/]")
            procs.append(subprocess.Popen([str(exe), *argv, "--registry", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          env={**os.environ, "HF_HUB_OFFLINE": "1"}))
        t0 = time.monotonic()
        while min(_status(runs / name).get("epoch", 0) for name in VOLUNTEERS) < EPOCHS:
            if time.monotonic() - t0 > 600 or any(p.poll() is not None for p in procs):
                console.print(f"[red]the volunteers did not reach {EPOCHS} optimizer steps[/]; see {runs}/*/peer.log")
                raise Failed
            time.sleep(0.5)
        console.print(f"both volunteers at optimizer step {EPOCHS} after {time.monotonic() - t0:.0f} s\n")

        title("The run's status: who contributed what, the ledger of signed reports verified")
        time.sleep(1.5)  # the coordinator collects reports every second
        charter("swarm", "status", str(run_dir))
        console.print()

        title("Finish: the averaged adapter is saved and registered, trained-with both volunteers' machines")
        charter("swarm", "finish", str(run_dir))
        for p in procs:
            p.wait(timeout=120)
        console.print()

        title("Alice's terms bind the model: it may not be used for military purposes")
        charter("can", "model/smollm2-swarm-mt@1", "fine-tuning", "military", expect=3)
        console.print()
        title("Its card lists the contributors")
        charter("card", "model/smollm2-swarm-mt@1")
        console.print()
        return 0, steps.n
    except Failed:
        return 1, steps.n
    finally:
        (run_dir / "STOP").touch()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()


def _status(folder: Path) -> dict:
    try:
        return json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        return {}


