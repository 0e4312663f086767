"""One swarm peer: a hivemind DHT node and Optimizer, run as its own process (``python -m charter.swarm.peer CONFIG``).

Two roles share this loop. The **coordinator** (started by ``charter swarm start``) bootstraps the DHT,
keeps the contribution ledger and the run's status file, and at ``finish`` downloads the averaged state
from the volunteers and saves it as ``final/``; it trains nothing itself. A **volunteer** (``charter
swarm join``) trains on its permitted records: hivemind averages its gradients (or, with local steps,
its parameters) with the other admitted volunteers, and it publishes its cumulative samples and steps,
signed with its key, for the coordinator's ledger.

Everything a peer needs was checked by the command that started it (decision, hashes, records): the
config it reads names verified folders and an already-selected text file. Its stop signal is the file
``STOP`` in its folder (or SIGTERM); its status is ``status.json`` there, rewritten every second.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

CONTRIBUTIONS = "contributions"  # DHT key suffix: <run>.contributions, subkey = volunteer key
SNAPSHOT_EVERY_S = 10.0  # the coordinator downloads the averaged state at most this often (when the swarm moved on)
FINISHED = "finished"  # <run>.finished: True once the coordinator saved final/; volunteers stop
VOLUNTEERS = "volunteers"  # <run>.volunteers: each volunteer's terms (its compute charter), subkey = volunteer key


class NothingToSave(Exception):
    """``finish`` found no trained state to save (the run goes on)."""


@dataclass(frozen=True)
class PeerConfig:
    role: str  # coordinator | volunteer
    run_id: str
    folder: str  # this peer's folder: status.json, metrics.jsonl, STOP; the coordinator's is the run folder
    base: str  # a verified Hugging Face model folder
    method: str  # lora | full
    token_file: str
    key_file: str  # the volunteer's (or coordinator's) Ed25519 private key
    initial_peers: tuple[str, ...] = ()
    listen: str = "/ip4/127.0.0.1/tcp/0"
    texts: str = ""  # a JSON Lines file of the permitted texts (volunteers)
    compute: str = ""  # the volunteer's compute asset id
    terms: dict | None = None  # the volunteer's compute charter, published for the coordinator
    allow_keys: tuple[str, ...] | None = None
    target_batch_size: int = 16
    batch_size: int = 4
    seq_len: int = 64
    lr: float = 2e-4
    lora_r: int = 8
    lora_alpha: int = 16
    local_steps: int = 0  # 0: average gradients every step; N: local updates, parameters averaged every N epochs
    max_steps: int = 0  # optimizer epochs to train (volunteers); 0: until stopped
    max_grad_norm: float = 1.0
    coordinator_key: str = ""  # the coordinator's Ed25519 public key (from the join file): it signs the run's end
    seed: int = 0
    matchmaking_time: float = 2.0
    averaging_timeout: float = 4.0  # what a round costs when a peer left mid-round (loopback: matchmaking + 2 s)

    @staticmethod
    def load(path: Path) -> "PeerConfig":
        d = json.loads(Path(path).read_text())
        names = {f.name for f in fields(PeerConfig)}
        d = {k: tuple(v) if isinstance(v, list) and k != "terms" else v for k, v in d.items() if k in names}
        return PeerConfig(**d)


def _atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def model_and_params(cfg: PeerConfig):
    """(model, tokenizer, the parameters hivemind averages): a LoRA run averages only the adapter's."""
    import torch

    from charter.models.hf import load

    torch.manual_seed(cfg.seed)  # every peer starts from the same adapter
    model, tok = load(Path(cfg.base))
    if cfg.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"))
    return model, tok, [p for p in model.parameters() if p.requires_grad]


def _optimizer(cfg: PeerConfig, dht, params):
    import hivemind
    import torch

    local = cfg.local_steps > 0
    return hivemind.Optimizer(
        dht=dht, run_id=cfg.run_id, target_batch_size=cfg.target_batch_size, batch_size_per_step=cfg.batch_size,
        optimizer=lambda ps: torch.optim.AdamW(ps, lr=cfg.lr), params=params,
        matchmaking_time=cfg.matchmaking_time, averaging_timeout=cfg.averaging_timeout,
        use_local_updates=local, average_state_every=cfg.local_steps if local else 1,
        load_state_timeout=60.0, averager_opts={"request_timeout": min(1.0, cfg.matchmaking_time / 2)}, verbose=False)


