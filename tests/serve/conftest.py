"""Fixtures for the gateway tests.

Once per test worker: a tiny random Llama (charter.models.tiny.make_tiny), registered as
model/tiny-lm@1 fine-tuned from a publisher's model that denies biometric identification and
surveillance; a second model (model/other-lm@1); applications deployed from tiny-lm (a translator,
a face finder, a summarizer) with one key each, all in a template SQLite registry. Each test gets
its own copy of that registry; the model is loaded once per worker (one shared Engine).
"""

from __future__ import annotations

import asyncio
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import LINEAGE, PUBLISHER  # the publisher that denies biometric identification

MODEL = "model/tiny-lm@1"
OTHER = "model/other-lm@1"
TRANSLATE = "application/translate@1"
FACES = "application/faces@1"
SUMMARIZE = "application/summarize@1"
OTHER_APP = "application/other@1"


@dataclass
class World:
    dir: Path
    db: Path  # the template registry (copied per test)
    tiny: Path
    keys: dict  # application id -> its key


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    import torch

    torch.set_num_threads(1)  # two pytest workers on two cores (see tests/conftest.py)
    from charter.core.assets import Edge
    from charter.models.registry import add_folder
    from charter.models.tiny import make_tiny
    from charter.registry import Registry
    from charter.serve.apps import add_application
    from charter.serve.keys import new_key

    d = tmp_path_factory.mktemp("gateway")
    db = d / "template.db"
    reg = Registry.open(str(db))
    (d / "lineage.yaml").write_text(LINEAGE)
    reg.add_files([d / "lineage.yaml"])
    tiny = make_tiny(d / "tiny")
    add_folder(reg, tiny, MODEL, ("Apache-2.0",), derived_from=(Edge(MODEL, PUBLISHER, "fine-tuned-from"),))
    add_folder(reg, tiny, OTHER, ("Apache-2.0",))
    add_application(reg, TRANSLATE, MODEL, ["machine-translation", "commercial"])
    add_application(reg, FACES, MODEL, ["face-recognition", "commercial"])
    add_application(reg, SUMMARIZE, MODEL, ["inference", "summarization", "machine-translation"])
    add_application(reg, OTHER_APP, OTHER, ["text-generation"])
    keys = {a: new_key(reg, a)[0] for a in (TRANSLATE, FACES, SUMMARIZE, OTHER_APP)}
    reg.close()
    return World(d, db, tiny, keys)


@pytest.fixture(scope="session")
def engine():
    from charter.serve.engine import Engine

    e = Engine()
    yield e
    e.close()


@pytest.fixture
def db(world, tmp_path) -> str:
    path = tmp_path / "registry.db"
    shutil.copyfile(world.db, path)
    return str(path)


@pytest.fixture
def reg(db):
    from charter.registry import Registry

    r = Registry.open(db)
    yield r
    r.close()


@pytest.fixture
def make_app(reg, engine):
    """make_app(**limits) -> the gateway app over this test's registry, serving tiny-lm and other-lm."""
    from charter.serve.app import create_app
    from charter.serve.limits import Limits

    def make(models=(MODEL, OTHER), **limits):
        return create_app(reg, list(models), Limits(**{"rate": 0, **limits}), engine=engine)

    return make


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class Client:
    """Synchronous calls into an ASGI app through httpx.ASGITransport (in process, no socket)."""

    def __init__(self, app):
        self.app = app

    def request(self, method: str, path: str, **kw):
        import httpx

        async def go():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gateway") as c:
                r = await c.request(method, path, **kw)
                await r.aread()
                return r

        r = asyncio.run(go())
        gw = getattr(self.app.state, "gateway", None)
        if gw is not None:  # a completion's end record is committed just after its answer: read it whole
            gw.writer.settled()
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)


@pytest.fixture
def client(make_app):
    return Client(make_app())


@contextmanager
def serve_process(db: str, *args: str, env: dict | None = None):
    """`charter serve MODEL` as users run it, on a free port; yields (process, base URL) once /health answers."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from charter.serve.server import free_port

    port = free_port()
    exe = Path(sys.executable).parent / "charter"
    p = subprocess.Popen([str(exe), "serve", MODEL, "--port", str(port), "--registry", db, "--log-level", "warning", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert p.poll() is None, p.communicate()[1]
            assert time.monotonic() < deadline, "charter serve did not start"
            time.sleep(0.2)
        yield p, base
    finally:
        if p.poll() is None:  # stopped as users stop it: a SIGKILL would orphan --workers' processes (uvicorn's)
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


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
