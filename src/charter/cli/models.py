"""charter model add | adapt | generate"""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import EXIT_DENIED, open_registry
from charter.cli.output import console, emit_json, err_console, progress_bars, escape


NPROC_HELP = ("processes: more than 1 trains with torch.distributed DDP under torchrun on this machine "
              "(gloo on CPU, nccl with CUDA), each taking an equal share of every batch (default 1)")


def register(sub, common) -> None:
    p = sub.add_parser("model", help="register model weights")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    a = msub.add_parser("add", parents=[common], help="register `smollm2` (the shipped SmolLM2-135M-Instruct and its lineage) or a local HF model folder")
    a.add_argument("what", metavar="smollm2|FOLDER|HUB_ID")
    a.add_argument("--id", dest="asset_id", metavar="model/name@version", help="id for a folder's model")
    a.add_argument("--license", action="append", default=[], help="licence of a folder's model (repeatable)")
    a.set_defaults(func=cmd_model_add)

    p = sub.add_parser("adapt", parents=[common], help="fine-tune BASE on --data for USE... (refused before any compute if not permitted)")
    p.add_argument("base", metavar="BASE")
    p.add_argument("--data", required=True, metavar="DATASET")
    p.add_argument("--for", dest="uses", nargs="+", required=True, metavar="USE")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="run folder (resumes an interrupted run with the same config)")
    p.add_argument("--method", choices=["lora", "full"], default="lora")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, help="learning rate (default 2e-4 LoRA, 5e-5 full)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--name", help="name of the adapted model (default: the --out folder's name)")
    p.add_argument("--version", dest="asset_version", metavar="V", help="its version (default: the run's config hash)")
    p.add_argument("--nproc", type=int, default=1, metavar="N", help=NPROC_HELP)
    p.add_argument("--heldout", metavar="DATASET", help="after training, measure base and adapted held-out loss on DATASET (decided as an evaluation)")
    p.add_argument("--snapshot-every", type=int, metavar="N",
                   help="keep the weights (with LoRA, the adapter) every N steps in RUN/snapshots/, for `charter eval --sweep RUN`")
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("generate", parents=[common], help="run MODEL on PROMPT for USE... (gated like everything else)")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--for", dest="uses", nargs="+", required=True, metavar="USE")
    p.add_argument("prompt", metavar="PROMPT", nargs="?")
    p.add_argument("--max-tokens", type=int, default=48)
    p.set_defaults(func=cmd_generate)
    register_train(sub, common)


def cmd_model_add(args) -> int:
    from charter.models.registry import add_folder, add_smollm2

    reg = open_registry(args)
    if args.what == "smollm2":
        added = add_smollm2(reg, progress=lambda m: err_console.print(f"[dim]{m}[/]"))
        ids = [a.id for a in added]
    else:
        if not args.asset_id:
            from charter.errors import UsageError

            raise UsageError("--id is required for a model folder", hint="pass --id model/name@version")
        from charter.models.registry import fetch

        known = reg.store.get(args.asset_id) is not None  # then identical (add_folder refuses other content): unchanged
        a = add_folder(reg, fetch(args.what), args.asset_id, tuple(args.license))
        ids = [] if known else [a.id]
    if args.json:
        emit_json({"added": ids})
    else:
        for i in ids:
            console.print(f"[green]registered[/] {i}")
        if not ids:
            console.print("already registered")
    return 0


