"""The contribution ledger of a volunteer-computing training run: ``RUN_DIR/ledger.jsonl``.

Several machines train one model together (hivemind); each peer, identified by an Ed25519 key,
reports its *cumulative* samples and steps now and then as a ``Contribution``, signs it and appends it
to the ledger. ``charter swarm status`` verifies the ledger, and the trained model's charter cites its
head hash, so the credit given to each volunteer's compute can be checked later.

One line per entry, canonical JSON (sorted keys, no spaces, ASCII)::

    {"hash": ..., "prev": ..., "record": "<canonical JSON of the Contribution>", "seq": n, "signature": ...}

- ``signature``: base64 of the Ed25519 signature, by the key in the record's ``peer``, of
  ``signed_message(run, record)``. A peer signs its report where it runs, without knowing the ledger's
  tail: the coordinator appends it (``append_signed``). The record's own ``seq`` is the peer's report
  number (1, 2, ... strictly increasing per peer) and its ``run`` the run id, so a signed report cannot
  be replayed into another run or appended twice, and anyone can verify it from the ledger alone.
- ``hash``: ``sha256(prev + record + signature)`` in hex; ``prev`` is the previous entry's hash, 64 zeros
  for the first entry.

Peers are untrusted. ``Ledger.verify`` *detects* an edited, forged, removed, inserted, reordered or
replayed entry, a malformed line, a peer outside the allowed set and a peer's totals going down, and
names the first bad line. Anyone can recompute the hash chain, so the chain alone proves nothing: the
signatures tie each report to its peer's key, and the report numbers order each peer's reports. Cutting entries off the end leaves a
valid shorter ledger; that is detected only against a head recorded elsewhere
(``verify(expect=(count, hash))``, e.g. the head a charter cites). A peer who rewrites the whole ledger
signs only its own entries, so it cannot forge anyone else's.

What the ledger does NOT do: it does not prove that a peer did the work it reports. A peer may
overstate its own samples and steps and sign the lie; the ledger only makes the claim attributable
(signed, by that key, in that order) and consistent (totals never decrease). Cross-check the claims
against the swarm's own progress (the global step, the averaging logs) before paying out credit.

Each peer key reports for one compute asset id (``compute/<name>@<version>``) in a ledger, and each
compute id belongs to one key; a volunteer with two machines uses two keys.

Appends take an exclusive ``fcntl.flock`` on the ledger file and fsync, so peers appending from several
processes on one machine (or over a file system with working flock) stay consistent; readers take a
shared lock. Keys are PEM PKCS8 files, unencrypted, mode 0600 (``generate_key``, ``load_key``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import fcntl
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Iterable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from charter.core.ids import valid_name, valid_version
from charter.errors import IntegrityError, InvalidInput

GENESIS = "0" * 64  # the "previous hash" of the first entry
KEY_PREFIX = "ed25519:"
DOMAIN = b"charter-swarm-ledger/1\n"  # signatures made for this ledger mean nothing anywhere else
ENTRY_FIELDS = frozenset({"seq", "prev", "record", "signature", "hash"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_COMPUTE = re.compile(r"compute/(?P<name>.+)@(?P<version>[^@]+)")
_KEY_FORM = "ed25519:<base64 of the 32 raw public key bytes>"


def canonical(obj) -> str:
    """Canonical JSON: sorted keys, no whitespace, ASCII, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


# ---------------------------------------------------------------- keys


