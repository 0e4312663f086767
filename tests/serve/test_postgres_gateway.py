"""The gateway on a PostgreSQL registry: decided, audited (one verifiable chain through the audit writer's own
connection), and live: a withdrawal, a restriction or a revoked key from another connection applies to the next request.
The registry is built like the SQLite template (tests/serve/conftest.py) in a fresh database (tests/pgfixtures.py)."""

from __future__ import annotations

import pytest

from tests.serve.conftest import FACES, MODEL, TRANSLATE, Client, auth
from tests.conftest import LINEAGE, PUBLISHER


@pytest.fixture
def pg_reg(world, pg_url, tmp_path):  # noqa: F811
    from charter.core.assets import Edge
    from charter.models.registry import add_folder
    from charter.registry import Registry
    from charter.serve.apps import add_application
    from charter.serve.keys import new_key

    reg = Registry.open(pg_url)
    (tmp_path / "lineage.yaml").write_text(LINEAGE)
    reg.add_files([tmp_path / "lineage.yaml"])
    add_folder(reg, world.tiny, MODEL, ("Apache-2.0",), derived_from=(Edge(MODEL, PUBLISHER, "fine-tuned-from"),))
    add_application(reg, TRANSLATE, MODEL, ["machine-translation", "commercial"])
    add_application(reg, FACES, MODEL, ["face-recognition", "commercial"])
    keys = {a: new_key(reg, a)[0] for a in (TRANSLATE, FACES)}
    yield reg, keys
    reg.close()


def test_the_gateway_on_postgres(pg_reg, pg_url, engine):  # noqa: F811
    from charter.registry import Registry
    from charter.serve.app import create_app
    from charter.serve.audit import verify
    from charter.serve.keys import new_key
    from charter.serve.limits import Limits

    reg, keys = pg_reg
    app = create_app(reg, [MODEL], Limits(rate=0), engine=engine)
    client = Client(app)

    def complete(key):
        return client.post("/v1/completions", json={"model": MODEL, "prompt": "the river", "max_tokens": 2, "temperature": 0}, headers=auth(key))

    assert complete(keys[TRANSLATE]).status_code == 200
    assert complete(keys[FACES]).status_code == 403
    assert complete("sk-nope").status_code == 401
    other = Registry.open(pg_url)  # another process's connection
    try:
        fresh, _ = new_key(other, TRANSLATE)
        assert complete(fresh).status_code == 200
        other.store.revoke_api_key(other.store.api_keys(TRANSLATE)[0].key_id)
        assert complete(keys[TRANSLATE]).status_code == 401 and complete(fresh).status_code == 200
        other.restrict(PUBLISHER, ["machine-translation"], "no translation from now on")
        assert complete(fresh).status_code == 403
        other.withdraw(PUBLISHER, "the publisher withdrew the weights")
        r = complete(fresh)
        assert r.status_code == 451 and "the publisher withdrew the weights" in r.json()["error"]["message"]
    finally:
        other.close()
    entries = reg.store.audit_entries()
    assert [(e.data["status"]) for e in entries][-5:] == [401, 200, 200, 403, 451]  # a completion: start and end
    v = verify(reg.store, reg.store.audit_head())
    assert v.ok and v.entries == len(entries) >= 8


def test_two_gateway_processes_refuse_the_next_request_after_a_third_withdraws(pg_reg, pg_url):  # noqa: F811
    """Issue 18 §4: two `charter serve` processes on one PostgreSQL registry; a withdrawal from a third process
    (the CLI) makes both answer 451 to their very next request."""
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from tests.serve.conftest import serve_process

    reg, keys = pg_reg
    body = {"model": MODEL, "prompt": "the river", "max_tokens": 1, "temperature": 0}
    with serve_process(pg_url) as (_, a), serve_process(pg_url) as (_, b):
        for base in (a, b):
            assert httpx.post(base + "/v1/completions", json=body, headers=auth(keys[TRANSLATE]), timeout=60).status_code == 200
        exe = Path(sys.executable).parent / "charter"
        subprocess.run([str(exe), "withdraw", PUBLISHER, "--reason", "recalled by the publisher", "--registry", pg_url], check=True,
                       capture_output=True)
        for base in (a, b):
            r = httpx.post(base + "/v1/completions", json=body, headers=auth(keys[TRANSLATE]), timeout=60)
            assert r.status_code == 451 and "recalled by the publisher" in r.json()["error"]["message"]
