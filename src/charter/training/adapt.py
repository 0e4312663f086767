"""``charter adapt``: decide first, then LoRA (PEFT) or full fine-tuning, then register.

The decision comes before anything heavy is imported or loaded: the base model's lineage and
the data's lineage must both permit the declared uses, and so must every record's own tags
(curate first, with ``charter curate --for ...``, when some do not). Function creep — adapting
a general model into something its lineage forbids — is refused with the full chain (exit 3).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.ids import make_id, slug, valid_version
from charter.errors import Denied, InvalidInput, UsageError
from charter.models.loading import chain, load_registered, verify_registered, weights_of
from charter.models.weights import Weights
from charter.policy.decide import Decision
from charter.registry import Registry
from charter.training import data as data_mod
from charter.training import snapshots
from charter.core.runs import RunFolder
from charter.training.runs import load_state, save_state

METHODS = ("lora", "full")


@dataclass(frozen=True)
class AdaptConfig:
    base: str
    data: str
    uses: tuple[str, ...]
    out: Path
    method: str = "lora"
    steps: int = 20
    lr: float | None = None  # default: 2e-4 for LoRA, 5e-5 for full fine-tuning
    batch_size: int = 4
    seq_len: int = 128
    lora_r: int = 8
    lora_alpha: int = 16
    seed: int = 0
    checkpoint_every: int = 10
    name: str | None = None
    version: str | None = None
    nproc: int = 1  # processes (torch.distributed DDP under torchrun when more than one)
    heldout: str | None = None  # a dataset to measure held-out loss on, base vs adapted (not trained on)
    snapshot_every: int | None = None  # keep the weights (the adapter, with LoRA) every N steps (charter.training.snapshots)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (2e-4 if self.method == "lora" else 5e-5)


@dataclass
class Result:
    asset: Asset
    run: Path
    metrics: dict
    resumed_from: int = 0


def check(reg: Registry, cfg: AdaptConfig) -> tuple[Asset, Asset, list[Decision]]:
    """The decision, before any model is loaded. Raises Denied with every reason."""
    if cfg.method not in METHODS:
        raise UsageError(f"--method must be lora or full, not {cfg.method!r}", hint="pass --method lora|full")
    for name, v in (("--steps", cfg.steps), ("--batch-size", cfg.batch_size), ("--seq-len", cfg.seq_len)):
        if v < 1:
            raise UsageError(f"{name} must be at least 1", hint=f"pass {name} 1 or more")
    from charter.training.ddp import check_nproc

    check_nproc(cfg.nproc, cfg.batch_size)
    if cfg.snapshot_every is not None and not 1 <= cfg.snapshot_every <= cfg.steps:
        raise UsageError(f"--snapshot-every must be between 1 and the run's {cfg.steps} steps, not {cfg.snapshot_every}",
                         hint=f"e.g. --snapshot-every {max(1, cfg.steps // 4)} keeps {min(4, cfg.steps)} snapshots")
    if cfg.version is not None and not valid_version(cfg.version):
        raise UsageError(f"invalid --version {cfg.version!r}", hint="use letters, digits and . _ + -")
    uses = reg.check_uses(cfg.uses)
    base, data = reg.get(cfg.base), reg.get(cfg.data)
    if base.kind != "model":
        raise InvalidInput(f"{base.id} is not a model", hint="BASE must be a registered model", field="BASE")
    if data.kind != "dataset" or not data.data:
        raise InvalidInput(f"{data.id} is not a dataset with data files", hint="--data must be a registered dataset with data: [files]", field="--data")
    decisions = [reg.can(base.id, uses), reg.can(data.id, uses)]
    if cfg.heldout is not None:  # measuring on it is an evaluation, for the adaptation's purposes and contexts
        held = reg.get(cfg.heldout)
        if held.kind != "dataset" or not held.data:
            raise InvalidInput(f"{held.id} is not a dataset with data files", hint="--heldout must be a registered dataset with data: [files]", field="--heldout")
        if held.id == data.id:
            raise InvalidInput("--heldout is the training data", hint="hold out a dataset the adaptation does not train on", field="--heldout")
        tax = reg.taxonomy
        decisions.append(reg.can(held.id, ("evaluation", *(u for u in uses if tax.facet[u] != tax.facet["evaluation"]))))
    denied = [d for d in decisions if not d.allowed]
    if denied:
        raise Denied(f"adapting {base.id} on {data.id} for {', '.join(uses)} is not permitted", decisions=denied,
                     hint="choose uses the lineage permits (`charter show` lists its restrictions)")
    verify_registered(reg.get, base)  # swapped weights are refused before any run folder is made
    excluded = data_mod.tag_exclusions(reg, data, uses)  # verifies the data files too
    if excluded:
        n = sum(excluded.values())
        raise Denied(f"{n} records of {data.id} do not permit {', '.join(uses)} (their own tags or withdrawn owners)",
                     exclusions=excluded, hint=f"curate first: charter curate {data.id} --for {' '.join(uses)} --out DIR")
    return base, data, decisions


def adapt(reg: Registry, cfg: AdaptConfig, progress=None) -> Result:
    base, data, decisions = check(reg, cfg)
    uses = reg.check_uses(cfg.uses)
    base_w = weights_of(base)
    config = {
        "kind": "adapt", **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k not in ("out", "name", "version", "nproc", "heldout", "snapshot_every")},
        "uses": list(uses), "base": base.id, "data": data.id, "base_sha256": base_w.sha256, "data_hash": data.content_hash,
        "learning_rate": cfg.learning_rate,
    }
    if cfg.nproc > 1:  # recorded (and hashed) for N processes only: a one-process run's config is what it always was
        from charter.training.ddp import check_devices

        check_devices(cfg.nproc)
        config["nproc"] = cfg.nproc
    if cfg.snapshot_every:  # recorded (and hashed) only when set: a run without snapshots keeps the hash it always had
        config["snapshot_every"] = cfg.snapshot_every
    run = RunFolder(Path(cfg.out), config).open()
    if cfg.nproc > 1:  # decided above, once, in this process: the workers only train
        from charter.training import ddp

        spec = {"kind": "adapt", "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
                "assets": [a.to_json() for a in (*chain(reg.get, base), data)]}
        start = ddp.launch(run, spec, cfg.nproc, cfg.steps, cfg.batch_size * cfg.seq_len, progress, "adapt")["resumed_from"]
    else:
        start = train_loop(reg.get, cfg, base, data, run, progress)
    final = run.path / "final"
    metrics = _summary(run.metrics())
    if cfg.method == "lora":  # the base folder under the adapter chain, and the adapter this one was trained over
        weights = Weights.register(final, "peft-lora", base_path=base_w.base_path if base_w.is_adapter else base_w.path,
                                   base_adapter=base_w.path if base_w.is_adapter else None).to_json()
    else:
        weights = Weights.register(final).to_json()
    name = cfg.name or slug(Path(cfg.out).resolve().name)
    aid = make_id("model", name, cfg.version or run.hash[:12])
    relation = "adapter-of" if cfg.method == "lora" else "fine-tuned-from"
    asset = Asset(
        id=aid, kind="model", name=aid.split("/", 1)[1].rsplit("@", 1)[0], version=aid.rsplit("@", 1)[1],
        description=f"{base.id} adapted ({cfg.method}) on {data.id} for {', '.join(uses)}",
        licenses=("derived",),
        derived_from=(Edge(aid, base.id, relation), Edge(aid, data.id, "trained-on")),
        notes={"weights": weights, "declared_uses": list(uses),
               "run": {"folder": str(run.path.resolve()), "config": run.config, "config_hash": run.hash, "metrics": metrics}},
    )
    if cfg.heldout is not None:  # measured after registration: the adapted model loads as any registered model does
        metrics = {**metrics, "heldout": _heldout(reg, cfg, base, asset)}
        asset = replace(asset, notes={**asset.notes, "run": {**asset.notes["run"], "metrics": metrics}})
    result = {"model": aid, "metrics": metrics, "weights": weights, "config_hash": run.hash, "decisions": [d.to_json() for d in decisions]}
    if cfg.snapshot_every:  # what `charter eval --sweep RUN` registers, each snapshot with its step, tokens and digest
        result["snapshots"] = snapshots.records(run.path)
    run.result(result)
    reg.add([asset])
    return Result(asset, run.path, metrics, resumed_from=start)


def _heldout(reg: Registry, cfg: AdaptConfig, base: Asset, adapted: Asset) -> dict:
    from charter.training.heldout import loss

    held = reg.get(cfg.heldout)
    texts = data_mod.texts(held)
    get = lambda ref: adapted if ref == adapted.id else reg.get(ref)  # noqa: E731 - the adapted model is not registered yet
    b = loss(reg.get, base, texts, cfg.seq_len)
    a = loss(get, adapted, texts, cfg.seq_len)
    return {"dataset": held.id, "base_loss": b["loss"], "adapted_loss": a["loss"], "blocks": b["blocks"], "tokens": b["tokens"]}


def train_loop(get, cfg: AdaptConfig, base: Asset, data: Asset, run: RunFolder, progress=None, dist=None) -> int:
    """Load, train and save into ``run`` (already decided and opened); the step it resumed from.

    One process (``dist`` None), or one rank of ``charter.training.ddp``: each rank takes its share of every
    global batch and DDP averages the gradients; rank 0 alone writes metrics, checkpoints and ``final/``."""
    import torch

    from charter.training.ddp import Dist

    dist = dist or Dist()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    dev = dist.dev()
    base_w = weights_of(base)
    model, tok = load_registered(get, base)
    if base_w.is_adapter:
        model = model.merge_and_unload()  # adapting an adapted model: start from its merged weights
        model.requires_grad_(True)  # peft froze them; full fine-tuning trains them all (LoRA freezes them again)
    if cfg.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"))
    model.to(dev)
    blocks = data_mod.blocks(tok, data_mod.texts(data), cfg.seq_len)
    trainable = _trainable(model)
    opt = torch.optim.AdamW([p for _, p in trainable], lr=cfg.learning_rate)
    start = _resume(run, model, opt, cfg, trim=dist.main)
    if dist.main:
        snapshots.trim(run.path, start)  # past the checkpoint: written again as the run passes them
    order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(cfg.seed))
    net = dist.wrap(model)
    model.train()
    tick = progress.start("adapt", cfg.steps * cfg.batch_size * cfg.seq_len, "tok") if progress else (lambda n: None)
    tick(start * cfg.batch_size * cfg.seq_len)
    t0, tokens = time.perf_counter(), 0
    for step in range(start, cfg.steps):
        idx = order[[(step * cfg.batch_size + i) % len(blocks) for i in range(cfg.batch_size)]]
        batch = blocks[dist.shard(idx)].to(dev)
        loss = net(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        n = batch.numel() * dist.world
        tokens += n
        value = dist.mean(loss.detach())
        if dist.main:
            elapsed = time.perf_counter() - t0
            run.log({"step": step + 1, "loss": round(value, 6), "tokens": n, "tokens_per_s": round(tokens / elapsed, 1), "lr": cfg.learning_rate})
            tick(n)
            if snapshots.due(step + 1, cfg.snapshot_every):  # LoRA: the adapter, as final/ holds it; full: the model and tokenizer
                snapshots.write(run.path, step + 1, (step + 1) * cfg.batch_size * cfg.seq_len, round(value, 6), model,
                                tok if cfg.method == "full" else None)
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                run.save_checkpoint(lambda d: _checkpoint(d, trainable, opt, step + 1))
    if dist.main:
        run.close()
        final = run.path / "final"
        model.save_pretrained(final)
        if cfg.method == "full":
            tok.save_pretrained(final)
    return start


def _trainable(model) -> list[tuple[str, object]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _checkpoint(folder: Path, trainable, opt, step: int) -> None:
    """The trainable weights, the optimizer state and the RNG, as one flat tensor per dtype and
    device: one device-to-host copy and one record to write, not one per tensor (a LoRA run
    holds ~700 small tensors; one each cost ~80 ms per checkpoint on a GPU, ~45 ms on a CPU)."""
    import torch

    tensors = [p for _, p in trainable]
    opt_state = opt.state_dict()
    skeleton = {}
    for i, entry in opt_state["state"].items():
        skeleton[i] = {}
        for k, v in entry.items():
            if torch.is_tensor(v):
                skeleton[i][k] = ("tensor", len(tensors))
                tensors.append(v)
            else:
                skeleton[i][k] = ("value", v)
    flat, layout = _pack(tensors)
    save_state(folder, {"step": step, "names": [n for n, _ in trainable], "flat": flat, "layout": layout,
                        "optimizer": {"state": skeleton, "param_groups": opt_state["param_groups"]}, "rng": torch.get_rng_state()})


def _pack(tensors) -> tuple[dict, list]:
    import torch

    groups: dict[str, list] = {}
    layout = []
    for t in tensors:
        key = f"{t.dtype}@{t.device}"
        groups.setdefault(key, []).append(t.detach().reshape(-1))
        layout.append((key, list(t.shape)))
    return {k: torch.cat(v).cpu() for k, v in groups.items()}, layout


def _unpack(flat: dict, layout: list) -> list:
    offsets = dict.fromkeys(flat, 0)
    out = []
    for key, shape in layout:
        n = math.prod(shape)
        out.append(flat[key][offsets[key]:offsets[key] + n].view(shape).clone())
        offsets[key] += n
    return out


def _resume(run: RunFolder, model, opt, cfg: AdaptConfig, trim: bool = True) -> int:
    import torch

    state = load_state(run.checkpoint)  # safetensors + JSON: never a pickle
    if state is None:
        return 0
    tensors = _unpack(state["flat"], state["layout"])
    model.load_state_dict(dict(zip(state["names"], tensors)), strict=False)
    opt.load_state_dict({"param_groups": state["optimizer"]["param_groups"],
                         "state": {i: {k: tensors[x] if kind == "tensor" else x for k, (kind, x) in entry.items()}
                                   for i, entry in state["optimizer"]["state"].items()}})
    torch.set_rng_state(state["rng"])
    if trim:  # rank 0 alone writes the metrics
        run.trim_metrics(state["step"])
    return int(state["step"])


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {}
    return {"steps": rows[-1]["step"], "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"],
            "tokens": sum(r["tokens"] for r in rows), "tokens_per_s": rows[-1]["tokens_per_s"]}


def as_json(r: Result) -> dict:
    out = {"model": r.asset.id, "run": str(r.run), "metrics": r.metrics, "resumed_from_step": r.resumed_from,
           "weights": r.asset.notes["weights"]}
    kept = snapshots.records(r.run) if r.asset.notes["run"]["config"].get("snapshot_every") else []
    if kept:
        out["snapshots"] = [{"step": x["step"], "tokens": x["tokens"], "path": str(Path(r.run) / x["path"])} for x in kept]
    return out


__all__ = ["AdaptConfig", "Result", "adapt", "check", "as_json", "json", "train_loop"]
