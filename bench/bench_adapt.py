"""LoRA adaptation throughput: `charter adapt` next to a plain transformers + peft training loop.

Both contenders train the same model (SmolLM2-135M-Instruct, the safetensors folder of
charter.models.smollm2.converted(); with --tiny a tiny random Llama from charter.models.tiny) on
the same data (the community corpus of charter.data.synth, curated for fine-tuning,
machine-translation, commercial), cut into the same token blocks, visited in the same order,
with the same batch size, seq_len, steps, LoRA config (r, alpha, q/k/v/o projections, no
dropout), optimizer (AdamW, same lr) and seed. Their per-step losses are compared: they must
agree, so both did the same work.

  charter  charter.training.adapt.adapt (library call): decision, load, tokenise, train with
           per-step metrics (metrics.jsonl) and checkpoints, save, hash, register
  plain    AutoModelForCausalLM + peft.get_peft_model + a bare loop (forward, backward, step,
           zero_grad; losses kept as tensors, read after the loop), save_pretrained

Timed phases, measured the same way for both:
  train    from the end of step 1 to the end of the last step (steps 2..N; step 1 is warm-up).
           For charter this includes its bookkeeping: the metrics row of every step, progress
           and the checkpoints (every --checkpoint-every steps and after the last step); it is
           read by wrapping RunFolder.log (step 1's row starts the clock) and
           RunFolder.save_checkpoint (the last step's checkpoint stops it).
  e2e      the whole call, model load included: charter's adapt() against plain's load, data,
           peft wrap, loop and save.
Rounds alternate after an untimed warm-up, in ABBA order (charter then plain, then plain then
charter, ...), so drift on a noisy machine and the order within a round hit both alike; the
medians over rounds and the median of the round-by-round ratios are reported. Target: charter's
train tokens/s at least 0.98x plain's (the decision and the bookkeeping cost under 2%). The
bookkeeping is also timed directly (host time in RunFolder.log and save_checkpoint), a figure
that machine noise does not move.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
TARGET = 0.98
USES = ("fine-tuning", "machine-translation", "commercial")
SOURCES = ("dataset/community-messages@1", "dataset/public-domain-books@2")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a tiny random Llama instead of SmolLM2 (a quick run)")
    ap.add_argument("--model-folder", type=Path, help="a Hugging Face model folder instead of SmolLM2; without weights in it, "
                    "random weights of its config (the same shapes and work: e.g. SmolLM2's config on a machine without the GGUF)")
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default 20; 200 with --tiny)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=4, help="timed runs of each contender, alternating (ABBA)")
    ap.add_argument("--checkpoint-every", type=int, default=10, help="charter's checkpoint interval (its default)")
    ap.add_argument("--messages", type=int, default=2000, help="size of the community corpus")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--work", type=Path, default=OUT / "adapt-work", help="scratch folder (recreated)")
    a = ap.parse_args()
    a.steps = a.steps or (200 if a.tiny else 20)
    return a


def setup(a):
    """A fresh registry with the curated corpus and the model; returns (registry, model id, folder, dataset id)."""
    from charter.data.curate import CurateConfig, curate
    from charter.data.synth import write_community_corpus
    from charter.models import smollm2
    from charter.models.registry import add_folder, add_smollm2
    from charter.models.tiny import make_tiny
    from charter.registry import Registry

    shutil.rmtree(a.work, ignore_errors=True)
    a.work.mkdir(parents=True)
    reg = Registry.open(str(a.work / "registry.db"))
    reg.add_files([write_community_corpus(a.work / "corpus", messages=a.messages)])
    data = curate(reg, CurateConfig(SOURCES, USES, a.work / "curated", name="bench-corpus", version="1")).asset.id
    if a.tiny:
        folder = make_tiny(a.work / "tiny")
        model = add_folder(reg, folder, "model/bench-tiny@1", ("Apache-2.0",)).id
    elif a.model_folder:
        folder = a.model_folder
        if not any(folder.glob("*.safetensors")):
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

            torch.manual_seed(0)
            folder = a.work / "model"
            AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(a.model_folder)).save_pretrained(folder)
            AutoTokenizer.from_pretrained(a.model_folder).save_pretrained(folder)
        model = add_folder(reg, folder, "model/bench-model@1", ("Apache-2.0",)).id
    else:
        add_smollm2(reg, progress=lambda m: print(m, file=sys.stderr))
        model, folder = smollm2.ASSET, smollm2.converted()
    return reg, model, Path(folder), data


# --- plain transformers + peft -----------------------------------------------------------------
def plain(a, folder: Path, files: list[str], out: Path, seed: int = 0, lr: float = 2e-4) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t_start = time.perf_counter()
    torch.manual_seed(seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                             task_type="CAUSAL_LM")).to(dev)
    docs = []
    for f in files:  # the curated shards, in row order
        t = pq.read_table(f, columns=["text", "source_row"]).sort_by("source_row")
        docs += [x for x in t.column("text").filter(pc.is_valid(t.column("text"))).to_pylist()]
    ids = []
    for enc in tok(docs, add_special_tokens=False)["input_ids"]:
        ids += enc + [tok.eos_token_id]
    n = len(ids) // a.seq_len
    blocks = torch.tensor(ids[: n * a.seq_len]).view(n, a.seq_len)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses, t1 = [], None
    for step in range(a.steps):
        batch = blocks[order[[(step * a.batch_size + i) % n for i in range(a.batch_size)]]].to(dev)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        if step == 0:
            if dev == "cuda":
                torch.cuda.synchronize()
            t1 = time.perf_counter()
    if dev == "cuda":
        torch.cuda.synchronize()
    t2 = time.perf_counter()
    model.save_pretrained(out)
    return {"train_s": t2 - t1, "e2e_s": time.perf_counter() - t_start, "losses": [round(float(x), 6) for x in losses]}


# --- charter -------------------------------------------------------------------------------------
@contextlib.contextmanager
def clocked(marks: dict, steps: int):
    """Time charter's loop from outside: step 1's metrics row starts the clock, the last step's checkpoint stops it."""
    from charter.training import runs

    log, save = runs.RunFolder.log, runs.RunFolder.save_checkpoint
    marks.update(log_s=0.0, checkpoint_s=0.0, checkpoints=0)

    def timed_log(self, row):
        t = time.perf_counter()
        if row["step"] == 1:
            marks["t1"] = t
        log(self, row)
        if row["step"] > 1:
            marks["log_s"] += time.perf_counter() - t

    def timed_save(self, write):
        t = time.perf_counter()
        save(self, write)
        marks["t2"] = time.perf_counter()
        marks["checkpoint_s"] += marks["t2"] - t
        marks["checkpoints"] += 1

    runs.RunFolder.log, runs.RunFolder.save_checkpoint = timed_log, timed_save
    try:
        yield marks
    finally:
        runs.RunFolder.log, runs.RunFolder.save_checkpoint = log, save


