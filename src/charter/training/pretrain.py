"""``charter train``: pretrain a small causal LM from scratch on a registered dataset.

Decided first (the data's lineage and every record's tags must permit ``pretraining`` plus the
declared purposes/contexts). A byte-level BPE tokenizer is trained on the training split, a Llama
of the chosen size is trained for the configured steps, and held-out perplexity is reported next
to a unigram baseline (add-one smoothed token frequencies of the training split).
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.files import load_document
from charter.core.ids import make_id, slug
from charter.errors import Denied, InvalidInput, UsageError
from charter.models.tiny import SIZES
from charter.models.weights import Weights
from charter.registry import Registry
from charter.training import data as data_mod
from charter.training import snapshots
from charter.core.runs import RunFolder
from charter.training.runs import load_state, save_state

HELD_OUT = 0.1
CHECKPOINT_EVERY = 100


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: Path
    config: str = "tiny"  # tiny | small | a YAML/JSON file with the keys of models.tiny.SIZES
    uses: tuple[str, ...] = ("pretraining",)
    seed: int = 0
    name: str | None = None
    version: str | None = None
    nproc: int = 1  # processes (torch.distributed DDP under torchrun when more than one)
    steps: int | None = None  # overrides the config's steps
    snapshot_every: int | None = None  # keep the weights every N steps (charter.training.snapshots)


def hyper(config: str) -> dict:
    if config in SIZES:
        return dict(SIZES[config])
    doc = load_document(Path(config))
    if not isinstance(doc, dict):
        raise InvalidInput("a training config must be a mapping", hint=f"keys: {', '.join(SIZES['tiny'])}", where=config)
    unknown = set(doc) - set(SIZES["tiny"])
    if unknown:
        raise InvalidInput(f"unknown config key {sorted(unknown)[0]!r}", hint=f"keys: {', '.join(SIZES['tiny'])}", where=config)
    return {**SIZES["tiny"], **doc}


def train(reg: Registry, cfg: TrainConfig, progress=None) -> dict:
    uses = reg.check_uses(cfg.uses if "pretraining" in cfg.uses else ("pretraining", *cfg.uses))
    data = reg.get(cfg.data)
    d = reg.can(data.id, uses)
    if not d.allowed:
        raise Denied(f"pretraining on {data.id} for {', '.join(uses)} is not permitted", decisions=[d])
    excluded = data_mod.tag_exclusions(reg, data, uses)
    if excluded:
        raise Denied(f"{sum(excluded.values())} records of {data.id} do not permit {', '.join(uses)}", exclusions=excluded,
                     hint=f"curate first: charter curate {data.id} --for {' '.join(uses)} --out DIR")
    h = hyper(cfg.config)
    if cfg.steps is not None:
        if cfg.steps < 1:
            raise UsageError(f"--steps must be at least 1, not {cfg.steps}", hint="pass --steps 1 or more")
        h["steps"] = cfg.steps
    if cfg.snapshot_every is not None and not 1 <= cfg.snapshot_every <= h["steps"]:
        raise UsageError(f"--snapshot-every must be between 1 and the run's {h['steps']} steps, not {cfg.snapshot_every}",
                         hint=f"e.g. --snapshot-every {max(1, h['steps'] // 4)} keeps {min(4, h['steps'])} snapshots")
    from charter.training.ddp import check_nproc

    check_nproc(cfg.nproc, h["batch_size"])
    config = {"kind": "train", "data": data.id, "data_hash": data.content_hash, "uses": list(uses), "seed": cfg.seed, **h}
    if cfg.nproc > 1:  # recorded (and hashed) for N processes only: a one-process run's config is what it always was
        from charter.training.ddp import check_devices

        check_devices(cfg.nproc)
        config["nproc"] = cfg.nproc
    if cfg.snapshot_every:  # recorded (and hashed) only when set: a run without snapshots keeps the hash it always had
        config["snapshot_every"] = cfg.snapshot_every
    run = RunFolder(Path(cfg.out), config).open()
    if cfg.nproc > 1:  # decided above, once, in this process: the workers only train
        from charter.training import ddp

        _split(run, data, h, cfg.seed)  # the tokenizer is trained here, once; the workers load it
        out = ddp.launch(run, {"kind": "train", "data": data.id, "hyper": h, "seed": cfg.seed, "assets": [data.to_json()],
                               "snapshot_every": cfg.snapshot_every},
                         cfg.nproc, h["steps"], h["batch_size"] * h["seq_len"], progress, "pretrain")
        start, metrics = out["resumed_from"], out["metrics"]
    else:
        start, metrics = train_loop(data, h, cfg.seed, run, progress, snapshot_every=cfg.snapshot_every)
    weights = Weights.register(run.path / "final").to_json()
    aid = make_id("model", cfg.name or slug(Path(cfg.out).resolve().name), cfg.version or run.hash[:12])
    result = {"model": aid, "metrics": metrics, "weights": weights, "config_hash": run.hash, "decision": d.to_json()}
    if cfg.snapshot_every:  # what `charter eval --sweep RUN` registers, each snapshot with its step, tokens and digest
        result["snapshots"] = snapshots.records(run.path)
    run.result(result)
    asset = Asset(id=aid, kind="model", name=aid.split("/", 1)[1].rsplit("@", 1)[0], version=aid.rsplit("@", 1)[1],
                  description=f"A {cfg.config} Llama pretrained from scratch on {data.id}", licenses=("derived",),
                  derived_from=(Edge(aid, data.id, "trained-on"),),
                  notes={"weights": weights, "declared_uses": list(uses), "run": {"folder": str(run.path.resolve()), "config": run.config,
                                                                                 "config_hash": run.hash, "metrics": metrics}})
    reg.add([asset])
    out = {"model": aid, "run": str(run.path), "metrics": metrics, "resumed_from_step": start}
    if cfg.snapshot_every:
        out["snapshots"] = [{"step": r["step"], "tokens": r["tokens"], "path": str(run.path / r["path"])} for r in result["snapshots"]]
    return out


def _split(run: RunFolder, data: Asset, h: dict, seed: int):
    """(train docs, held-out docs, tokenizer): the tokenizer trained on the training split, or the run's own when resuming."""
    docs = data_mod.texts(data)
    random.Random(seed).shuffle(docs)
    cut = max(1, int(len(docs) * (1 - HELD_OUT)))
    train_docs, held_docs = docs[:cut], docs[cut:] or docs[-1:]
    tok_dir = run.path / "tokenizer"
    if tok_dir.exists():  # resuming (or a worker of an N-process run): the same tokenizer as before
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast.from_pretrained(tok_dir)
    else:
        from charter.models.tiny import train_tokenizer

        tok = train_tokenizer(train_docs, h["vocab"])
        tok.save_pretrained(tok_dir)
    return train_docs, held_docs, tok