def generate_key(path: str | os.PathLike) -> str:
    """Write a new Ed25519 private key to ``path`` (PEM, PKCS8, unencrypted, mode 0600) and return its
    public key string. Never overwrites: an existing file is an InvalidInput."""
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput("a file already exists here; refusing to overwrite a key", where=str(path),
                           hint="choose another path, or load the existing key with load_key") from None
    except OSError as e:
        raise InvalidInput(f"cannot create the key file ({e.strerror})", where=str(path),
                           hint="create the folder first, or choose a writable path") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        _write_all(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return public_key_string(key)


def load_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """Read an Ed25519 private key written by ``generate_key``. A missing, unreadable, malformed,
    encrypted or non-Ed25519 key file is a one-line InvalidInput naming the file and the fix."""
    path = Path(path)
    fix_new = "create one with charter.swarm.ledger.generate_key(path), or pass the right path"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput("no such key file", where=str(path), hint=fix_new) from None
    except OSError as e:
        raise InvalidInput(f"cannot read the key file ({e.strerror})", where=str(path),
                           hint="pass the path of a readable key file") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted (a password is needed)
        raise InvalidInput("the key file is encrypted", where=str(path),
                           hint="use an unencrypted PKCS8 PEM key, as generate_key writes") from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidInput("not a PEM private key", where=str(path), hint=f"expected an Ed25519 PKCS8 PEM key; {fix_new}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"not an Ed25519 key (a {type(key).__name__})", where=str(path), hint=f"swarm peers sign with Ed25519; {fix_new}")
    return key


def public_key_string(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """``ed25519:<base64 of the 32 raw public key bytes>`` for a private or public key."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"a {type(key).__name__}, not an Ed25519 key", field="key", hint="pass a key from load_key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str, *, field: str = "peer", where: str = "") -> Ed25519PublicKey:
    """The public key in a public key string, strictly: the ``ed25519:`` prefix, canonical padded
    base64, exactly 32 bytes; anything else is an InvalidInput naming ``field`` and the expected form."""
    hint = f"write it as {_KEY_FORM} (public_key_string gives it)"
    if not isinstance(text, str):
        raise InvalidInput(f"a {type(text).__name__}, not a public key string", field=field, where=where, hint=hint)
    if not text.startswith(KEY_PREFIX):
        raise InvalidInput(f"{_short(text)!r} does not start with {KEY_PREFIX!r}", field=field, where=where, hint=hint)
    b64 = text[len(KEY_PREFIX):]
    raw = _b64decode(b64)
    if raw is None:
        raise InvalidInput(f"{_short(b64)!r} is not canonical base64", field=field, where=where, hint=hint)
    if len(raw) != 32:
        raise InvalidInput(f"the key is {len(raw)} bytes, an Ed25519 public key is 32", field=field, where=where, hint=hint)
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidInput("not a valid Ed25519 public key", field=field, where=where, hint=hint) from None


# ---------------------------------------------------------------- entries


@dataclass(frozen=True)
class Contribution:
    """One peer's report: its *cumulative* samples and steps in run ``run`` so far.

    ``peer`` is the peer's public key string, ``compute`` the volunteer's compute asset id
    (``compute/alice-workstation@1``). ``seq`` is the peer's report number (1, 2, ..., strictly
    increasing per peer) and ``time`` ISO 8601; ``Ledger.append`` fills them in when None, a recorded
    entry always has both."""

    run: str
    peer: str
    compute: str
    samples: int
    steps: int
    time: str | None = None
    seq: int | None = None

    def __post_init__(self):
        if not isinstance(self.run, str) or not self.run or not self.run.isprintable() or len(self.run) > 256:
            raise InvalidInput(f"{_short(self.run)!r} is not a run id", field="run", hint="a non-empty printable string (the run folder's id)")
        parse_public_key(self.peer, field="peer")
        m = _COMPUTE.fullmatch(self.compute) if isinstance(self.compute, str) else None
        if not m or not valid_name(m["name"]) or not valid_version(m["version"]):
            raise InvalidInput(f"{_short(self.compute)!r} is not a compute asset id", field="compute",
                               hint="write it as compute/<name>@<version>, e.g. compute/alice-workstation@1")
        for name in ("samples", "steps"):
            v = getattr(self, name)
            if type(v) is not int or v < 0:
                raise InvalidInput(f"{v!r} is not a non-negative integer", field=name, hint=f"report the peer's cumulative {name} so far")
        if self.time is not None:
            t = None
            if isinstance(self.time, str) and len(self.time) <= 64:
                try:
                    t = _dt.datetime.fromisoformat(self.time)
                except ValueError:
                    pass
            if t is None or t.tzinfo is None:
                raise InvalidInput(f"{_short(self.time)!r} is not an ISO 8601 time with a time zone", field="time",
                                   hint="e.g. 2026-01-31T12:00:00+00:00, or leave it None for now")
        if self.seq is not None and (type(self.seq) is not int or self.seq < 1):
            raise InvalidInput(f"{self.seq!r} is not a report number (1, 2, ...)", field="seq", hint="number the peer's reports 1, 2, ... (append assigns it when None)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d, *, where: str = "") -> "Contribution":
        """A recorded contribution: exactly the fields, none of them missing or null."""
        names = [f.name for f in fields(cls)]
        if not isinstance(d, dict):
            raise InvalidInput(f"a JSON {_json_type(d)}, not an object", where=where, field="record", hint="a record is a JSON object")
        missing = [n for n in names if d.get(n) is None]
        extra = sorted(set(d) - set(names))
        if missing or extra:
            what = "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                         f"unexpected {', '.join(map(str, extra))}" if extra else "") if p)
            raise InvalidInput(what, where=where, field="record", hint=f"a record has exactly {', '.join(names)}")
        try:
            return cls(**d)
        except InvalidInput as e:
            e.where = where
            raise

    def record(self) -> str:
        """The canonical JSON that is signed and hashed."""
        return canonical(self.to_dict())


def signed_message(run: str, record: str) -> bytes:
    """The bytes a peer signs: its record (which carries its report number) bound to the run."""
    return DOMAIN + canonical({"record": record, "run": run}).encode("ascii")


def sign(contribution: "Contribution", key: Ed25519PrivateKey) -> tuple[str, str]:
    """(record, signature) of a complete contribution (``seq`` and ``time`` set), as a peer sends it."""
    record = contribution.record()
    return record, base64.b64encode(key.sign(signed_message(contribution.run, record))).decode("ascii")


def entry_hash(prev: str, record: str, signature: str) -> str:
    return hashlib.sha256((prev + record + signature).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """What ``Ledger.verify`` found. ``entries`` and ``head`` describe the verified prefix (the whole
    ledger when ``ok``); ``line`` is the first bad line (1-based) and ``problem`` says what is wrong."""

    ok: bool
    entries: int
    head: str
    line: int | None = None
    problem: str = ""
    totals: dict = field(default_factory=dict)  # see Ledger.totals; of the verified prefix

    def raise_if_bad(self, where: str = "") -> "VerifyResult":
        if not self.ok:
            raise IntegrityError(self.problem, where=f"{where}:{self.line}" if where else "",
                                 hint="the ledger was edited or damaged: restore it from a peer's copy, or re-verify against a known head")
        return self


class _Bad(Exception):
    pass


class Ledger:
    """The ledger file at ``path`` (usually ``RUN_DIR/ledger.jsonl``; a missing file is an empty ledger).
    ``run``, when given, is the run id every entry must carry; otherwise the first entry's run is."""

    def __init__(self, path: str | os.PathLike, run: str | None = None):
        self.path = Path(path)
        self.run = run

    # ------------------------------------------------------------ writing

    def append(self, contribution: Contribution, key: Ed25519PrivateKey) -> dict:
        """Sign ``contribution`` with ``key`` and append it (a peer writing its own ledger); return the entry
        ``{seq, prev, record, signature, hash}``. ``contribution.peer`` must be the key's public key;
        ``seq`` (the peer's report number) and ``time`` are assigned when None."""
        if not isinstance(contribution, Contribution):
            raise InvalidInput(f"a {type(contribution).__name__}, not a Contribution", field="contribution", hint="pass a Contribution")
        if contribution.peer != public_key_string(key):
            raise InvalidInput("the contribution's peer is not the signing key's public key", field="peer",
                               hint="sign with the peer's own key; set peer=public_key_string(key)")

        def complete(state: "_State") -> tuple[str, str]:
            last = state.latest.get(contribution.peer)
            c = replace(contribution, seq=contribution.seq or ((last.seq if last else 0) + 1), time=contribution.time or now())
            return sign(c, key)
        return self._append(complete)

    def append_signed(self, record: str, signature: str) -> dict:
        """Append a report a peer signed elsewhere (``sign``), after checking it exactly as ``verify``
        will: canonical, this run, a valid signature, a report number after the peer's last, totals
        not going down. A report that fails is refused (InvalidInput naming why) and nothing is written."""
        if not isinstance(record, str) or not isinstance(signature, str):
            raise InvalidInput("a report is a record string and a signature string", field="record", hint="pass what `sign` returned")
        return self._append(lambda state: (record, signature))

    def _append(self, make) -> dict:
        """Under an exclusive flock: read and verify the ledger, build the entry, check it as the next
        line, write it and fsync."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            created = os.fstat(fd).st_size == 0
            state = self._state(fd)
            record, sig = make(state)
            seq, prev = state.count + 1, state.head
            entry = {"seq": seq, "prev": prev, "record": record, "signature": sig, "hash": entry_hash(prev, record, sig)}
            line = canonical(entry)
            try:
                state.check(seq, line.encode("ascii"), None)
            except _Bad as e:
                raise InvalidInput(f"report refused: {str(e).split(': ', 1)[-1]}", where=str(self.path), field="record",
                                   hint="only a peer's own, newer, signed report for this run is appended") from None
            _write_all(fd, (line + "\n").encode("ascii"))
            os.fsync(fd)
            if created:
                _fsync_dir(self.path.parent)
            return entry
        finally:
            os.close(fd)  # releases the lock

    def _state(self, fd: int) -> "_State":
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
        state = _State(run=self.run)
        lines = data.split(b"\n")
        if lines[-1]:
            raise IntegrityError("the last line is incomplete (no newline at the end)", where=str(self.path),
                                 hint="verify the ledger to find the damaged line; restore it before appending")
        for n, raw in enumerate(lines[:-1], 1):
            try:
                state.check(n, raw, None)
            except _Bad as e:
                raise IntegrityError(str(e), where=f"{self.path}:{n}", hint="restore the ledger before appending") from None
        return state

    def entries(self) -> list[dict]:
        """The entries of a ledger that verifies (IntegrityError naming the line otherwise)."""
        self.verify().raise_if_bad(str(self.path))
        return [json.loads(x) for x in self._read().decode("ascii").splitlines()]

    def head(self) -> tuple[int, str]:
        """(count, hash) of the last entry, (0, GENESIS) when empty, read under a shared lock and not
        verified: hand it to a witness, and pass it back as ``verify(expect=...)``. A damaged last line
        is an IntegrityError."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, GENESIS
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            count, h, _ = self._tail(fd)
            return count, h
        finally:
            os.close(fd)

    def _tail(self, fd: int) -> tuple[int, str, str | None]:
        """(seq, hash, run) from the last and first lines, without verifying anything else."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS, None
        bad = dict(where=str(self.path), hint="verify the ledger to find the damaged line; restore it before appending")
        if os.pread(fd, 1, size - 1) != b"\n":
            raise IntegrityError("the last line is incomplete (no newline at the end)", **bad)
        chunk, pos = b"", size - 1  # read back from before the final newline to the one before it
        while pos > 0 and b"\n" not in chunk:
            step = min(65536, pos)
            pos -= step
            chunk = os.pread(fd, step, pos) + chunk
        cut = chunk.rfind(b"\n")
        last = chunk[cut + 1:]
        first = last if cut < 0 else _first_line(fd)  # cut < 0: one line only
        try:
            e = json.loads(last)
            seq, h = e["seq"], e["hash"]
            run = json.loads(json.loads(first)["record"])["run"]
            if type(seq) is not int or not isinstance(h, str) or not _HEX64.fullmatch(h) or not isinstance(run, str):
                raise ValueError
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            raise IntegrityError("the first or last line is not a ledger entry", **bad) from None
        return seq, h, run

    # ------------------------------------------------------------ reading

    def verify(self, allowed_peers: Iterable[str] | None = None, *, expect: tuple[int, str] | None = None) -> VerifyResult:
        """Check every line (see the module docstring); stop at the first problem. ``allowed_peers``:
        the public key strings allowed to sign (None: any). ``expect``: a (count, hash) head recorded
        earlier; the ledger must still hold that entry with that hash (detects a cut-off tail or a
        rewrite). Never raises on a damaged ledger: the problem is in the result."""
        if isinstance(allowed_peers, str):
            raise InvalidInput("a single string, not a set of peers", field="allowed_peers", hint="pass a set of public key strings")
        allowed = None if allowed_peers is None else set(allowed_peers)
        for peer in sorted(allowed or (), key=repr):
            parse_public_key(peer, field="allowed_peers")
        if expect is not None:
            ok_expect = (isinstance(expect, (tuple, list)) and len(expect) == 2 and type(expect[0]) is int and expect[0] >= 0
                         and isinstance(expect[1], str) and _HEX64.fullmatch(expect[1]) and (expect[0] > 0 or expect[1] == GENESIS))
            if not ok_expect:
                raise InvalidInput(f"{expect!r} is not a head", field="expect", hint="pass (count, hash) as Ledger.head() returns it")
        data = self._read()
        state = _State(run=self.run)
        lines = data.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail is b"" when the file ends with a newline
        try:
            for n, raw in enumerate(complete, 1):
                state.check(n, raw, allowed)
                if expect is not None and n == expect[0] and state.head != expect[1]:
                    raise _Bad(f"line {n}: its hash {state.head[:12]}... is not the expected head's {expect[1][:12]}... "
                               f"(the ledger was rewritten from here or before)")
            if tail:
                n = len(complete) + 1
                raise _Bad(f"line {n} is incomplete (no newline at the end: a cut-off write or an edit)")
            if expect is not None and state.count < expect[0]:
                n = state.count + 1
                raise _Bad(f"the ledger has {state.count} entries, the expected head has {expect[0]} "
                           f"(entries cut off the end)")
        except _Bad as e:
            return VerifyResult(False, state.count, state.head, n, str(e), state.totals())
        return VerifyResult(True, state.count, state.head, None, "", state.totals())

    def totals(self, allowed_peers: Iterable[str] | None = None, *, expect: tuple[int, str] | None = None) -> dict:
        """{compute id: {"samples": n, "steps": n, "peer": key}} from each peer's latest entry. The
        ledger is verified first: a problem is an IntegrityError naming the line."""
        return self.verify(allowed_peers, expect=expect).raise_if_bad(str(self.path)).totals

    def _read(self) -> bytes:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        except OSError as e:
            raise InvalidInput(f"cannot read the ledger ({e.strerror})", where=str(self.path), hint="pass the path of a readable ledger.jsonl") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            size = os.fstat(fd).st_size
            parts, pos = [], 0
            while pos < size:
                b = os.pread(fd, min(1 << 20, size - pos), pos)
                if not b:
                    break
                parts.append(b)
                pos += len(b)
            return b"".join(parts)
        finally:
            os.close(fd)


class _State:
    """The running state of a verification: position, previous hash, run and each peer's latest report."""

    def __init__(self, run: str | None):
        self.run = run
        self.count = 0
        self.head = GENESIS
        self.latest: dict[str, Contribution] = {}  # peer -> its latest contribution
        self.owner: dict[str, str] = {}  # compute id -> peer

    def totals(self) -> dict:
        return {c.compute: {"samples": c.samples, "steps": c.steps, "peer": c.peer}
                for c in sorted(self.latest.values(), key=lambda c: c.compute)}

    def check(self, n: int, raw: bytes, allowed: set[str] | None) -> None:
        if not raw:
            raise _Bad(f"line {n} is empty")
        try:
            text = raw.decode("utf-8")
            entry = json.loads(text)
        except UnicodeDecodeError:
            raise _Bad(f"line {n} is not UTF-8 text") from None
        except (ValueError, RecursionError) as e:
            raise _Bad(f"line {n} is not JSON ({_short(str(e), 80)})") from None
        if not isinstance(entry, dict):
            raise _Bad(f"line {n} is a JSON {_json_type(entry)}, not an entry object")
        if set(entry) != ENTRY_FIELDS:
            missing, extra = sorted(ENTRY_FIELDS - set(entry)), sorted(set(entry) - ENTRY_FIELDS)
            raise _Bad(f"line {n}: not an entry (" + "; ".join(
                p for p in (f"missing {', '.join(missing)}" if missing else "",
                            f"unexpected {', '.join(_short(k, 40) for k in extra)}" if extra else "") if p) + ")")
        seq, prev, record, sig, h = (entry[k] for k in ("seq", "prev", "record", "signature", "hash"))
        if type(seq) is not int or not all(isinstance(v, str) for v in (prev, record, sig, h)):
            raise _Bad(f"line {n}: seq must be an integer and prev, record, signature, hash strings")
        try:
            same = canonical(entry) == text
        except ValueError:
            same = False
        if not same:
            raise _Bad(f"line {n} is not canonical JSON (edited by hand?)")
        if seq != self.count + 1:
            raise _Bad(f"line {n}: seq {seq}, expected {self.count + 1} (an entry removed, repeated or moved)")
        if prev != self.head:
            raise _Bad(f"line {n}: prev does not link to the previous entry's hash (an entry removed, inserted or reordered)")
        if h != entry_hash(prev, record, sig):
            raise _Bad(f"line {n}: hash does not match the entry (the entry was edited)")
        try:
            c = Contribution.from_dict(json.loads(record))
        except (ValueError, RecursionError):
            raise _Bad(f"line {n}: record is not JSON") from None
        except InvalidInput as e:
            raise _Bad(f"line {n}: record: {_short(e.oneline(), 300)}") from None
        if c.record() != record:
            raise _Bad(f"line {n}: record is not canonical JSON (edited and re-hashed?)")

        if self.run is None:
            self.run = c.run
        elif c.run != self.run:
            raise _Bad(f"line {n}: entry of run {_short(c.run, 80)!r}, this ledger is run {_short(self.run, 80)!r} (replayed from another run)")
        raw_sig = _b64decode(sig)
        try:
            if raw_sig is None or len(raw_sig) != 64:
                raise InvalidSignature
            parse_public_key(c.peer).verify(raw_sig, signed_message(c.run, record))
        except InvalidSignature:
            raise _Bad(f"line {n}: the signature does not verify against the entry's peer key {c.peer} "
                       f"(forged, or edited and re-hashed)") from None
        if allowed is not None and c.peer not in allowed:
            raise _Bad(f"line {n}: peer {c.peer} is not an allowed peer")
        owner = self.owner.get(c.compute)
        if owner is not None and owner != c.peer:
            raise _Bad(f"line {n}: compute {c.compute} already reports under peer {owner}, not {c.peer}")
        last = self.latest.get(c.peer)
        if last is not None:
            if c.seq <= last.seq:
                raise _Bad(f"line {n}: report {c.seq} of peer {c.peer} does not come after its report {last.seq} (replayed or reordered)")
            if last.compute != c.compute:
                raise _Bad(f"line {n}: peer {c.peer} reported for {last.compute} before, now for {c.compute} (one compute id per key)")
            for name in ("samples", "steps"):
                before, after = getattr(last, name), getattr(c, name)
                if after < before:
                    raise _Bad(f"line {n}: peer {c.peer}'s {name} went down from {before} to {after} (totals are cumulative)")
        self.owner[c.compute] = c.peer
        self.latest[c.peer] = c
        self.count, self.head = seq, h


# ---------------------------------------------------------------- helpers


def _b64decode(text: str) -> bytes | None:
    """Strict, canonical base64 (padded, no whitespace, no spare bits), or None."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _first_line(fd: int) -> bytes:
    parts, pos = [], 0
    while True:
        b = os.pread(fd, 65536, pos)
        if not b:
            return b"".join(parts)
        cut = b.find(b"\n")
        if cut >= 0:
            parts.append(b[:cut])
            return b"".join(parts)
        parts.append(b)
        pos += len(b)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _json_type(v) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(v), "number")


def _short(v, n: int = 60) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."