def charter(a, reg, model: str, data: str, out: Path, name: str) -> dict:
    from charter.training.adapt import AdaptConfig, adapt

    cfg = AdaptConfig(model, data, USES, out, steps=a.steps, batch_size=a.batch_size, seq_len=a.seq_len,
                      checkpoint_every=a.checkpoint_every, name=name)
    marks: dict = {}
    with clocked(marks, a.steps):
        t0 = time.perf_counter()
        r = adapt(reg, cfg)
        e2e = time.perf_counter() - t0
    rows = [json.loads(x) for x in (r.run / "metrics.jsonl").read_text().splitlines()]
    return {"train_s": marks["t2"] - marks["t1"], "e2e_s": e2e, "losses": [x["loss"] for x in rows],
            "log_s": marks["log_s"], "checkpoint_s": marks["checkpoint_s"], "checkpoints": marks["checkpoints"],
            "own_tokens_per_s": r.metrics["tokens_per_s"], "model": r.asset.id}


def main() -> None:
    a = parse()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    import common

    from charter.core.ids import slug

    t = time.perf_counter()
    reg, model, folder, data = setup(a)
    files = list(reg.get(data).data["files"])
    print(f"setup {time.perf_counter() - t:.1f}s: {model} ({folder}), {data}; {a.steps} steps x {a.batch_size} x {a.seq_len} tokens, "
          f"torch threads {torch.get_num_threads()}, device {'cuda' if torch.cuda.is_available() else 'cpu'}", file=sys.stderr)
    warm = argparse.Namespace(**{**vars(a), "steps": 2})
    plain(warm, folder, files, a.work / "warmup")  # imports, page cache
    tokens = (a.steps - 1) * a.batch_size * a.seq_len  # steps 2..N
    res: dict[str, list[dict]] = {"charter": [], "plain": []}
    for i in range(a.rounds):  # charter first in even rounds, plain first in odd ones (ABBA: no order bias)
        for who in (("charter", "plain") if i % 2 == 0 else ("plain", "charter")):
            if who == "charter":
                res["charter"].append(charter(a, reg, model, data, a.work / f"charter-{i}", f"bench-adapt-{i}"))
            else:
                res["plain"].append(plain(a, folder, files, a.work / f"plain-{i}"))
        c, p = res["charter"][-1], res["plain"][-1]
        print(f"round {i + 1}: charter {tokens / c['train_s']:,.0f} tok/s, plain {tokens / p['train_s']:,.0f} tok/s "
              f"(e2e {c['e2e_s']:.1f}s / {p['e2e_s']:.1f}s)", file=sys.stderr, flush=True)
    # the same work: equal losses step by step (nan == nan: random weights can diverge, alike in both)
    pairs = [(x, y) for c, p in zip(res["charter"], res["plain"]) for x, y in zip(c["losses"], p["losses"])]
    assert all((x != x) == (y != y) for x, y in pairs), "one contender diverged where the other did not"
    loss_diff = max((abs(x - y) for x, y in pairs if x == x), default=0.0)
    assert all(len(r["losses"]) == a.steps for rs in res.values() for r in rs)
    med = {k: {"train_s": statistics.median(r["train_s"] for r in rs), "e2e_s": statistics.median(r["e2e_s"] for r in rs)} for k, rs in res.items()}
    for k in med:
        med[k]["train_tokens_per_s"] = tokens / med[k]["train_s"]
    ratio = med["charter"]["train_tokens_per_s"] / med["plain"]["train_tokens_per_s"]
    paired = statistics.median(p["train_s"] / c["train_s"] for c, p in zip(res["charter"], res["plain"]))  # round by round
    e2e_ratio = med["plain"]["e2e_s"] / med["charter"]["e2e_s"]
    rows = [(k, f"{med[k]['train_tokens_per_s']:,.1f}", f"{med[k]['train_s']:.3f}", f"{med[k]['e2e_s']:.2f}",
             " ".join(f"{tokens / r['train_s']:,.0f}" for r in res[k])) for k in ("charter", "plain")]
    print(common.table(rows, ("contender", "train tok/s (median)", "train s", "e2e s", "train tok/s per round")))
    by_round = " ".join(f"{p['train_s'] / c['train_s']:.3f}" for c, p in zip(res["charter"], res["plain"]))
    print(f"charter/plain tokens/s round by round: {by_round} (median {paired:.3f})")
    print(f"losses: charter vs plain max |diff| {loss_diff:.2e} over {a.rounds} x {a.steps} steps "
          f"(first {res['plain'][0]['losses'][0]:.4f}, last {res['plain'][0]['losses'][-1]:.4f})")
    c = res["charter"]
    book = {"log_ms_per_step": 1e3 * statistics.median(r["log_s"] for r in c) / (a.steps - 1),
            "checkpoints": c[0]["checkpoints"], "checkpoint_ms_each": 1e3 * statistics.median(r["checkpoint_s"] / r["checkpoints"] for r in c),
            "share_of_train": statistics.median((r["log_s"] + r["checkpoint_s"]) / r["train_s"] for r in c)}
    print(f"charter bookkeeping inside its timed phase (median): metrics rows {book['log_ms_per_step']:.3f} ms/step, "
          f"{book['checkpoints']} checkpoints x {book['checkpoint_ms_each']:.1f} ms = {100 * book['share_of_train']:.2f}% of its train time")
    ok = ratio >= TARGET
    name = "tiny" if a.tiny else slug(a.model_folder.name) if a.model_folder else "smollm2"
    result = {"benchmark": "adapt", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": common.machine(), "model": model,
              "device": "cuda" if torch.cuda.is_available() else "cpu", "torch_threads": torch.get_num_threads(),
              "steps": a.steps, "batch_size": a.batch_size, "seq_len": a.seq_len, "rounds": a.rounds, "checkpoint_every": a.checkpoint_every,
              "timed_tokens": tokens, "median": med, "ratio_train_tokens_per_s": round(ratio, 4), "ratio_paired_median": round(paired, 4), "e2e_ratio": round(e2e_ratio, 4),
              "target": TARGET, "pass": ok, "loss_max_abs_diff": loss_diff, "charter_bookkeeping": book,
              "runs": {k: [{x: y for x, y in r.items() if x != "losses"} for r in rs] for k, rs in res.items()}}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"adapt-{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    print(f"RESULT adapt[{name}]: charter {med['charter']['train_tokens_per_s']:,.1f} tok/s vs plain {med['plain']['train_tokens_per_s']:,.1f} "
          f"tok/s = {ratio:.3f}x (target >= {TARGET}x) {'PASS' if ok else 'FAIL'}; end-to-end {med['charter']['e2e_s']:.2f}s vs "
          f"{med['plain']['e2e_s']:.2f}s")
    if os.environ.get("BENCH_STRICT") and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
