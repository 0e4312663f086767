"""Who may average with whom in a swarm run: the run token (HMAC) and, optionally, volunteers' keys.

hivemind has no admission control of its own: any process that reaches a peer can ask to join its
averaging group or download its state. Each admitted peer publishes, under the DHT key
``<run>.admission`` and its own libp2p peer id as subkey, a proof

    {"hmac": HMAC-SHA256(token, "<run>|<peer id>"), "key": "ed25519:...", "sig": Ed25519(run|peer id)}

The peer id is authenticated by libp2p's transport (the peer holds its private key), so a proof
copied from the DHT is useless to another peer id, and the token itself never travels. Every
peer checks the proof of whoever asks to join its group (leader side), of every leader it asks to
join (follower side) and of whoever asks to download its state, and refuses peers without one:
they train alone. With an allow list (``--allow-keys``), the proof's volunteer key must be on it
and its signature valid. The token is the secret of the join file: whoever has the file is admitted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field

KEY_PREFIX = "ed25519:"


def proof(token: str, run_id: str, peer_id: str) -> str:
    return hmac.new(token.encode(), f"{run_id}|{peer_id}".encode(), hashlib.sha256).hexdigest()


def _verify_sig(key: str, sig: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(key[len(KEY_PREFIX):], validate=True) if key.startswith(KEY_PREFIX) else b""
        Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(sig, validate=True), message)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


@dataclass
class Admission:
    """The admitted peers of one run, refreshed from the DHT on a thread of each process that asks."""

    run_id: str
    token: str
    allow_keys: frozenset[str] | None = None
    refresh_s: float = 1.0
    dht: object = None
    admitted: dict = field(default_factory=dict)  # peer id (str) -> volunteer key
    # refusals happen in the averager processes hivemind forks: counted in shared memory, read by the peer's status
    _refused: object = field(default_factory=lambda: multiprocessing.get_context("fork").Value("q", 0))
    _pid: int = 0
    _wake: threading.Event | None = None

    @property
    def key(self) -> str:
        return f"{self.run_id}.admission"

    def publish(self, dht, peer_id: str, signing_key, owner: bytes = b"") -> None:
        """Store this peer's proof (``signing_key``: the volunteer's Ed25519 private key; ``owner``: its DHT
        owner marker, so that no other peer can overwrite the record; see ``owned``)."""
        from hivemind.utils import get_dht_time

        from charter.swarm.ledger import public_key_string

        message = f"{self.run_id}|{peer_id}".encode()
        value = {"hmac": proof(self.token, self.run_id, peer_id), "key": public_key_string(signing_key),
                 "sig": base64.b64encode(signing_key.sign(message)).decode()}
        dht.store(self.key, value, expiration_time=get_dht_time() + 24 * 3600, subkey=peer_id.encode() + owner)

    def valid(self, peer_id: str, value) -> bool:
        if not isinstance(value, dict) or not isinstance(value.get("hmac"), str):
            return False
        if not hmac.compare_digest(value["hmac"], proof(self.token, self.run_id, peer_id)):
            return False
        if self.allow_keys is None:
            return True
        key, sig = value.get("key"), value.get("sig")
        return (isinstance(key, str) and isinstance(sig, str) and key in self.allow_keys
                and _verify_sig(key, sig, f"{self.run_id}|{peer_id}".encode()))

    def admits(self, peer_id) -> bool:
        """Whether ``peer_id`` (a hivemind PeerID or its string) showed a valid proof. Never blocks: an
        unknown peer wakes the refresher and is refused this time (it will retry the next round)."""
        self._ensure_thread()
        ok = str(peer_id) in self.admitted
        if not ok:
            with self._refused.get_lock():
                self._refused.value += 1
            self._wake.set()
        return ok

    @property
    def refused(self) -> int:
        """Averaging or state requests refused so far, by this peer and its averager processes."""
        return self._refused.value

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        # averagers run in forked processes: each process refreshes its own copy
        self._pid, self._wake = os.getpid(), threading.Event()
        self.refresh()
        threading.Thread(target=self._loop, daemon=True, name="charter-admission").start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.refresh_s)
            self._wake.clear()
            try:
                self.refresh()
            except Exception:  # a DHT hiccup: keep the last known set, try again
                time.sleep(self.refresh_s)

    def refresh(self) -> None:
        got = self.dht.get(self.key, latest=True) if self.dht is not None else None
        entries = got.value if got is not None and isinstance(got.value, dict) else {}
        admitted = {}
        for sub, item in entries.items():
            peer_id, value = subkey_name(sub), getattr(item, "value", None)
            if isinstance(peer_id, str) and self.valid(peer_id, value):
                admitted[peer_id] = value.get("key")
        self.admitted = admitted


class NotAdmitted(Exception):
    """An averaging call to a peer without a valid admission proof (refused before connecting)."""


def subkey_name(sub) -> str | None:
    """The name part of a DHT subkey: the text before hivemind's ``[owner:...]`` marker. A subkey with the
    marker can only have been stored by the holder of that RSA key (``RSASignatureValidator``, which every
    charter peer runs), so nobody overwrites another peer's record; the name itself is checked by the
    signature inside the value."""
    if isinstance(sub, bytes):
        name = sub.split(b"[owner:", 1)[0]
        try:
            return name.decode("ascii")
        except UnicodeDecodeError:
            return None
    return sub if isinstance(sub, str) else None


CURRENT: Admission | None = None  # the admission of this process's run, read by the patched hivemind methods


def install(admission: Admission) -> None:
    """Gate hivemind's averaging on ``admission`` in this process and the averager processes it forks:
    the leader refuses unadmitted joiners, a follower does not ask unadmitted leaders, state is neither
    served to nor downloaded from unadmitted peers."""
    global CURRENT
    CURRENT = admission
    from hivemind.averaging import averager as av
    from hivemind.averaging import matchmaking as mm
    from hivemind.proto import averaging_pb2

    if getattr(mm.Matchmaking, "_charter_gated", False):
        return
    check, request, download = mm.Matchmaking._check_reasons_to_reject, mm.Matchmaking._request_join_group, av.DecentralizedAverager.rpc_download_state

    def _check_reasons_to_reject(self, request_, context):
        if CURRENT is not None and not CURRENT.admits(context.remote_id):
            return averaging_pb2.MessageFromLeader(code=averaging_pb2.PROTOCOL_VIOLATION)
        return check(self, request_, context)

    async def _request_join_group(self, leader):
        if CURRENT is not None and not CURRENT.admits(leader):
            return None
        return await request(self, leader)

    @functools.wraps(download)  # hivemind reads the handler's type annotations to route its messages
    async def rpc_download_state(self, _request, _context):
        if CURRENT is not None and not CURRENT.admits(_context.remote_id):
            return
        async for item in download(self, _request, _context):
            yield item

    stub = av.DecentralizedAverager.get_stub.__func__

    def get_stub(cls, p2p, peer, *, namespace=None):  # every outgoing averaging call: state downloads included
        if CURRENT is not None and not CURRENT.admits(peer):
            raise NotAdmitted(f"peer {peer} has no admission proof for run {CURRENT.run_id}")
        return stub(cls, p2p, peer, namespace=namespace)

    av.DecentralizedAverager.get_stub = classmethod(get_stub)
    mm.Matchmaking._check_reasons_to_reject = _check_reasons_to_reject
    mm.Matchmaking._request_join_group = _request_join_group
    av.DecentralizedAverager.rpc_download_state = rpc_download_state
    mm.Matchmaking._charter_gated = True
