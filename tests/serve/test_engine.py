"""serve/engine.py: a registered model is loaded only when its weights are the ones registered (issue 12, section 2)."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from charter.errors import IntegrityError
from tests.serve.conftest import Client, auth

SWAPPED = "model/swapped-lm@1"
APP = "application/swapped-app@1"


@pytest.fixture
def swapped(world, reg, tmp_path):
    """A copy of the tiny model registered as SWAPPED (with an application and a key), then its safetensors
    replaced by other bytes of the same size: the file a swap on disk would leave. Returns (folder, key)."""
    from charter.models.registry import add_folder
    from charter.serve.apps import add_application
    from charter.serve.keys import new_key

    folder = tmp_path / "weights"
    shutil.copytree(world.tiny, folder)
    add_folder(reg, folder, SWAPPED, ("Apache-2.0",))
    add_application(reg, APP, SWAPPED, ["text-generation"])
    key = new_key(reg, APP)[0]
    f = folder / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-8] + b"\0" * 8)
    return folder, key


def test_the_engine_refuses_swapped_weights(reg, swapped):
    """Before: the engine loaded whatever the registered folder held, and the gateway served it."""
    from charter.serve.engine import Engine

    folder, _ = swapped
    registered = next(f["sha256"] for f in reg.get(SWAPPED).notes["weights"]["files"] if f["path"] == "model.safetensors")
    found = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    e = Engine()
    try:
        with pytest.raises(IntegrityError) as err:
            e.load(SWAPPED, e.assets_for(reg, SWAPPED))
        assert err.value.where == str(folder.resolve() / "model.safetensors")
        assert f"registered sha256 {registered}, found {found}" in err.value.message
        assert e.loaded(SWAPPED) is None  # nothing half-loaded is kept for the next request
    finally:
        e.close()


def test_the_gateway_serves_no_text_from_swapped_weights(reg, swapped):
    from charter.serve.app import create_app
    from charter.serve.engine import Engine
    from charter.serve.limits import Limits

    _, key = swapped
    engine = Engine()
    try:
        r = Client(create_app(reg, [SWAPPED], Limits(rate=0), engine=engine)).post(
            "/v1/completions", json={"model": SWAPPED, "prompt": "hello", "max_tokens": 4}, headers=auth(key))
        assert r.status_code == 500 and "choices" not in r.json()
        err = r.json()["error"]
        assert err["code"] == "integrity" and "model.safetensors changed since registration" in err["message"]
        assert reg.store.audit_entries()[-1].data["code"] == "integrity"  # the refusal is audited with its reason
    finally:
        engine.close()


def test_charter_serve_does_not_start_on_swapped_weights(reg, swapped):
    """`charter serve` preloads its models: a swapped one stops the start, before any request."""
    import asyncio

    from charter.serve.app import create_app
    from charter.serve.engine import Engine
    from charter.serve.limits import Limits

    engine = Engine()
    app = create_app(reg, [SWAPPED], Limits(rate=0), engine=engine, preload=True)

    async def start():
        async with app.router.lifespan_context(app):
            pass

    try:
        with pytest.raises(IntegrityError, match="model.safetensors changed since registration"):
            asyncio.run(start())
    finally:
        engine.close()