def train_loop(data: Asset, h: dict, seed: int, run: RunFolder, progress=None, dist=None,
               snapshot_every: int | None = None) -> tuple[int, dict]:
    """Train into ``run`` (already decided and opened): (the step it resumed from, the metrics).

    One process (``dist`` None), or one rank of ``charter.training.ddp``: each rank takes its share of every
    global batch and DDP averages the gradients; rank 0 alone writes metrics, checkpoints and ``final/``, and
    evaluates (the other ranks return empty metrics). With ``snapshot_every``, rank 0 also keeps the weights
    every that many steps (``charter.training.snapshots``)."""
    import torch

    from charter.models.tiny import llama
    from charter.training.ddp import Dist

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a small model's weights save in milliseconds: no bar per snapshot
    dist = dist or Dist()
    random.seed(seed)
    train_docs, held_docs, tok = _split(run, data, h, seed)
    train_blocks = data_mod.blocks(tok, train_docs, h["seq_len"])
    held_blocks = data_mod.blocks(tok, held_docs, h["seq_len"])
    dev = dist.dev()
    model = llama(tok, h["hidden"], h["layers"], h["heads"], h["intermediate"], h["seq_len"], seed).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=h["lr"], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=h["lr"], total_steps=h["steps"], pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    start = _resume(run, model, opt, sched, gen, trim=dist.main)
    if dist.main:
        snapshots.trim(run.path, start)  # past the checkpoint: written again, identically, as the run passes them
    net = dist.wrap(model)
    tick = progress.start("pretrain", h["steps"] * h["batch_size"] * h["seq_len"], "tok") if progress else (lambda n: None)
    tick(start * h["batch_size"] * h["seq_len"])
    t0, tokens = time.perf_counter(), 0
    model.train()
    for step in range(start, h["steps"]):
        idx = torch.randint(len(train_blocks), (h["batch_size"],), generator=gen)
        batch = train_blocks[dist.shard(idx)].to(dev)
        loss = net(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        n = batch.numel() * dist.world
        tokens += n
        value = dist.mean(loss.detach())
        if dist.main:
            run.log({"step": step + 1, "loss": round(value, 6), "tokens": n,
                     "tokens_per_s": round(tokens / (time.perf_counter() - t0), 1), "lr": sched.get_last_lr()[0]})
            tick(n)
            if snapshots.due(step + 1, snapshot_every):
                snapshots.write(run.path, step + 1, (step + 1) * h["batch_size"] * h["seq_len"], round(value, 6), model, tok)
            if (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < h["steps"]:
                run.save_checkpoint(lambda d: save_state(d, {"step": step + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                                             "scheduler": sched.state_dict(), "generator": gen.get_state()}))
    if not dist.main:
        return start, {}
    model.eval()
    ppl = _perplexity(model, held_blocks, dev)
    uni = _unigram_perplexity(train_blocks, held_blocks, len(tok))
    final = run.path / "final"
    model.save_pretrained(final)
    tok.save_pretrained(final)
    metrics = {"steps": h["steps"], "tokens": sum(r["tokens"] for r in run.metrics()), "tokens_per_s": round(tokens / (time.perf_counter() - t0), 1),
               "held_out_perplexity": round(ppl, 3), "unigram_perplexity": round(uni, 3), "beats_unigram": ppl < uni,
               "parameters": sum(p.numel() for p in model.parameters())}
    return start, metrics


def _resume(run: RunFolder, model, opt, sched, gen, trim: bool = True) -> int:
    state = load_state(run.checkpoint)  # safetensors + JSON: never a pickle
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    gen.set_state(state["generator"])
    if trim:  # rank 0 alone writes the metrics
        run.trim_metrics(state["step"])
    return int(state["step"])


def _perplexity(model, blocks, dev) -> float:
    import torch

    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(blocks), 32):
            b = blocks[i:i + 32].to(dev)
            total += float(model(input_ids=b, labels=b).loss) * b.numel()
            n += b.numel()
    return math.exp(total / n)


def _unigram_perplexity(train_blocks, held_blocks, vocab: int) -> float:
    counts = Counter(train_blocks.flatten().tolist())
    total = sum(counts.values()) + vocab
    # the model is scored on tokens 2..n of each block (it predicts from the first); so is the baseline
    held = held_blocks[:, 1:].flatten().tolist()
    nll = -sum(math.log((counts.get(t, 0) + 1) / total) for t in held) / len(held)
    return math.exp(nll)
