"""A real swarm on loopback: a coordinator and hivemind volunteers as separate processes, killed and refused.

One run serves the whole story (a swarm costs seconds to form): two volunteers join, a third whose terms
forbid the run is refused before connecting, one volunteer is killed with -9 mid-run and leaves no process
behind while the other goes on, and the finished model carries both volunteers' terms.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.clirun import run

USES = ["fine-tuning", "commercial"]


def _terms(folder: Path, name: str, uses: str, key: str) -> Path:
    p = folder / f"{name}.yaml"
    p.write_text(f"id: compute/{name}@1\ndescription: {name}'s machine\nuses: {uses}\npublic_key: \"{key}\"\n")
    return p


def _keygen(folder: Path, name: str) -> tuple[Path, str]:
    from charter.swarm.ledger import generate_key

    path = folder / f"{name}.key"
    return path, generate_key(path)


def _status(folder: Path) -> dict:
    try:
        return json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from charter.models.registry import add_folder
    from charter.models.tiny import make_tiny
    from charter.registry import Registry

    root = tmp_path_factory.mktemp("swarm")
    reg = Registry.open(str(root / "r.db"))
    texts = [f"record {i}: the river and the bridge in summer, a letter for a friend number {i}" for i in range(200)]
    (root / "d.jsonl").write_text("".join(json.dumps({"text": t, **({"charter_deny": ["commercial"]} if i % 10 == 0 else {})}) + "\n"
                                          for i, t in enumerate(texts)))
    (root / "d.yaml").write_text("id: dataset/letters@1\nlicense: CC0-1.0\ndata: [d.jsonl]\n")
    reg.add_files([root / "d.yaml"])
    add_folder(reg, make_tiny(root / "tiny"), "model/tiny@1", ("Apache-2.0",))
    reg.close()
    return root


def _join(world: Path, name: str, terms: Path, key: Path, run_dir: Path, max_steps: int = 0, join_file: Path | None = None) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "charter"
    out = world / f"vol-{name}"
    return subprocess.Popen([str(exe), "swarm", "join", str(join_file or run_dir / "join.json"), "--terms", str(terms), "--key", str(key),
                             "--out", str(out), "--max-steps", str(max_steps), "--registry", str(world / "r.db"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_a_swarm_run_end_to_end(world, capsys):
    from charter.swarm.supervise import group_members

    db = str(world / "r.db")
    run_dir = world / "run"
    alice_key, alice_pub = _keygen(world, "alice")
    bob_key, bob_pub = _keygen(world, "bob")
    carol_key, carol_pub = _keygen(world, "carol")
    alice = _terms(world, "alice", "{deny: [military, surveillance]}", alice_pub)
    bob = _terms(world, "bob", "{deny: [biometric-identification]}", bob_pub)
    carol = _terms(world, "carol", "{deny: [commercial]}", carol_pub)

    code, out, err = run(capsys, "swarm", "start", "--base", "model/tiny@1", "--data", "dataset/letters@1", "--for", *USES,
                         "--out", str(run_dir), "--target-batch-size", "16", "--batch-size", "4", "--registry", db, "--json")
    assert code == 0, err
    assert out["uses"] == USES and out["base"]["asset"] == "model/tiny@1" and "token" not in out
    join = json.loads((run_dir / "join.json").read_text())
    assert len(join["token"]) >= 32 and (run_dir / "join.json").stat().st_mode & 0o077 == 0
    procs: list[subprocess.Popen] = []
    try:
        # carol's terms deny commercial: refused before connecting (exit 3, the reason names her terms)
        code, _, err = run(capsys, "swarm", "join", str(run_dir / "join.json"), "--terms", str(carol), "--key", str(carol_key),
                           "--out", str(world / "vol-carol"), "--registry", db)
        assert code == 3 and "compute/carol@1" in err and "commercial" in err
        assert not (world / "vol-carol" / "status.json").exists()

        pa, pb = _join(world, "alice", alice, alice_key, run_dir), _join(world, "bob", bob, bob_key, run_dir)
        procs += [pa, pb]
        va, vb = world / "vol-alice", world / "vol-bob"
        _wait(lambda: _status(va).get("steps", 0) >= 4 and _status(vb).get("steps", 0) >= 4, 120, "both volunteers training")
        # dave has a copy of the join file with another token: he trains, but nobody averages with him
        # and his reports stay out of the ledger
        dave_key, dave_pub = _keygen(world, "dave")
        forged = dict(join, token="guessed-" + join["token"][8:])
        (world / "forged.json").write_text(json.dumps(forged))
        pd = _join(world, "dave", _terms(world, "dave", "{deny: [military]}", dave_pub), dave_key, world, max_steps=0,
                   join_file=world / "forged.json")
        procs.append(pd)
        vd = world / "vol-dave"
        _wait(lambda: _status(vd).get("steps", 0) >= 8, 120, "dave training")
        _wait(lambda: _status(run_dir).get("refused_reports", {}).get("not-admitted", 0) > 0, 60, "dave's reports refused by the ledger")
        d = _status(vd)
        assert d["admitted_peers"] == 1 and d["refused_peers"] > 0  # with the wrong token he sees no proof valid but his own
        assert d["epoch"] == 0 < _status(va)["epoch"]  # never averaged, never given the swarm's state
        pd.send_signal(signal.SIGTERM)
        pd.wait(60)
        sel = json.loads((va / "join-decision.json").read_text())["selection"]
        assert sel == {"kept": 180, "excluded": {"record-deny:commercial": 20}}  # every 10th record denies commercial

        # bob's peer killed with -9: its whole group (DHT process, averagers, p2pd) goes with it
        b = _status(vb)
        os.kill(b["pid"], signal.SIGKILL)
        assert pb.wait(30) != 0
        _wait(lambda: not group_members(b["pid"]), 10, "bob's processes to be gone")
        # alice goes on: more optimizer steps after bob is gone
        steps = _status(va)["steps"]
        _wait(lambda: _status(va).get("steps", 0) >= steps + 8, 60, "alice to continue alone")
        st = _wait(lambda: (s := run(capsys, "swarm", "status", str(run_dir), "--registry", db, "--json")[1]) and len(s["contributors"]) == 2 and s,
                   30, "both contributors in the status")
        bob_before = next(c for c in st["contributors"].values() if c["compute"] == "compute/bob@1")
        _wait(lambda: not next(c for c in run(capsys, "swarm", "status", str(run_dir), "--registry", db, "--json")[1]["contributors"].values()
                               if c["compute"] == "compute/bob@1")["alive"], 30, "status to show bob gone")
        # bob rejoins (a fresh folder): he loads the swarm's state from the others and his totals continue
        pb2 = _join(world, "bob-again", bob, bob_key, run_dir)
        procs.append(pb2)
        vb2 = world / "vol-bob-again"
        _wait(lambda: _status(vb2).get("steps", 0) > bob_before["steps"] and _status(vb2).get("epoch", 0) >= _status(va)["epoch"] - 1,
              120, "bob to catch up and continue")
        st = _wait(lambda: (s := run(capsys, "swarm", "status", str(run_dir), "--registry", db, "--json")[1])
                   and next(c for c in s["contributors"].values() if c["compute"] == "compute/bob@1")["samples"] > bob_before["samples"] and s,
                   30, "bob's totals to grow in the ledger")
        assert st["ledger"]["ok"] and st["ledger"]["entries"] >= 2
        by = {c["compute"]: c for c in st["contributors"].values()}
        assert by["compute/bob@1"]["samples"] > 0 and by["compute/alice@1"]["samples"] > 0
        assert by["compute/alice@1"]["loss"] > 0 and by["compute/alice@1"]["samples_per_s"] > 0 and st["samples_per_s"] > 0

        code, out, err = run(capsys, "swarm", "finish", str(run_dir), "--registry", db, "--json")
        assert code == 0, err
        assert pa.wait(60) == 0 and pb2.wait(60) == 0  # the volunteers stop on the coordinator's announcement
    finally:
        (run_dir / "STOP").touch()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(60)
    model = out["model"]
    assert {c["compute"] for c in out["contributors"]} == {"compute/alice@1", "compute/bob@1"}  # not dave
    # the model inherits every contributor's terms: alice denies military, with the path to her machine
    code, d, _ = run(capsys, "can", model, "military", "--registry", db, "--json")
    assert code == 3
    reason = next(r for r in d["reasons"] if "compute/alice@1" in r["path"])
    assert reason["path"][0] == model and reason["path"][-1] == "compute/alice@1"
    assert run(capsys, "can", model, "fine-tuning", "commercial", "--registry", db)[0] == 0
    # nothing of the run is left running
    sup = int((run_dir / "supervisor.pid").read_text())
    _wait(lambda: not any(group_members(pid) for pid in (sup, _status(run_dir)["pid"], _status(va)["pid"], _status(vb2)["pid"])), 30,
          "no process left")


def test_a_new_model_trained_from_scratch_by_a_swarm(world, capsys):
    """`--config tiny`: the tokenizer and the initial weights are made at start (from the permitted records) and the
    join file carries their digest; a changed init folder is refused; the model has no base, only its data and volunteer."""
    db = str(world / "r.db")
    run_dir = world / "scratch"
    key, pub = _keygen(world, "erin")
    terms = _terms(world, "erin", "{deny: [surveillance]}", pub)
    code, out, err = run(capsys, "swarm", "start", "--config", "tiny", "--data", "dataset/letters@1", "--for", *USES, "--out", str(run_dir),
                         "--max-steps", "300", "--target-batch-size", "8", "--batch-size", "4", "--registry", db, "--json")
    assert code == 0, err
    assert out["uses"] == ["pretraining", *USES] and out["base"]["asset"] is None and out["method"] == "full"
    from charter.core.digests import folder_digest

    assert out["base"]["sha256"] == folder_digest(run_dir / "init")
    p = None
    try:
        original = (run_dir / "init" / "config.json").read_bytes()
        (run_dir / "init" / "config.json").write_text(json.dumps({**json.loads(original), "extra": 1}))
        code, _, err = run(capsys, "swarm", "join", str(run_dir / "join.json"), "--terms", str(terms), "--key", str(key),
                           "--out", str(world / "vol-erin-x"), "--registry", db)
        assert code == 1 and "initial weights" in err
        (run_dir / "init" / "config.json").write_bytes(original)
        p = _join(world, "erin", terms, key, run_dir)
        assert p.wait(180) == 0, p.communicate()
        assert _status(world / "vol-erin")["epoch"] >= 300
        # erin stopped after the run's 300 steps: the coordinator's snapshot of the averaged state is what finish saves
        _wait(lambda: _status(run_dir).get("snapshot_epoch", 0) >= 1, 60, "the coordinator's snapshot")
        code, out, err = run(capsys, "swarm", "finish", str(run_dir), "--registry", db, "--json")
        assert code == 0, err
    finally:
        (run_dir / "STOP").touch()
        if p is not None and p.poll() is None:
            p.kill()
    model = out["model"]
    from charter.registry import Registry

    reg = Registry.open(db)
    a = reg.get(model)
    assert sorted((e.parent, e.relation) for e in a.derived_from) == [("compute/erin@1", "trained-with"), ("dataset/letters@1", "trained-on")]
    assert (Path(a.notes["weights"]["path"]) / "tokenizer.json").exists()
    reg.close()
    assert run(capsys, "can", model, "pretraining", "surveillance", "--registry", db)[0] == 3


def test_finish_without_any_trained_state_keeps_the_run_going(world, capsys):
    db = str(world / "r.db")
    run_dir = world / "empty"
    code, _, err = run(capsys, "swarm", "start", "--base", "model/tiny@1", "--data", "dataset/letters@1", "--for", *USES,
                       "--out", str(run_dir), "--registry", db)
    assert code == 0, err
    try:
        code, _, err = run(capsys, "swarm", "finish", str(run_dir), "--registry", db)
        assert code == 1 and "cannot finish yet" in err and "no averaged state" in err
        time.sleep(2)
        assert _status(run_dir).get("time", 0) > time.time() - 5  # the coordinator still runs
    finally:
        code = run(capsys, "swarm", "finish", str(run_dir), "--abort", "--registry", db)[0]
    from charter.swarm.supervise import group_members

    assert code == 0 and not group_members(_status(run_dir)["pid"])  # aborted: nothing left running
    assert not (run_dir / "final").exists()
