"""Running the gateway with uvicorn: in the foreground (``charter serve``, one or several worker
processes sharing the registry), or on a background thread (tests, the demo, the benchmark).

Shutdown is graceful: on SIGINT/SIGTERM uvicorn stops accepting connections, lets the requests in
progress finish (streams included) for up to ``graceful_timeout`` seconds, then the app closes its
model thread and the registry.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from charter.serve.limits import Limits

ENV = "CHARTER_GATEWAY_CONFIG"  # how worker processes get their configuration
FACTORY = "charter.serve.server:build"  # module:function that makes the app of a configuration


def _fast(kind: str):
    """uvloop / httptools when installed (they are pinned dependencies), else asyncio / h11; httptools
    through ``charter.serve.http.Corked`` (one write per response instead of two)."""
    import importlib.util

    if kind == "loop":
        return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if importlib.util.find_spec("httptools"):
        from charter.serve.http import Corked

        return Corked
    return "h11"


@dataclass
class ServeConfig:
    models: list[str]
    registry: str | None = None
    taxonomy: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    limits: Limits = field(default_factory=Limits)
    graceful_timeout: float = 30.0
    preload: bool = True
    log_level: str = "info"
    access_log: bool = False
    anchor_file: str | None = None  # audit anchors (audit.Anchorer), written by this process, not by each worker
    anchor_every: float = 60.0
    licenses: list[str] = field(default_factory=list)  # --licenses files: the same table in every worker
    model_process: bool = True  # the models in a child process (serve/worker.py); False: on a thread of the server
    factory: str = FACTORY  # what builds the app from this configuration: the gateway alone, or with more (`charter serve` adds the web view)

    def to_env(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "limits": dataclasses.asdict(self.limits)})

    @classmethod
    def from_env(cls, text: str) -> "ServeConfig":
        d = json.loads(text)
        d["limits"] = Limits(**d["limits"])
        return cls(**d)


def build(cfg: ServeConfig):
    """The app for a configuration, over its own registry connection (closed at shutdown)."""
    from charter.registry import Registry
    from charter.serve.app import create_app

    reg = Registry.open(cfg.registry, [Path(t) for t in cfg.taxonomy], create=False, license_files=[Path(x) for x in cfg.licenses])
    try:
        return create_app(reg, cfg.models, cfg.limits, preload=cfg.preload, close_registry=True, model_process=cfg.model_process)
    except BaseException:
        reg.close()
        raise


def app_for(cfg: ServeConfig):
    """The app ``cfg.factory`` builds (named, not imported here: a higher layer may wrap the gateway)."""
    import importlib

    module, _, name = cfg.factory.partition(":")
    return getattr(importlib.import_module(module), name)(cfg)


def app_from_env():
    """uvicorn's factory in each worker process (``charter serve --workers N``)."""
    parent = os.environ.get(PARENT_ENV, "")
    _end_with_parent(int(parent) if parent.isdigit() else 0)  # (set by _run; anything else: no pid to compare with)
    return app_for(ServeConfig.from_env(os.environ[ENV]))


PARENT_ENV = "CHARTER_GATEWAY_PARENT"  # the pid of the process that started the workers


def _end_with_parent(parent: int) -> None:
    """A worker of ``--workers N`` is told SIGTERM (uvicorn's graceful shutdown: requests in flight finish, their
    audit records are committed) when the process that started it ends, however it ends: a supervisor that was
    SIGKILLed otherwise leaves its workers serving on the port with nobody to stop them. Linux only (prctl);
    elsewhere they stay, as before."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:  # it ended before the line above: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)


def run(cfg: ServeConfig) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (writing audit anchors meanwhile, when configured)."""
    common = dict(host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=cfg.access_log, loop=_fast("loop"),
                  http=_fast("http"), timeout_graceful_shutdown=cfg.graceful_timeout, proxy_headers=False)  # audit the real peer
    anchorer = None
    if cfg.anchor_file and cfg.anchor_every > 0:
        from charter.serve.audit import Anchorer

        anchorer = Anchorer(cfg.registry, Path(cfg.anchor_file), cfg.anchor_every).start()
    try:
        _run(cfg, common)
    finally:
        if anchorer is not None:
            anchorer.stop()  # a last anchor, after the workers have committed their last records


def _run(cfg: ServeConfig, common: dict) -> None:
    import uvicorn

    if cfg.workers > 1:
        build(dataclasses.replace(cfg, preload=False)).state.gateway.reg.close()  # fail here, once, on a bad model or registry
        os.environ[ENV] = cfg.to_env()
        os.environ[PARENT_ENV] = str(os.getpid())
        uvicorn.run("charter.serve.server:app_from_env", factory=True, workers=cfg.workers, **common)
    else:
        server = uvicorn.Server(uvicorn.Config(app_for(cfg), **common))
        try:
            server.run()
        except SystemExit:  # uvicorn's way to report a failed startup (port in use, a model that cannot load)
            server.started = False
        if not server.started:
            from charter.errors import CharterError

            raise CharterError(f"the gateway did not start on {cfg.host}:{cfg.port}", hint="see the log above (port in use? a model that cannot load?)")


class Background:
    """A real uvicorn server on a background thread (loopback, a free port), for tests and the demo::

        with Background(app) as srv:
            httpx.get(srv.url + "/v1/models", ...)
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, graceful_timeout: float = 10.0, log_level: str = "warning"):
        import uvicorn

        self.config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, loop=_fast("loop"),
                                     http=_fast("http"), timeout_graceful_shutdown=graceful_timeout, proxy_headers=False)
        self.server = uvicorn.Server(self.config)  # off the main thread uvicorn leaves signals alone: the owner stops it
        self.thread = threading.Thread(target=self.server.run, name="charter-gateway", daemon=True)
        self.url = ""

    def __enter__(self) -> "Background":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
