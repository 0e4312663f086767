"""API keys. A key is shown once, when it is made; the registry keeps only its sha256 (keys are
256-bit random, so a plain hash is as strong as a slow one) and an id that is safe to show and log.

    ck-<key id: 12 hex>-<secret: 43 url-safe characters>
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict

from charter.registry import Registry
from charter.serve.apps import Application, app_id
from charter.store.base import ApiKey

PREFIX = "ck-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key(reg: Registry, application: str) -> tuple[str, ApiKey]:
    """Make a key for a registered application. Returns (the key, shown only now; its stored record)."""
    aid = app_id(application) if "@" not in application else application
    Application.of(reg.get(aid))  # a registered application, deployed from one model
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}-{secrets.token_urlsafe(32)}"
    with reg.guarded("key", [(aid, "application")], {"key_id": key_id}):  # the application's owner or an admin
        return key, reg.store.add_api_key(aid, key_id, hash_key(key))


def revoke_key(reg: Registry, key_id: str) -> ApiKey:
    """Revoke a key (its record stays, marked revoked)."""
    app = next((k.application for k in reg.store.api_keys() if k.key_id == key_id), None)
    with reg.guarded("key", [(app, "application")] if app else [], {"revoke": key_id}):
        return reg.store.revoke_api_key(key_id)


class KeyCache:
    """key -> its live record (None: unknown or revoked), remembered until any key is added or
    revoked, in this process or another (``Store.api_keys_version``). Bounded: unknown keys are
    never remembered, so guessing cannot grow it."""

    def __init__(self, store, size: int = 4096):
        self.store = store
        self.size = size
        self._version: object = None
        self._hits: OrderedDict[str, ApiKey] = OrderedDict()

    def lookup(self, key: str, version: object = None) -> ApiKey | None:
        """``version``: ``api_keys_version()`` as the caller just read it (else read here)."""
        v = self.store.api_keys_version() if version is None else version
        if v != self._version:
            self._hits.clear()
            self._version = v
        k = self._hits.get(key)
        if k is not None:
            return k
        k = self.store.api_key(hash_key(key))
        if k is None or k.revoked:
            return None
        self._hits[key] = k
        if len(self._hits) > self.size:
            self._hits.popitem(last=False)
        return k
