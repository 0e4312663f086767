"""``charter swarm start|join|status|finish``: a volunteer training run with every party's terms checked.

    RUN_DIR/join.json     what a volunteer needs (run id, uses, data and base hashes, bootstrap addresses,
                          the admission token: the file is the invitation, keep it among volunteers)
    RUN_DIR/run.json      the run's config and the start decisions
    RUN_DIR/ledger.jsonl  volunteers' signed reports, hash-chained (charter.swarm.ledger)
    RUN_DIR/status.json   the coordinator's view, every second: epoch, contributors, ledger head
    RUN_DIR/final/        the averaged weights after ``finish``; the model is registered from them

The start decides the base model's and the data's lineage for the declared uses before any compute
(exit 3). A volunteer's join decides the run's uses against the volunteer's own terms (a ``compute``
charter) before connecting (exit 3), verifies the base weights and the data against the join file's
hashes, and trains only on the records the uses permit (their tags and withdrawn owners: curate's predicate).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.ids import make_id, slug
from charter.errors import Denied, InvalidInput, UsageError
from charter.registry import Registry
from charter.swarm.peer import PeerConfig

JOIN_VERSION = 1


@dataclass(frozen=True)
class SwarmConfig:
    base: str | None  # a registered model to adapt, or None with ``config``: a model trained from scratch
    data: str
    uses: tuple[str, ...]
    out: Path
    method: str = "lora"
    target_batch_size: int = 16
    batch_size: int = 4
    seq_len: int = 64
    local_steps: int = 0
    max_steps: int = 0
    lr: float = 2e-4
    listen: str = "/ip4/127.0.0.1/tcp/0"
    allow_keys: Path | None = None
    name: str | None = None
    version: str | None = None
    config: str | None = None  # tiny | small | FILE (charter.training.pretrain.hyper): a new model, no base


def _key_file(folder: Path) -> Path:
    from charter.swarm.ledger import generate_key

    path = folder / "coordinator.key"
    if not path.exists():
        generate_key(path)
    return path


def _allow_keys(path: Path | None) -> tuple[str, ...] | None:
    if path is None:
        return None
    from charter.swarm.ledger import parse_public_key

    keys = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                parse_public_key(line)
            except InvalidInput as e:
                raise InvalidInput(f"not a volunteer key: {e.message}", hint="one `ed25519:<base64>` key per line", where=f"{path}:{n}") from None
            keys.append(line)
    return tuple(keys)


def start(reg: Registry, cfg: SwarmConfig, wait: float = 120.0) -> dict:
    """Decide, write the run folder, start the coordinator (detached, supervised); returns join.json's content."""
    from charter.core.runs import RunFolder
    from charter.models.loading import weights_of

    if cfg.method not in ("lora", "full"):
        raise UsageError(f"--method must be lora or full, not {cfg.method!r}", hint="pass --method lora|full")
    if (cfg.base is None) == (cfg.config is None):
        raise UsageError("pass exactly one of --base MODEL (adapt it) and --config tiny|small|FILE (train a new model)",
                         hint="charter swarm start --base MODEL ... or --config tiny ...")
    if cfg.config is not None:  # a new model trains all its weights, and training from scratch is pretraining (as `charter train`)
        cfg = replace(cfg, method="full", uses=cfg.uses if "pretraining" in cfg.uses else ("pretraining", *cfg.uses))
    for name, v in (("--target-batch-size", cfg.target_batch_size), ("--batch-size", cfg.batch_size), ("--seq-len", cfg.seq_len)):
        if v < 1:
            raise UsageError(f"{name} must be at least 1", hint=f"pass {name} 1 or more")
    out = Path(cfg.out)
    folder = RunFolder(out, {"kind": "swarm", **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k != "out"}})
    if folder.claim():  # a swarm run is not resumed: a new start is a new run (new id, new token)
        raise UsageError(f"{out} already holds a swarm run", hint="pass a new --out folder (or `charter swarm finish` this one)")
    base, data, decisions = _check_start(reg, cfg)
    folder.stake()
    if base is not None:
        w = weights_of(base)
        if w.is_adapter:
            raise InvalidInput(f"{base.id} is a {w.format} adapter; a swarm run starts from plain weights",
                               hint="merge the adapter into a model first, or start from its base", field="--base")
    else:  # every volunteer starts from these weights: the tokenizer is trained on the records the uses permit
        w = _initial_model(reg, cfg, data, reg.check_uses(cfg.uses), out)
    run_id = f"charter-{secrets.token_hex(6)}"
    token = secrets.token_urlsafe(32)
    token_file = out / "token"
    token_file.write_text(token)
    os.chmod(token_file, 0o600)
    key_file = _key_file(out)
    from charter.swarm.ledger import load_key, public_key_string

    coordinator_pub = public_key_string(load_key(key_file))
    allow = _allow_keys(cfg.allow_keys)
    if allow is not None:  # the coordinator downloads the final state from the volunteers: it is admitted too
        allow = tuple(sorted(set(allow) | {coordinator_pub}))
    uses = reg.check_uses(cfg.uses)
    peer = PeerConfig(role="coordinator", run_id=run_id, folder=str(out.resolve()), base=w.path, method=cfg.method,
                      token_file=str(token_file.resolve()), key_file=str(key_file.resolve()), listen=cfg.listen,
                      allow_keys=allow, target_batch_size=cfg.target_batch_size, batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                      lr=cfg.lr, local_steps=cfg.local_steps, max_steps=cfg.max_steps)
    (out / "peer.json").write_text(json.dumps(asdict(peer), indent=1))
    run = {"run_id": run_id, "base": base.id if base else None, "data": data.id, "uses": list(uses), "method": cfg.method, "config_hash": folder.hash,
           "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
           "decisions": [d.to_json() for d in decisions], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "run.json").write_text(json.dumps(run, indent=1))
    p = subprocess.Popen([sys.executable, "-m", "charter.swarm.supervise", str(out / "peer.json"), str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    (out / "supervisor.pid").write_text(str(p.pid))
    maddrs = _wait_for_status(out, p, wait)["maddrs"]
    join = {"charter_swarm": JOIN_VERSION, "run_id": run_id, "uses": list(uses), "method": cfg.method,
            "data": {"asset": data.id, "hash": data.content_hash, "digests": data.data.get("digests") or []},
            "base": {"asset": base.id, "sha256": w.sha256} if base else {"asset": None, "path": w.path, "sha256": w.sha256, "config": cfg.config},
            "bootstrap": maddrs, "token": token, "coordinator_key": coordinator_pub, "allow_keys": list(allow) if allow is not None else None,
            "training": {k: getattr(cfg, k) for k in ("target_batch_size", "batch_size", "seq_len", "local_steps", "lr", "max_steps")}}
    (out / "join.json").write_text(json.dumps(join, indent=1))
    os.chmod(out / "join.json", 0o600)
    return join


def _check_start(reg: Registry, cfg: SwarmConfig):
    """The base's and the data's lineage for the uses (Denied with every reason), the base weights verified.
    Unlike ``adapt``, records whose own tags forbid the uses do not stop the run: each volunteer leaves them out."""
    base, data = (reg.get(cfg.base) if cfg.base else None), reg.get(cfg.data)
    if base is not None and base.kind != "model":
        raise InvalidInput(f"{base.id} is not a model", hint="--base must be a registered model", field="--base")
    if data.kind != "dataset" or not data.data:
        raise InvalidInput(f"{data.id} is not a dataset with data files", hint="--data must be a registered dataset with data: [files]", field="--data")
    uses = reg.check_uses(cfg.uses)
    decisions = ([reg.can(base.id, uses)] if base else []) + [reg.can(data.id, uses)]
    denied = [d for d in decisions if not d.allowed]
    if denied:
        what = base.id if base else f"a new {cfg.config} model"
        raise Denied(f"a swarm run of {what} on {data.id} for {', '.join(uses)} is not permitted", decisions=denied,
                     hint="choose uses the lineage permits (`charter show` lists its restrictions)")
    from charter.core.digests import verify_data
    from charter.models.loading import verify_registered

    if base is not None:
        verify_registered(reg.get, base)
    verify_data(data)
    return base, data, decisions


def _initial_model(reg: Registry, cfg: SwarmConfig, data: Asset, uses: tuple[str, ...], out: Path):
    """RUN_DIR/init: a BPE tokenizer trained on the permitted records and a Llama of ``cfg.config``'s size
    (seeded), with its registration digest, which the join file carries."""
    from charter.models.tiny import llama, train_tokenizer
    from charter.models.weights import Weights
    from charter.training.pretrain import hyper

    h = hyper(cfg.config)
    sel = select_texts(reg, data, uses, out / "init-texts.jsonl")
    if not sel["kept"]:
        raise Denied(f"no record of {data.id} permits {', '.join(uses)}", exclusions=sel["excluded"])
    texts = [json.loads(x)["text"] for x in (out / "init-texts.jsonl").read_text().splitlines()]
    (out / "init-texts.jsonl").unlink()
    tok = train_tokenizer(texts, h["vocab"])
    model = llama(tok, h["hidden"], h["layers"], h["heads"], h["intermediate"], max(h["seq_len"], cfg.seq_len))
    model.save_pretrained(out / "init")
    tok.save_pretrained(out / "init")
    return Weights.register(out / "init")


def _wait_for_status(folder: Path, p, wait: float) -> dict:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        err = folder / "error.json"
        if err.exists():
            raise InvalidInput(f"the swarm peer failed: {json.loads(err.read_text())['error']}", hint=f"see {folder / 'peer.log'}", where=str(folder))
        st = folder / "status.json"
        if st.exists():
            d = json.loads(st.read_text())
            if d.get("maddrs"):
                return d
        if p.poll() is not None:
            raise InvalidInput(f"the swarm peer exited with code {p.returncode} before it started", hint=f"see {folder / 'peer.log'}", where=str(folder))
        time.sleep(0.2)
    raise InvalidInput(f"the swarm peer did not start within {wait:g} s", hint=f"see {folder / 'peer.log'}", where=str(folder))


# --- join ------------------------------------------------------------------------------------------

def read_join(path: Path) -> dict:
    """join.json, checked field by field: it comes from someone else's machine."""
    from charter.core.files import load_document

    d = load_document(Path(path))
    where = str(path)

    def need(key, typ, what):
        v = d.get(key) if isinstance(d, dict) else None
        if not isinstance(v, typ) or isinstance(v, bool):
            raise InvalidInput(f"join file field {key!r} must be {what}", hint="use the join.json that `charter swarm start` wrote", where=where, field=key)
        return v

    if need("charter_swarm", int, "an integer") != JOIN_VERSION:
        raise InvalidInput(f"join file version {d['charter_swarm']} is not {JOIN_VERSION}", hint="upgrade charter", where=where, field="charter_swarm")
    need("run_id", str, "a string"), need("token", str, "a string"), need("method", str, "lora or full")
    from charter.swarm.ledger import parse_public_key

    try:
        parse_public_key(need("coordinator_key", str, "the coordinator's public key"), field="coordinator_key", where=where)
    except InvalidInput as e:
        raise InvalidInput(e.message, hint="use the join.json that `charter swarm start` wrote", where=where, field="coordinator_key") from None
    for key in ("uses", "bootstrap"):
        if not all(isinstance(x, str) for x in need(key, list, "a list of strings")):
            raise InvalidInput(f"join file field {key!r} must be a list of strings", hint="use the join.json that `charter swarm start` wrote", where=where, field=key)
    for key, sub in (("data", ("asset", "hash")), ("base", ("sha256",) + (("asset",) if (d.get("base") or {}).get("asset") is not None else ("path",)))):
        v = need(key, dict, "a mapping")
        for s in sub:
            if not isinstance(v.get(s), str):
                raise InvalidInput(f"join file field {key}.{s} must be a string", hint="use the join.json that `charter swarm start` wrote", where=where, field=f"{key}.{s}")
    need("training", dict, "a mapping")
    return d


def select_texts(reg: Registry, data: Asset, uses: tuple[str, ...], out: Path) -> dict:
    """Write the texts of the records that permit ``uses`` to ``out`` (JSON Lines); {kept, excluded: {reason: n}}."""
    import duckdb

    from charter.data.predicate import compile_predicate
    from charter.data.source import FORMATS, Shard, check_tags, fields_of, files_of, open_shard

    con = duckdb.connect()
    pred = compile_predicate(uses, reg.taxonomy, sorted(reg.store.owner_withdrawals()))
    kept, excluded = 0, {}
    with open(out, "w") as f:
        for path in files_of(data):
            shard = open_shard(con, Shard(data.id, Path(path), FORMATS[Path(path).suffix]), fields_of(data))
            check_tags(con, shard, reg.taxonomy)
            for text, reason in con.execute(f"SELECT text, {pred.reason()} FROM {shard.view} ORDER BY source_row").fetchall():
                if reason is not None:
                    excluded[reason] = excluded.get(reason, 0) + 1
                elif text:
                    f.write(json.dumps({"text": text}) + "\n")
                    kept += 1
    return {"kept": kept, "excluded": excluded}


def join(reg: Registry, join_file: Path, terms_file: Path, key_file: Path, out: Path, name: str | None = None,
         max_steps: int = 0, listen: str = "/ip4/127.0.0.1/tcp/0", supervise: bool = True) -> dict:
    """Decide the run against the volunteer's terms, verify, select records; then train (foreground,
    supervised) until the run stops or ``max_steps`` optimizer epochs. Returns the volunteer's status."""
    from charter.core.digests import verify_data
    from charter.core.runs import RunFolder
    from charter.swarm import ledger
    from charter.models.loading import verify_registered, weights_of

    j = read_join(join_file)
    assets, _ = reg.load_files([Path(terms_file)])
    compute = next((a for a in assets if a.kind == "compute"), None)
    if compute is None or len(assets) != 1:
        raise InvalidInput("the terms file must hold exactly one compute charter", hint="write `id: compute/NAME@1` with its uses and public_key", where=str(terms_file))
    uses = reg.check_uses(j["uses"])
    decision = _decide_terms(reg, compute, uses)
    if not decision.allowed:
        raise Denied(f"{compute.id}'s terms do not permit this run's uses ({', '.join(uses)})", decisions=[decision],
                     hint="join runs whose declared uses your terms allow (the join file's `uses`)")
    key = ledger.load_key(Path(key_file))
    if ledger.public_key_string(key) != compute.public_key:
        raise InvalidInput(f"--key is not the key named in {compute.id}'s terms", hint="pass the private key whose public key the terms file gives",
                           where=str(key_file))
    if j["allow_keys"] is not None and ledger.public_key_string(key) not in j["allow_keys"]:
        raise Denied(f"this run admits only listed volunteer keys, and {compute.id}'s is not among them", hint="ask the run's owner to add your key")
    data = reg.get(j["data"]["asset"])
    if j["base"].get("asset") is not None:
        base = reg.get(j["base"]["asset"])
        if weights_of(base).sha256 != j["base"]["sha256"]:
            raise InvalidInput(f"{base.id}'s weights here ({weights_of(base).sha256}) are not the run's ({j['base']['sha256']})",
                               hint="register the run's base weights", field="base.sha256", where=str(join_file))
        verify_registered(reg.get, base)
        base_path = weights_of(base).path
    else:  # a new model: the run's initial weights, checked against the join file's digest
        from charter.core.digests import folder_digest

        folder = Path(j["base"]["path"])
        found = folder_digest(folder) if folder.is_dir() else "missing"
        if found != j["base"]["sha256"]:
            raise InvalidInput(f"the run's initial weights at {folder} are not the join file's ({found} vs {j['base']['sha256']})",
                               hint="copy the run's init/ folder to that path unchanged", field="base.sha256", where=str(join_file))
        base_path = str(folder)
    if data.content_hash != j["data"]["hash"]:
        raise InvalidInput(f"{data.id} here ({data.content_hash}) is not the run's ({j['data']['hash']})",
                           hint="register the run's data", field="data.hash", where=str(join_file))
    verify_data(data)
    out = Path(out)
    # the same volunteer in the same run may rejoin into its folder (its totals continue from its last report)
    RunFolder(out, {"kind": "swarm-volunteer", "run": j["run_id"], "compute": compute.id, "peer": ledger.public_key_string(key)}).open()
    selection = select_texts(reg, data, uses, out / "texts.jsonl")
    if not selection["kept"]:
        raise Denied(f"no record of {data.id} permits {', '.join(uses)}", exclusions=selection["excluded"])
    token_file = out / "token"
    token_file.write_text(j["token"])
    os.chmod(token_file, 0o600)
    t = j["training"]
    peer = PeerConfig(role="volunteer", run_id=j["run_id"], folder=str(out.resolve()), base=base_path, method=j["method"],
                      token_file=str(token_file.resolve()), key_file=str(Path(key_file).resolve()), initial_peers=tuple(j["bootstrap"]),
                      listen=listen, texts=str((out / "texts.jsonl").resolve()), compute=compute.id, terms=compute.to_json(),
                      allow_keys=tuple(j["allow_keys"]) if j["allow_keys"] is not None else None,
                      target_batch_size=int(t.get("target_batch_size", 16)), batch_size=int(t.get("batch_size", 4)),
                      seq_len=int(t.get("seq_len", 64)), lr=float(t.get("lr", 2e-4)), local_steps=int(t.get("local_steps", 0)),
                      max_steps=max_steps or int(t.get("max_steps", 0)), coordinator_key=j["coordinator_key"])  # the run's limit unless the volunteer sets its own
    (out / "peer.json").write_text(json.dumps(asdict(peer), indent=1))
    (out / "join-decision.json").write_text(json.dumps({"decision": decision.to_json(), "selection": selection, "name": name}, indent=1))
    if not supervise:
        return {"config": str(out / "peer.json"), "selection": selection}
    from charter.swarm.supervise import supervise as run_supervised

    code = run_supervised(out / "peer.json", out)
    st = json.loads((out / "status.json").read_text()) if (out / "status.json").exists() else {}
    err = out / "error.json"
    if code != 0 and err.exists():
        raise InvalidInput(f"the swarm peer failed: {json.loads(err.read_text())['error']}", hint=f"see {out / 'peer.log'}", where=str(out))
    return {**st, "selection": selection, "exit": code}


def _decide_terms(reg: Registry, compute: Asset, uses: tuple[str, ...]):
    """The compute charter alone (it is not registered here), decided like any asset."""
    from charter.core.lineage import compile_lineage
    from charter.policy.decide import Request, decide

    lineage = compile_lineage(compute, {})
    return decide(Request(compute.id, uses), lineage, reg.taxonomy, reg.licenses, None)


# --- status and finish -----------------------------------------------------------------------------

def status(run_dir: Path) -> dict:
    """The coordinator's last view, with the ledger verified and the volunteers' liveness."""
    from charter.swarm.ledger import Ledger

    run_dir = Path(run_dir)
    st_file = run_dir / "status.json"
    if not (run_dir / "run.json").exists():
        raise InvalidInput("not a swarm run folder (no run.json)", hint="pass the --out folder of `charter swarm start`", where=str(run_dir))
    st = json.loads(st_file.read_text()) if st_file.exists() else {}
    v = Ledger(run_dir / "ledger.jsonl").verify()
    now = time.time()
    for c in (st.get("contributors") or {}).values():
        c["alive"] = c.get("last_report") is not None and now - c["last_report"] < 10  # volunteers report every second
    alive = [c for c in (st.get("contributors") or {}).values() if c["alive"]]
    return {"run": json.loads((run_dir / "run.json").read_text())["run_id"], "coordinator_alive": bool(st) and now - st.get("time", 0) < 10,
            "epoch": st.get("epoch"), "samples_per_s": round(sum(c.get("samples_per_s") or 0 for c in alive), 2),
            "contributors": st.get("contributors") or {}, "refused_reports": st.get("refused_reports") or {},
            "ledger": {"ok": v.ok, "entries": v.entries, "head": v.head, "problem": v.problem}}


def abort(run_dir: Path, wait: float = 60.0) -> None:
    """Stop the run without saving or registering anything; its volunteers stop at their next report."""
    from charter.swarm.supervise import group_members

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise InvalidInput("not a swarm run folder (no run.json)", hint="pass the --out folder of `charter swarm start`", where=str(run_dir))
    (run_dir / "ABORT").touch()
    st = json.loads((run_dir / "status.json").read_text()) if (run_dir / "status.json").exists() else {}
    deadline = time.monotonic() + wait
    while st.get("pid") and group_members(st["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)


def finish(reg: Registry, run_dir: Path, wait: float = 180.0) -> Asset:
    """Stop the run, save the averaged weights, register the model with every contributor's terms."""
    from charter.models.weights import Weights
    from charter.swarm.ledger import Ledger

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "finish-error.json").unlink(missing_ok=True)
    (run_dir / "STOP").touch()
    deadline = time.monotonic() + wait
    while not (run_dir / "final.json").exists():
        if (run_dir / "finish-error.json").exists():
            raise InvalidInput(f"cannot finish yet: {json.loads((run_dir / 'finish-error.json').read_text())['error']}",
                               hint="the run is still going; finish again once a volunteer has trained", where=str(run_dir))
        if (run_dir / "error.json").exists():
            raise InvalidInput(f"the coordinator failed: {json.loads((run_dir / 'error.json').read_text())['error']}", hint=f"see {run_dir / 'peer.log'}")
        if time.monotonic() > deadline:
            raise InvalidInput(f"the coordinator did not save the final weights within {wait:g} s", hint=f"see {run_dir / 'peer.log'}", where=str(run_dir))
        time.sleep(0.5)
    final = json.loads((run_dir / "final.json").read_text())
    v = Ledger(run_dir / "ledger.jsonl").verify()
    if not v.ok:
        raise InvalidInput(f"the run's ledger does not verify: {v.problem}", hint="the ledger was edited; the contributions cannot be attested", where=str(run_dir / "ledger.jsonl"))
    contributors = [c for c in final["contributors"].values() if c.get("samples")]
    if not contributors:
        raise InvalidInput("no volunteer contributed to this run", hint="`charter swarm join` the run before finishing it", where=str(run_dir))
    computes = _register_computes(reg, final)
    folder = Path(final["path"])
    base = reg.get(run["base"]) if run["base"] else None
    lora = run["method"] == "lora"
    weights = Weights.register(folder, "peft-lora" if lora else "hf", base_path=Weights.of(base).path if lora else None).to_json()
    name = run["config"].get("name") or slug(run_dir.resolve().name)
    aid = make_id("model", name, run["config"].get("version") or run["run_id"].split("-")[-1])
    edges = [Edge(aid, base.id, "adapter-of" if lora else "fine-tuned-from")] if base else []
    edges.append(Edge(aid, run["data"], "trained-on"))
    edges += [Edge(aid, c, "trained-with") for c in sorted(computes)]
    asset = Asset(id=aid, kind="model", name=aid.split("/", 1)[1].rsplit("@", 1)[0], version=aid.rsplit("@", 1)[1],
                  description=(f"{base.id} trained by a swarm ({run['method']})" if base else f"a new {run['config']['config']} model trained by a swarm")
                  + f" on {run['data']} for {', '.join(run['uses'])}",
                  licenses=("derived",), derived_from=tuple(edges),
                  notes={"weights": weights, "declared_uses": run["uses"],
                         "contributors": [{"compute": c["compute"], "samples": c["samples"], "steps": c["steps"]} for c in contributors],
                         "swarm": {"run": run["run_id"], "folder": str(run_dir.resolve()), "epoch": final["epoch"],
                                   "ledger": {"entries": v.entries, "head": v.head}}})
    reg.add([asset])
    return asset


def _register_computes(reg: Registry, final: dict) -> set[str]:
    """Each contributing volunteer's compute charter, as published with its key, registered (or found)."""
    ids = set()
    terms = final.get("terms") or {}
    for key, c in final["contributors"].items():
        if not c.get("samples"):
            continue
        doc = (terms.get(key) or {}).get("terms")
        if not isinstance(doc, dict):
            raise InvalidInput(f"volunteer {c['compute']} contributed but its terms never reached the coordinator",
                               hint="rerun finish after the volunteer reconnects")
        a = Asset.from_json(doc)
        if a.kind != "compute" or a.id != c["compute"]:
            raise InvalidInput(f"volunteer {c['compute']} published terms for {a.id}", hint="the volunteer's terms must be its compute charter")
        if reg.store.get(a.id) is None:
            reg.add([a])
        ids.add(a.id)
    return ids
