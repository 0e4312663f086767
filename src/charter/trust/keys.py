"""Publisher keys (Ed25519, PEM files mode 0600, never in the registry) and the trust store (which public
key may sign for which asset namespaces).

Keys live in ``--keys DIR``, else ``$CHARTER_KEYS``, else ``~/.charter/keys``: ``NAME.key`` (private) and
``NAME.pub`` (``ed25519:<base64>``). The trust store is one JSON file, ``--trust FILE``, else
``$CHARTER_TRUST``, else ``~/.charter/trust.json``: ``{"format": "charter-trust/1", "keys": [{"name",
"key", "keyid", "for": [patterns], "added"}]}``; a pattern is an asset id glob (``model/acme-*``) matched
against ``kind/name@version`` and ``kind/name``."""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.signer import CryptoSigner, SSlibKey

from charter.errors import InvalidInput, NotFound, UsageError
from charter.swarm.ledger import generate_key, load_key, parse_public_key, public_key_string

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PATTERN = re.compile(r"(\*|(dataset|model|application|compute)/[A-Za-z0-9._*?@-]+)")
TRUST_FORMAT = "charter-trust/1"


def keys_dir(folder: str | os.PathLike | None = None) -> Path:
    return Path(folder or os.environ.get("CHARTER_KEYS") or Path.home() / ".charter" / "keys")


def trust_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("CHARTER_TRUST") or Path.home() / ".charter" / "trust.json")


def keyid_of(public: Ed25519PublicKey) -> str:
    """securesystemslib's default key id (sha256 of the key's canonical description): what DSSE signatures carry."""
    return SSlibKey.from_crypto(public).keyid


@dataclass(frozen=True)
class PublisherKey:
    """A loaded private key: its name, its public key string and key id, and a securesystemslib signer."""

    name: str
    private: Ed25519PrivateKey
    public: str
    keyid: str

    @cached_property
    def signer(self) -> CryptoSigner:
        pub = self.private.public_key()
        return CryptoSigner(self.private, SSlibKey.from_crypto(pub, keyid=self.keyid))


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a key name", hint="use letters, digits, '.', '_' or '-' (at most 64), e.g. acme-release")
    return name


def new_key(name: str, folder: str | os.PathLike | None = None) -> tuple[Path, str, str]:
    """Create ``NAME.key`` (mode 0600; never overwritten) and ``NAME.pub``; returns (key path, public key, key id)."""
    d = keys_dir(folder)
    _check_name(name)
    path = d / f"{name}.key"
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        pub = generate_key(path)
        (d / f"{name}.pub").write_text(pub + "\n", encoding="ascii")
    except OSError as e:
        raise InvalidInput(f"cannot write the key ({e.strerror})", where=str(d), hint="pass --keys DIR with a writable folder") from None
    return path, pub, keyid_of(parse_public_key(pub))


def load(name: str, folder: str | os.PathLike | None = None) -> PublisherKey:
    """The key ``NAME`` (or a path to a key file)."""
    p = Path(name)
    if not (p.suffix == ".key" and p.exists()):
        p = keys_dir(folder) / f"{_check_name(name)}.key"
        if not p.exists():
            raise NotFound(f"no key named {name!r} in {p.parent}", hint=f"create one with `charter key new {name}`, or pass --keys DIR")
    key = load_key(p)
    mode = p.stat().st_mode & 0o077
    if mode:
        raise InvalidInput(f"the private key file is readable by others (mode {p.stat().st_mode & 0o777:o})", where=str(p),
                           hint=f"chmod 600 {p}")
    return PublisherKey(p.stem, key, public_key_string(key), keyid_of(key.public_key()))


def public_key_from(text: str) -> str:
    """A public key string, or a ``.pub`` file holding one; validated."""
    t = text.strip()
    if not t.startswith("ed25519:") and Path(t).is_file():
        try:
            t = Path(t).read_text(encoding="ascii", errors="replace").strip()
        except OSError as e:
            raise InvalidInput(f"cannot read the public key file ({e.strerror})", where=t, hint="pass ed25519:... or a readable .pub file") from None
    parse_public_key(t, field="PUBKEY")
    return t


@dataclass
class TrustedKey:
    name: str
    key: str
    keyid: str
    patterns: list[str] = field(default_factory=list)
    added: str = ""

    def covers(self, asset_id: str) -> bool:
        base = asset_id.rsplit("@", 1)[0]
        return any(fnmatch.fnmatchcase(asset_id, p) or fnmatch.fnmatchcase(base, p) for p in self.patterns)

    def to_json(self) -> dict:
        return {"name": self.name, "key": self.key, "keyid": self.keyid, "for": list(self.patterns), "added": self.added}


class TrustStore:
    """Public keys and the asset namespaces each may sign for. ``verifier(keyid)``: the key's Ed25519
    public key, parsed once (verifying 10,000 signatures parses each signer once)."""

    def __init__(self, keys: list[TrustedKey] | None = None, path: Path | None = None):
        self.keys = keys or []
        self.path = path
        self._by_id = {k.keyid: k for k in self.keys}
        self._pub: dict[str, Ed25519PublicKey] = {}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "TrustStore":
        p = trust_path(path)
        if not p.exists():
            return cls([], p)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            keys = [TrustedKey(k["name"], k["key"], k["keyid"], list(k["for"]), k.get("added", "")) for k in doc["keys"]]
            for k in keys:
                if keyid_of(parse_public_key(k.key)) != k.keyid:
                    raise ValueError(f"key {k.name}: its keyid does not match its key")
        except (OSError, ValueError, KeyError, TypeError, InvalidInput) as e:
            raise InvalidInput(f"not a trust store ({e})", where=str(p), hint="fix or remove the file; `charter trust add` writes it") from None
        return cls(keys, p)

    def get(self, keyid: str) -> TrustedKey | None:
        return self._by_id.get(keyid)

    def public(self, keyid: str) -> Ed25519PublicKey:
        k = self._pub.get(keyid)
        if k is None:
            k = self._pub[keyid] = parse_public_key(self._by_id[keyid].key)
        return k

    def add(self, public: str, patterns: list[str], name: str | None = None) -> TrustedKey:
        """Trust ``public`` for ``patterns`` (added to those it has) and write the file atomically."""
        public = public_key_from(public)
        for p in patterns:
            if not _PATTERN.fullmatch(p):
                raise UsageError(f"{p!r} is not an asset namespace pattern", hint="e.g. model/acme-*, dataset/*, or * for every asset")
        if not patterns:
            raise UsageError("trusting a key needs at least one namespace", hint="pass --for PATTERN, e.g. --for 'model/acme-*'")
        kid = keyid_of(parse_public_key(public))
        k = self._by_id.get(kid)
        if k is None:
            k = TrustedKey(_check_name(name) if name else kid[:12], public, kid, [], _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
            self.keys.append(k)
            self._by_id[kid] = k
        k.patterns = list(dict.fromkeys([*k.patterns, *patterns]))
        self.save()
        return k

    def save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"format": TRUST_FORMAT, "keys": [k.to_json() for k in self.keys]}, indent=2) + "\n", encoding="utf-8")
            tmp.replace(self.path)
        except OSError as e:
            raise InvalidInput(f"cannot write the trust store ({e.strerror})", where=str(self.path), hint="pass --trust FILE in a writable folder") from None
