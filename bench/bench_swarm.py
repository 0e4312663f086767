"""Volunteer training (`charter swarm`, hivemind 1.1.12) next to single-process training, in one run.

On the tiny model (default) or SmolLM2 + LoRA (`--model smollm2`), the same records, the same batch of
`--batch-size` samples per local step and `--target-batch-size` samples per optimizer step:

  single process   a plain PyTorch loop: one AdamW step per target batch (gradient accumulation)
  1 volunteer      `charter swarm start` + one `charter swarm join` (real processes, loopback)
  2 volunteers     two joins: hivemind averages their gradients every optimizer step
  2 vol., local N  two joins with `--local-steps N`: local AdamW steps, parameters averaged every N (DiLoCo-style)
  torchrun 1 / 2   `charter adapt --nproc 1|2` (DDP over gloo on this machine), the target batch per optimizer step

For each: samples/s (all volunteers together, wall clock from the first to the last step), bytes on the
loopback interface per optimizer step and per sample (every peer's DHT and averaging traffic: /proc/net/dev,
so run it on a quiet machine), and the mean training loss over the last optimizer step's samples next to the
single process's after the same number of samples.

    .venv/bin/python bench/bench_swarm.py --epochs 6
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common

USES = ["fine-tuning", "commercial"]


def lo_bytes() -> int:
    for line in Path("/proc/net/dev").read_text().splitlines():
        if line.strip().startswith("lo:"):
            f = line.split(":", 1)[1].split()
            return int(f[0])  # received on lo = sent on lo
    return 0


def setup(work: Path, model: str) -> Path:
    from charter.models.registry import add_folder, add_smollm2
    from charter.models.tiny import make_tiny
    from charter.registry import Registry

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    reg = Registry.open(str(work / "r.db"))
    texts = [f"letter {i}: the river and the bridge in summer, a garden, a friend, the number {i * 7 % 97}" for i in range(400)]
    (work / "d.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    (work / "d.yaml").write_text("id: dataset/letters@1\nlicense: CC0-1.0\ndata: [d.jsonl]\n")
    reg.add_files([work / "d.yaml"])
    if model == "tiny":
        add_folder(reg, make_tiny(work / "tiny", texts), "model/base@1", ("Apache-2.0",))
    else:
        add_smollm2(reg, progress=lambda *a: None)
    reg.close()
    return work / "r.db"


def base_id(model: str) -> str:
    return "model/base@1" if model == "tiny" else "model/smollm2-135m-instruct-q4_1@1"


def swarm(work: Path, db: Path, a, volunteers: int, local_steps: int) -> dict:
    from charter.swarm.ledger import generate_key

    exe = str(Path(sys.executable).parent / "charter")
    tag = f"v{volunteers}-l{local_steps}"
    run_dir = work / f"run-{tag}"
    method = "lora" if a.model == "smollm2" else "full"
    subprocess.run([exe, "swarm", "start", "--base", base_id(a.model), "--data", "dataset/letters@1", "--for", *USES, "--out", str(run_dir),
                    "--method", method, "--target-batch-size", str(a.target_batch_size), "--batch-size", str(a.batch_size),
                    "--seq-len", str(a.seq_len), "--local-steps", str(local_steps), "--lr", str(a.lr), "--registry", str(db)],
                   check=True, capture_output=True)
    procs, folders = [], []
    b0 = lo_bytes()
    for i in range(volunteers):
        name = f"{tag}-vol{i}"
        key = work / f"{name}.key"
        pub = generate_key(key)
        terms = work / f"{name}.yaml"
        terms.write_text(f"id: compute/{name}@1\nuses: {{deny: [military]}}\npublic_key: \"{pub}\"\n")
        folders.append(work / name)
        procs.append(subprocess.Popen([exe, "swarm", "join", str(run_dir / "join.json"), "--terms", str(terms), "--key", str(key),
                                       "--out", str(work / name), "--max-steps", str(a.epochs), "--registry", str(db)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs:
        p.wait(timeout=1800)
    b1 = lo_bytes()
    (run_dir / "STOP").touch()
    rows = [json.loads(x) for f in folders for x in (f / "metrics.jsonl").read_text().splitlines()]
    t0, t1 = min(r["time"] for r in rows), max(r["time"] for r in rows)
    samples = sum(r["samples"] for r in [max((json.loads(x) for x in (f / "metrics.jsonl").read_text().splitlines()), key=lambda r: r["step"])
                                         for f in folders])
    epochs = max(r["epoch"] for r in rows)
    last = [r["loss"] for r in rows if r["epoch"] == epochs - 1] or [r["loss"] for r in rows[-volunteers * 2:]]
    sup = int((run_dir / "supervisor.pid").read_text())
    for _ in range(100):
        try:
            os.kill(sup, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break
    return {"setup": f"{volunteers} volunteer{'s' * (volunteers > 1)}" + (f", local steps {local_steps}" if local_steps else ""),
            "samples": samples, "epochs": epochs, "seconds": round(t1 - t0, 2), "samples_per_s": samples / max(t1 - t0, 1e-9),
            "lo_bytes": b1 - b0, "bytes_per_step": (b1 - b0) / max(epochs, 1), "bytes_per_sample": (b1 - b0) / max(samples, 1),
            "last_loss": statistics.mean(last)}


def single(work: Path, db: Path, a, samples: int) -> dict:
    """The same records and optimizer, in one process: AdamW on the mean gradient of each target batch."""
    import torch

    from charter.models.loading import load_registered
    from charter.registry import Registry
    from charter.training import data as data_mod

    reg = Registry.open(str(db))
    model, tok = load_registered(reg.get, reg.get(base_id(a.model)))
    if a.model == "smollm2":
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(0)
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                                 task_type="CAUSAL_LM"))
    blocks = data_mod.blocks(tok, [json.loads(x)["text"] for x in (work / "d.jsonl").read_text().splitlines()], a.seq_len)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr)
    order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(0))
    micro = a.target_batch_size // a.batch_size
    model.train()
    t0, done, losses = time.perf_counter(), 0, []
    step = 0
    while done < samples:
        step_losses = []
        for m in range(micro):
            idx = order[[(done + i) % len(blocks) for i in range(a.batch_size)]]
            loss = model(input_ids=blocks[idx], labels=blocks[idx]).loss
            (loss / micro).backward()
            step_losses.append(loss.item())
            done += a.batch_size
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(step_losses)
        step += 1
    reg.close()
    secs = time.perf_counter() - t0
    return {"setup": "single process", "samples": done, "epochs": step, "seconds": round(secs, 2), "samples_per_s": done / secs,
            "lo_bytes": 0, "bytes_per_step": 0, "bytes_per_sample": 0, "last_loss": statistics.mean(losses[-1])}


def ddp(work: Path, db: Path, a, nproc: int, samples: int) -> dict:
    """`charter adapt --nproc N`: torchrun DDP on this machine, the same samples per optimizer step (the target batch)."""
    exe = str(Path(sys.executable).parent / "charter")
    out = work / f"adapt-nproc{nproc}"
    shutil.rmtree(out, ignore_errors=True)
    steps = max(1, samples // a.target_batch_size)
    b0 = lo_bytes()
    subprocess.run([exe, "adapt", base_id(a.model), "--data", "dataset/letters@1", "--for", *USES, "--out", str(out),
                    "--method", "lora" if a.model == "smollm2" else "full", "--steps", str(steps), "--batch-size", str(a.target_batch_size),
                    "--seq-len", str(a.seq_len), "--lr", str(a.lr), "--nproc", str(nproc), "--name", f"ddp-{nproc}", "--registry", str(db), "--json"],
                   check=True, capture_output=True)
    b1 = lo_bytes()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    n = steps * a.target_batch_size
    return {"setup": f"torchrun, {nproc} rank{'s' * (nproc > 1)} (charter adapt --nproc {nproc})", "samples": n, "epochs": steps,
            "seconds": None, "samples_per_s": rows[-1]["tokens_per_s"] / a.seq_len, "lo_bytes": b1 - b0,
            "bytes_per_step": (b1 - b0) / steps, "bytes_per_sample": (b1 - b0) / n, "last_loss": rows[-1]["loss"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    ap.add_argument("--epochs", type=int, default=6, help="optimizer steps each run takes")
    ap.add_argument("--target-batch-size", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--local-steps", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = common.OUT / f"swarm-{a.model}"
    db = setup(work, a.model)
    print(f"{a.model}: target batch {a.target_batch_size}, {a.batch_size} per local step, {a.epochs} optimizer steps; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    runs = [swarm(work, db, a, 1, 0), swarm(work, db, a, 2, 0), swarm(work, db, a, 2, a.local_steps)]
    runs.insert(0, single(work, db, a, runs[1]["samples"]))
    runs += [ddp(work, db, a, 1, runs[0]["samples"]), ddp(work, db, a, 2, runs[0]["samples"])]
    ref = runs[0]["last_loss"]
    rows = [(r["setup"], f"{r['samples']:,}", str(r["epochs"]), f"{r['samples_per_s']:,.1f}", f"{r['bytes_per_step'] / 1e6:,.2f} MB",
             f"{r['bytes_per_sample'] / 1e3:,.1f} kB", f"{r['last_loss']:.3f}", f"{r['last_loss'] / ref:.2f}x") for r in runs]
    print(common.table(rows, ("setup", "samples", "opt. steps", "samples/s", "loopback bytes/step", "bytes/sample", "last loss",
                              "loss vs single")))
    out = {"benchmark": "swarm", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": common.machine(), "config": vars(a), "runs": runs}
    (common.OUT / f"swarm-{a.model}.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {common.OUT / f'swarm-{a.model}.json'}")


if __name__ == "__main__":
    main()
