"""serve/engine.py: a registered model is loaded only when its weights are the ones registered (issue 12, section 2)."""

from __future__ import annotations

import hashlib

import pytest

from charter.errors import IntegrityError
from tests.serve.conftest import SWAPPED, Client, auth


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
