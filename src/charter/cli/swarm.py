"""charter swarm start | join | status | finish | keygen"""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import open_registry
from charter.cli.output import console, emit_json, escape


def register(sub, common) -> None:
    p = sub.add_parser("swarm", help="train together across volunteers' machines (hivemind), every contributor's terms carried into the model")
    s = p.add_subparsers(dest="swarm_command", metavar="ACTION", required=True)

    a = s.add_parser("start", parents=[common], help="decide, then start a run's coordinator and write RUN_DIR/join.json")
    which = a.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", metavar="MODEL", help="a registered model to adapt")
    which.add_argument("--config", metavar="tiny|small|FILE", help="train a new model of this size from scratch (uses gain pretraining)")
    a.add_argument("--method", choices=["lora", "full"], default="lora")
    a.add_argument("--data", required=True, metavar="DATASET")
    a.add_argument("--for", dest="uses", nargs="+", required=True, metavar="USE")
    a.add_argument("--out", required=True, type=Path, metavar="RUN_DIR")
    a.add_argument("--target-batch-size", type=int, default=16, help="samples the swarm accumulates per optimizer step")
    a.add_argument("--batch-size", type=int, default=4, help="samples per local step")
    a.add_argument("--seq-len", type=int, default=64)
    a.add_argument("--local-steps", type=int, default=0, help="0: average gradients every step; N: local updates, parameters averaged every N steps")
    a.add_argument("--max-steps", type=int, default=0, help="optimizer steps a volunteer trains (0: until finish)")
    a.add_argument("--lr", type=float, default=2e-4)
    a.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0", metavar="MULTIADDR", help="where the coordinator listens (default: loopback only)")
    a.add_argument("--allow-keys", type=Path, metavar="FILE", help="admit only these volunteer keys (one ed25519:... per line)")
    a.add_argument("--name", help="name of the trained model (default: RUN_DIR's name)")
    a.add_argument("--version", dest="asset_version", metavar="V")
    a.set_defaults(func=cmd_start)

    j = s.add_parser("join", parents=[common], help="check the run against your terms, then train on the records its uses permit")
    j.add_argument("join_file", type=Path, metavar="JOIN_FILE")
    j.add_argument("--terms", required=True, type=Path, metavar="TERMS_FILE", help="your compute charter (kind compute)")
    j.add_argument("--key", required=True, type=Path, metavar="KEY_FILE", help="your private key (charter swarm keygen)")
    j.add_argument("--name", help="a name for this machine in the run")
    j.add_argument("--out", type=Path, metavar="DIR", help="this volunteer's folder (default: swarm-<run id> here)")
    j.add_argument("--max-steps", type=int, default=0)
    j.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0", metavar="MULTIADDR")
    j.set_defaults(func=cmd_join)

    st = s.add_parser("status", parents=[common], help="peers, samples per contributor, epoch, the ledger verified")
    st.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    st.set_defaults(func=cmd_status)

    f = s.add_parser("finish", parents=[common], help="stop the run, save final/ and register the model with its contributors")
    f.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    f.add_argument("--abort", action="store_true", help="stop the run without saving or registering anything")
    f.set_defaults(func=cmd_finish)

    k = s.add_parser("keygen", parents=[common], help="make a volunteer key (private key file; prints the public key for your terms)")
    k.add_argument("path", type=Path, metavar="KEY_FILE")
    k.set_defaults(func=cmd_keygen)