class Peer:
    def __init__(self, cfg: PeerConfig):
        self.cfg = cfg
        self.folder = Path(cfg.folder)
        self.stopping = False

    # --- the shared start ------------------------------------------------------------------
    def start(self):
        import hivemind

        from charter.swarm import admission, ledger

        cfg = self.cfg
        self.key = ledger.load_key(Path(cfg.key_file))
        self.key_string = ledger.public_key_string(self.key)
        token = Path(cfg.token_file).read_text().strip()
        from hivemind.dht.crypto import RSASignatureValidator

        # records whose subkey carries our [owner:...] marker can be written only by us (every peer validates)
        validator = RSASignatureValidator()
        self.owner = validator.local_public_key
        self.dht = hivemind.DHT(start=True, host_maddrs=[cfg.listen], initial_peers=list(cfg.initial_peers),
                                nat_port_map=False, auto_nat=False, use_relay=False, use_auto_relay=False, record_validators=[validator])
        self.peer_id = str(self.dht.peer_id)
        self.admission = admission.Admission(cfg.run_id, token, frozenset(cfg.allow_keys) if cfg.allow_keys is not None else None,
                                             dht=self.dht)
        self.admission.publish(self.dht, self.peer_id, self.key, self.owner)
        admission.install(self.admission)
        self.admission.admits(self.peer_id)  # starts this process's refresher (and sees its own proof)
        self.model, self.tok, self.params = model_and_params(cfg)
        self.opt = _optimizer(cfg, self.dht, self.params)
        return self

    def maddrs(self) -> list[str]:
        return [str(a) for a in self.dht.get_visible_maddrs()]

    def stop_requested(self) -> bool:
        return self.stopping or (self.folder / "STOP").exists() or self.aborted()

    def aborted(self) -> bool:
        """``ABORT`` in the folder (`charter swarm finish --abort`): stop without saving anything."""
        return (self.folder / "ABORT").exists()

    def shutdown(self) -> None:
        for thing in (getattr(self, "opt", None), getattr(self, "dht", None)):
            try:
                if thing is not None:
                    thing.shutdown()
            except Exception:
                pass

    # --- volunteer ---------------------------------------------------------------------------
    def publish_terms(self, progress: dict | None = None) -> None:
        """The volunteer's terms (its compute charter) and, as it trains, its recent loss and samples/s
        (shown by `charter swarm status`; informative, not part of the signed ledger)."""
        from hivemind.utils import get_dht_time

        self.dht.store(f"{self.cfg.run_id}.{VOLUNTEERS}", {"compute": self.cfg.compute, "terms": self.cfg.terms, **(progress or {})},
                       expiration_time=get_dht_time() + 24 * 3600, subkey=self.key_string.encode() + self.owner)

    def publish_contribution(self, samples: int, steps: int, n: int) -> None:
        """This volunteer's cumulative work as report number ``n``, signed (charter.swarm.ledger.sign)."""
        from hivemind.utils import get_dht_time

        from charter.swarm.ledger import Contribution, now, sign

        record, sig = sign(Contribution(self.cfg.run_id, self.key_string, self.cfg.compute, samples, steps, now(), n), self.key)
        self.dht.store(f"{self.cfg.run_id}.{CONTRIBUTIONS}", {"record": record, "sig": sig},
                       expiration_time=get_dht_time() + 24 * 3600, subkey=self.key_string.encode() + self.owner)

    def train(self) -> None:
        import torch

        from charter.training import data as data_mod

        cfg = self.cfg
        texts = [json.loads(x)["text"] for x in Path(cfg.texts).read_text().splitlines() if x.strip()]
        blocks = data_mod.blocks(self.tok, texts, cfg.seq_len)
        g = torch.Generator().manual_seed(hash((cfg.seed, self.key_string)) % 2**31)  # each volunteer its own order
        order = torch.randperm(len(blocks), generator=g)
        self.publish_terms()
        self.model.train()
        samples, steps, n = self.last_report()  # a volunteer that rejoins continues its own totals
        window: list[tuple[float, int, float]] = []  # (time, samples, loss) of recent steps: the reported rate and loss
        metrics = open(self.folder / "metrics.jsonl", "a")
        last = 0.0
        loss_v = None
        while not self.stop_requested() and (cfg.max_steps <= 0 or self.opt.local_epoch < cfg.max_steps):
            idx = order[[(steps * cfg.batch_size + i) % len(blocks) for i in range(cfg.batch_size)]]
            batch = blocks[idx]
            loss = self.model(input_ids=batch, labels=batch).loss
            loss.backward()
            # bounds this peer's own step (an honest peer's outlier batch); a malicious peer simply skips it
            torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
            self.opt.step()
            self.opt.zero_grad()
            samples += len(batch)
            steps += 1
            loss_v = round(loss.detach().item(), 6)
            metrics.write(json.dumps({"step": steps, "epoch": self.opt.local_epoch, "loss": loss_v, "samples": samples, "time": round(time.time(), 3)}) + "\n")
            metrics.flush()
            window = [*window[-50:], (time.monotonic(), samples, loss_v)]
            if time.monotonic() - last > 1.0:
                if self.finished():
                    break
                n += 1
                self.publish_contribution(samples, steps, n)
                rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 1 else 0.0
                self.publish_terms({"loss": round(sum(w[2] for w in window) / len(window), 4), "samples_per_s": round(rate, 2)})
                self.status({"samples": samples, "steps": steps, "epoch": self.opt.local_epoch, "loss": loss_v})
                last = time.monotonic()
        n += 1
        self.publish_contribution(samples, steps, n)
        self.status({"samples": samples, "steps": steps, "epoch": self.opt.local_epoch, "loss": loss_v, "done": True})
        metrics.close()

    def last_report(self) -> tuple[int, int, int]:
        """(samples, steps, report number) of this volunteer's latest report in the DHT, when it signed it
        for this run (a rejoin: its totals are cumulative across restarts); else zeros."""
        from charter.swarm.admission import subkey_name

        got = self.dht.get(f"{self.cfg.run_id}.{CONTRIBUTIONS}", latest=True)
        entries = got.value if got is not None and isinstance(got.value, dict) else {}
        mine = [getattr(item, "value", None) for sub, item in entries.items() if subkey_name(sub) == self.key_string]
        best = (0, 0, 0)
        for value in mine:  # a rejoin has a new owner marker: the newest valid report of this key counts
            best = max(best, self._report_totals(value))
        return best

    def _report_totals(self, value) -> tuple[int, int, int]:
        from charter.swarm.admission import _verify_sig

        if not isinstance(value, dict) or not isinstance(value.get("record"), str) or not isinstance(value.get("sig"), str):
            return 0, 0, 0
        from charter.swarm.ledger import signed_message

        try:
            rec = json.loads(value["record"])
            if rec.get("run") != self.cfg.run_id or rec.get("peer") != self.key_string:
                return 0, 0, 0
            if not _verify_sig(self.key_string, value["sig"], signed_message(self.cfg.run_id, value["record"])):
                return 0, 0, 0
            return int(rec["samples"]), int(rec["steps"]), int(rec["seq"])
        except (ValueError, KeyError, TypeError):
            return 0, 0, 0

    def finished(self) -> bool:
        """Whether the coordinator announced the run's end, signed with the key the join file names (anyone
        can write the DHT key; only the coordinator can sign)."""
        from charter.swarm.admission import _verify_sig

        got = self.dht.get(f"{self.cfg.run_id}.{FINISHED}", latest=True)
        entries = got.value if got is not None and isinstance(got.value, dict) else {}
        for item in entries.values():
            v = getattr(item, "value", None)
            if isinstance(v, dict) and isinstance(v.get("sig"), str) and self.cfg.coordinator_key:
                if _verify_sig(self.cfg.coordinator_key, v["sig"], f"{self.cfg.run_id}|{FINISHED}".encode()):
                    return True
        return False

    def status(self, extra: dict) -> None:
        _atomic(self.folder / "status.json", {"role": self.cfg.role, "run": self.cfg.run_id, "peer_id": self.peer_id, "pid": os.getpid(),
                                              "time": round(time.time(), 3), "maddrs": self.maddrs(), "refused_peers": self.admission.refused,
                                              "admitted_peers": len(self.admission.admitted), **extra})

    # --- coordinator -------------------------------------------------------------------------
    def coordinate(self) -> None:
        from charter.swarm.collect import Collector

        collector = Collector(self.cfg.run_id, self.folder, self.admission)
        while True:
            self._coordinate_until_stop(collector)
            if self.aborted():
                return self.announce_end()
            try:
                return self.save_final(collector)
            except NothingToSave as e:  # the run goes on: a volunteer may join, and `finish` be asked again
                _atomic(self.folder / "finish-error.json", {"error": str(e), "time": round(time.time(), 3)})
                (self.folder / "STOP").unlink(missing_ok=True)
                self.stopping = False

    def _coordinate_until_stop(self, collector) -> None:
        last_snapshot, seen = 0.0, 0
        while not self.stop_requested():
            epoch = self._global_epoch()
            summary = collector.collect(self.dht)
            # keep a recent copy of the averaged state: volunteers may all be gone by the time the run is finished.
            # Volunteers' new reports say the swarm moved on even before hivemind's progress records reach us.
            moved = epoch > self.opt.local_epoch or summary["ledger"]["entries"] > seen
            if moved and time.monotonic() - last_snapshot > SNAPSHOT_EVERY_S:
                self.opt.load_state_from_peers()
                last_snapshot, seen = time.monotonic(), summary["ledger"]["entries"]
            self.status({"epoch": max(epoch, int(self.opt.local_epoch)), "snapshot_epoch": int(self.opt.local_epoch), **summary})
            time.sleep(1.0)
        self.status({"epoch": self._global_epoch(), **collector.collect(self.dht), "finishing": True})

    def _global_epoch(self) -> int:
        try:
            return int(self.opt.tracker.global_epoch)
        except Exception:
            return -1

    def save_final(self, collector) -> None:
        """The averaged state from the volunteers (the newest epoch among them), saved as final/; without a
        volunteer to download it from, the coordinator's latest snapshot; without one, nothing was trained here."""
        self.opt.load_state_from_peers()
        if int(self.opt.local_epoch) == 0:
            raise NothingToSave("no averaged state to save: no volunteer could be reached and no snapshot was taken; "
                                "have a volunteer join, then finish again")
        final = self.folder / "final"
        self.model.save_pretrained(final)
        if self.cfg.method == "full":
            self.tok.save_pretrained(final)
        summary = collector.collect(self.dht)
        _atomic(self.folder / "final.json", {"epoch": int(self.opt.local_epoch), "path": str(final.resolve()), **summary})
        self.announce_end()

    def announce_end(self) -> None:
        """Tell the volunteers the run is over (finished or aborted): they stop at their next report."""
        from hivemind.utils import get_dht_time

        import base64

        sig = base64.b64encode(self.key.sign(f"{self.cfg.run_id}|{FINISHED}".encode())).decode()
        self.dht.store(f"{self.cfg.run_id}.{FINISHED}", {"sig": sig}, expiration_time=get_dht_time() + 24 * 3600, subkey=self.owner)
        time.sleep(2.0)  # volunteers poll every second: let them read it before this bootstrap peer leaves


def run(config_path: Path) -> int:
    cfg = PeerConfig.load(config_path)
    folder = Path(cfg.folder)
    peer = Peer(cfg)

    def stop(*_):
        peer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        peer.start()
        peer.status({"starting": False})
        if cfg.role == "coordinator":
            peer.coordinate()
        else:
            peer.train()
        return 0
    except Exception as e:  # recorded where `status` and the starting command look
        _atomic(folder / "error.json", {"error": f"{type(e).__name__}: {e}", "time": round(time.time(), 3)})
        raise
    finally:
        peer.shutdown()


def main() -> None:
    code = 1
    try:
        code = run(Path(sys.argv[1]))
    finally:
        sys.stdout.flush()
        if os.getpgid(0) == os.getpid():  # leading its own group (as spawned): take hivemind's helpers along
            from charter.swarm.supervise import group_members

            for pid in group_members(os.getpid()):
                if pid != os.getpid():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        os._exit(code)  # without waiting on hivemind's threads


if __name__ == "__main__":
    main()
