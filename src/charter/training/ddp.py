"""``--nproc N``: the same training loop on N processes with torch.distributed DDP, launched by torchrun.

The parent (the CLI process) has already decided, verified and opened the run folder; ``launch`` writes the
workers' spec (``ddp.json``: the config and the assets they load, so they never open the registry), starts

    python -m torch.distributed.run --nproc_per_node N --master_addr 127.0.0.1 --master_port PORT -m charter.training.ddp SPEC

with every worker's output in ``ddp.log``, shows progress from rank 0's ``metrics.jsonl``, and waits (with a
timeout proportional to the steps). Each worker (``main``) runs the single-process loop with a ``Dist``: rank r
takes samples r, r+N, ... of each global batch, DDP averages the gradients (so N ranks step exactly as one
process on the whole batch), and rank 0 alone writes metrics, checkpoints, final weights and ``ddp-result.json``.
A failing worker fails torchrun (which stops the others): the command fails naming the log. Backend gloo on
CPU, nccl with CUDA. torch is imported by the workers only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from charter.errors import CharterError
from charter.core.runs import RunFolder

SPEC, LOG, RESULT = "ddp.json", "ddp.log", "ddp-result.json"
STARTUP_S, PER_STEP_S = 300.0, 120.0  # the parent's wait: startup + this per step (then the workers are stopped)


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank ``rank`` of ``world`` on ``device``. The default is one process."""

    rank: int = 0
    world: int = 1
    device: str | None = None  # None: charter.models.hf.device()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def dev(self) -> str:
        if self.device is not None:
            return self.device
        from charter.models.hf import device

        return device()

    def shard(self, idx):
        """This rank's samples of a global batch: r, r+N, ... (all of it in one process)."""
        return idx if self.world == 1 else idx[self.rank::self.world]

    def wrap(self, model):
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.dev()] if self.dev().startswith("cuda") else None)

    def mean(self, loss) -> float:
        """The global batch's loss: the mean of the ranks' (equal) shard means."""
        if self.world == 1:
            return loss.item()
        import torch.distributed as td

        t = loss.detach().clone()
        td.all_reduce(t)
        return (t / self.world).item()


def check_nproc(nproc: int, batch_size: int) -> None:
    from charter.errors import UsageError

    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, not {nproc}", hint="pass --nproc 1 (one process) or more")
    if batch_size % nproc:
        raise UsageError(f"the batch size {batch_size} does not split evenly over {nproc} processes",
                         hint="pass a batch size that --nproc divides (each process takes an equal share of every batch)")


def check_devices(nproc: int) -> None:
    """With CUDA, one GPU per process (NCCL does not share one between ranks). Imports torch: after the decision."""
    import torch

    from charter.errors import UsageError

    if torch.cuda.is_available() and (n := torch.cuda.device_count()) < nproc:
        raise UsageError(f"--nproc {nproc} needs {nproc} GPUs (one per process); this machine has {n}", hint=f"pass --nproc {n} or fewer")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(run: RunFolder, spec: dict, nproc: int, steps: int, tokens_per_step: int, progress=None, what: str = "train") -> dict:
    """Run ``spec`` on ``nproc`` workers under torchrun; return rank 0's result (``ddp-result.json``)."""
    spec_file, log, result = run.path / SPEC, run.path / LOG, run.path / RESULT
    spec_file.write_text(json.dumps({**spec, "run": {"path": str(run.path.resolve()), "config": run.config}}, indent=2))
    result.unlink(missing_ok=True)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the charter package
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc), "--max_restarts", "0",
           "--monitor_interval", "0.5", "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "charter.training.ddp", str(spec_file)]
    tick = progress.start(f"{what} x{nproc}", steps * tokens_per_step, "tok") if progress else (lambda n: None)
    deadline = time.monotonic() + STARTUP_S + PER_STEP_S * steps
    with open(log, "ab") as f:
        f.write(f"$ {' '.join(cmd)}\n".encode())
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    shown = 0
    try:
        while p.poll() is None:
            if time.monotonic() > deadline:
                _stop(p)
                raise CharterError(f"{nproc}-process training did not finish within {STARTUP_S + PER_STEP_S * steps:.0f} s and was stopped",
                                   where=str(log), hint="read the workers' log; resume with the same command (the run folder keeps its checkpoint)")
            shown = _show(run, shown, tokens_per_step, tick)
            time.sleep(0.5)
    except BaseException:
        _stop(p)
        raise
    _show(run, shown, tokens_per_step, tick)
    if p.returncode != 0 or not result.exists():
        raise CharterError(f"{nproc}-process training failed (torchrun exited {p.returncode})", where=str(log),
                           hint="read the workers' log; resume with the same command once fixed")
    return json.loads(result.read_text())


def _show(run: RunFolder, shown: int, tokens_per_step: int, tick) -> int:
    """Advance the progress bar to rank 0's last logged step."""
    try:
        rows = (run.path / "metrics.jsonl").read_text().splitlines()
        step = json.loads(rows[-1])["step"] if rows and rows[-1].endswith("}") else shown
    except (OSError, ValueError, KeyError):
        return shown
    if step > shown:
        tick((step - shown) * tokens_per_step)
        return step
    return shown


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


# --- the worker --------------------------------------------------------------------------------------
def main(argv: list[str]) -> None:
    """A torchrun worker: join the group, run the spec's loop, leave the group, ``os._exit``."""
    import traceback
    from datetime import timedelta

    code = 1
    try:
        import torch
        import torch.distributed as td

        spec = json.loads(Path(argv[0]).read_text())
        rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        td.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=30))
        dist = Dist(rank, world, f"cuda:{local}" if cuda else "cpu")
        out = _run(spec, dist)
        if dist.main:
            run = Path(spec["run"]["path"])
            (run / (RESULT + ".tmp")).write_text(json.dumps(out))
            os.replace(run / (RESULT + ".tmp"), run / RESULT)
        td.barrier()
        td.destroy_process_group()
        code = 0
    except BaseException:  # the traceback goes to the log; torchrun then stops the other workers
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # not a normal exit: gloo's teardown at interpreter exit rarely aborts


def _run(spec: dict, dist: Dist) -> dict:
    from charter.core.assets import Asset

    assets = {a["id"]: Asset.from_json(a) for a in spec["assets"]}
    run = RunFolder(Path(spec["run"]["path"]), spec["run"]["config"])
    if spec["kind"] == "adapt":
        from charter.training import adapt

        cfg = adapt.AdaptConfig(**{**spec["config"], "out": Path(spec["config"]["out"]), "uses": tuple(spec["config"]["uses"])})
        return {"resumed_from": adapt.train_loop(assets.__getitem__, cfg, assets[cfg.base], assets[cfg.data], run, dist=dist)}
    if spec["kind"] == "train":
        from charter.training import pretrain

        start, metrics = pretrain.train_loop(assets[spec["data"]], spec["hyper"], spec["seed"], run, dist=dist,
                                            snapshot_every=spec.get("snapshot_every"))
        return {"resumed_from": start, "metrics": metrics}
    raise ValueError(f"unknown kind {spec['kind']!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