def cmd_start(args) -> int:
    from charter.swarm.run import SwarmConfig, start

    reg = open_registry(args, create=False)
    cfg = SwarmConfig(args.base, args.data, tuple(args.uses), args.out, args.method, args.target_batch_size, args.batch_size, args.seq_len,
                      args.local_steps, args.max_steps, args.lr, args.listen, args.allow_keys, args.name, args.asset_version, args.config)
    join = start(reg, cfg)
    if args.json:
        emit_json({k: v for k, v in join.items() if k != "token"} | {"join_file": str(args.out / "join.json")})
    else:
        console.print(f"[green bold]started[/] swarm run {join['run_id']}: {join['base']['asset'] or 'a new ' + args.config + ' model'} on {join['data']['asset']} "
                      f"for {', '.join(join['uses'])}")
        console.print(f"  coordinator at {join['bootstrap'][0]}")
        console.print(f"  invitation: {escape(str(args.out / 'join.json'))} (holds the admission token: share it with volunteers only)")
    return 0


def cmd_join(args) -> int:
    import json

    from charter.swarm.run import join, read_join

    reg = open_registry(args, create=False)
    out = args.out or Path(f"swarm-{read_join(args.join_file)['run_id']}")
    st = join(reg, args.join_file, args.terms, args.key, out, args.name, args.max_steps, args.listen)
    if args.json:
        emit_json(st)
    else:
        sel = st.get("selection", {})
        console.print(f"[green bold]contributed[/] {st.get('samples', 0):,} samples in {st.get('steps', 0):,} steps "
                      f"(epoch {st.get('epoch')}); {sel.get('kept', 0):,} records permitted, excluded {json.dumps(sel.get('excluded', {}))}")
    return 0 if st.get("exit", 0) == 0 else 1


def cmd_status(args) -> int:
    from charter.swarm.run import status

    st = status(args.run_dir)
    if args.json:
        emit_json(st)
        return 0 if st["ledger"]["ok"] else 1
    alive = "running" if st["coordinator_alive"] else "[yellow]coordinator not running[/]"
    console.print(f"[bold]swarm run {st['run']}[/]: {alive}, epoch {st['epoch']} (averaging rounds), {st['samples_per_s']:,} samples/s")
    for key, c in st["contributors"].items():
        loss = f", loss {c['loss']:.3f}, {c['samples_per_s']:,} samples/s" if c.get("loss") is not None else ""
        console.print(f"  {escape(str(c['compute']))}: {c['samples']:,} samples, {c['steps']:,} steps{loss}"
                      f" {'[green]alive[/]' if c['alive'] else '[dim]gone[/]'}  [dim]{key[:20]}…[/]")
    for reason, n in st["refused_reports"].items():
        console.print(f"  [yellow]refused reports[/] {escape(reason)}: {n}")
    led = st["ledger"]
    if led["ok"]:
        console.print(f"  ledger: {led['entries']} entries, head {led['head']} (verified)")
    else:
        console.print(f"  [red bold]ledger does not verify[/]: {escape(led['problem'])}")
    return 0 if led["ok"] else 1


def cmd_finish(args) -> int:
    from charter.swarm.run import abort, finish

    if args.abort:
        abort(args.run_dir)
        if args.json:
            emit_json({"aborted": str(args.run_dir)})
        else:
            console.print(f"[yellow bold]aborted[/] {escape(str(args.run_dir))}: nothing saved or registered")
        return 0

    reg = open_registry(args, create=False)
    a = finish(reg, args.run_dir)
    if args.json:
        emit_json({"model": a.id, "contributors": a.notes["contributors"], "ledger": a.notes["swarm"]["ledger"], "weights": a.notes["weights"]})
    else:
        console.print(f"[green bold]finished[/] {a.id}: trained with " +
                      ", ".join(f"{c['compute']} ({c['samples']:,} samples)" for c in a.notes["contributors"]))
        console.print(f"  ledger head {a.notes['swarm']['ledger']['head']} ({a.notes['swarm']['ledger']['entries']} entries)")
    return 0


def cmd_keygen(args) -> int:
    from charter.swarm.ledger import generate_key

    public = generate_key(args.path)
    if args.json:
        emit_json({"key_file": str(args.path), "public_key": public})
    else:
        console.print(f"private key written to {escape(str(args.path))} (mode 0600; keep it)")
        console.print(f"public_key: {public}")
    return 0