def cmd_adapt(args) -> int:
    from charter.training.adapt import AdaptConfig, adapt, as_json

    reg = open_registry(args, create=False)
    cfg = AdaptConfig(args.base, args.data, tuple(args.uses), args.out, args.method, args.steps, args.lr, args.batch_size,
                      args.seq_len, name=args.name, version=args.asset_version, nproc=args.nproc, heldout=args.heldout,
                      snapshot_every=args.snapshot_every)
    with progress_bars(quiet=args.json) as bars:
        r = adapt(reg, cfg, bars)
    if args.json:
        emit_json(as_json(r))
    else:
        m = r.metrics
        resumed = f" (resumed at step {r.resumed_from})" if r.resumed_from else ""
        console.print(f"[green bold]adapted[/] {r.asset.id}{resumed}: {m['steps']} steps, loss {m['first_loss']:.3f} -> {m['last_loss']:.3f}, "
                      f"{m['tokens_per_s']:,.0f} tokens/s; run folder {r.run}")
        from charter.training.snapshots import records

        kept = records(r.run)
        if kept:
            console.print(f"  {len(kept)} snapshots kept (steps {', '.join(str(x['step']) for x in kept)}) in {r.run / 'snapshots'}; "
                          f"evaluate them with: charter eval --sweep {r.run} --bench NAME")
        h = m.get("heldout")
        if h:
            console.print(f"  held-out loss on {h['dataset']} ({h['blocks']} blocks, {h['tokens']:,} tokens): "
                          f"base {h['base_loss']:.3f} -> adapted {h['adapted_loss']:.3f} nats/token ({h['adapted_loss'] - h['base_loss']:+.3f})")
    return 0


def cmd_generate(args) -> int:
    if args.prompt is None:  # `--for USE... PROMPT`: argparse gives the prompt to --for
        if len(args.uses) < 2:
            from charter.errors import UsageError

            raise UsageError("no prompt given", hint='write charter generate MODEL --for USE... "PROMPT"')
        args.prompt = args.uses.pop()
    reg = open_registry(args, create=False)
    d = reg.can(args.model, args.uses)
    if not d.allowed:
        from charter.cli.decisions import print_decision

        if args.json:
            emit_json({"model": d.asset, "allowed": False, "decision": d.to_json(), "text": None})
        else:
            print_decision(d)
        return EXIT_DENIED
    from charter.models.hf import HFModel
    from charter.models.loading import load_registered

    model, tok = load_registered(reg.get, reg.get(d.asset))
    text = HFModel(model, tok, d.asset).generate([args.prompt], args.max_tokens)[0]
    if args.json:
        emit_json({"model": d.asset, "allowed": True, "decision": d.to_json(), "text": text})
    else:
        console.print(escape(text))
    return 0


def register_train(sub, common) -> None:
    p = sub.add_parser("train", parents=[common], help="pretrain a small causal LM from scratch on DATASET (refused if not permitted)")
    p.add_argument("--data", required=True, metavar="DATASET")
    p.add_argument("--config", default="tiny", metavar="tiny|small|FILE")
    p.add_argument("--steps", type=int, metavar="N", help="training steps (default: the config's)")
    p.add_argument("--snapshot-every", type=int, metavar="N",
                   help="keep the weights every N steps in RUN/snapshots/ (safetensors, with the step and training tokens), "
                        "for `charter eval --sweep RUN`")
    p.add_argument("--for", dest="uses", nargs="+", default=["pretraining"], metavar="USE", help="declared uses (pretraining is implied)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--name")
    p.add_argument("--version", dest="asset_version", metavar="V")
    p.add_argument("--nproc", type=int, default=1, metavar="N", help=NPROC_HELP)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from charter.training.pretrain import TrainConfig, train

    reg = open_registry(args, create=False)
    with progress_bars(quiet=args.json) as bars:
        out = train(reg, TrainConfig(args.data, args.out, args.config, tuple(args.uses), name=args.name, version=args.asset_version,
                                         nproc=args.nproc, steps=args.steps, snapshot_every=args.snapshot_every), bars)
    if args.json:
        emit_json(out)
    else:
        m = out["metrics"]
        verdict = "beats" if m["beats_unigram"] else "does NOT beat"
        console.print(f"[green bold]trained[/] {out['model']}: held-out perplexity {m['held_out_perplexity']:.2f} {verdict} "
                      f"the unigram baseline {m['unigram_perplexity']:.2f}; {m['parameters']:,} parameters, {m['tokens_per_s']:,.0f} tokens/s")
        if out.get("snapshots"):
            console.print(f"  {len(out['snapshots'])} snapshots kept (steps {', '.join(str(s['step']) for s in out['snapshots'])}) in "
                          f"{Path(out['run']) / 'snapshots'}; evaluate them with: charter eval --sweep {out['run']} --bench NAME")
    return 0
