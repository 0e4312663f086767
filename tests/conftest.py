"""The PostgreSQL pass (`./dev test --postgres`, i.e. ``CHARTER_TEST_BACKEND=postgres``): every SQLite registry a
test opens, in process or in a `charter` process it starts, is a database of its own on a throwaway PostgreSQL
server (one per worker, tests/pgfixtures.py) through charter.store.sqlite_as_postgres; the databases a test made
are dropped after it. Tests about SQLite itself are marked ``@pytest.mark.sqlite_only("why")`` and skipped there;
the run ends with the counts by marker and reason.

Shared fixtures for the model and training tests (tests/models, tests/training, tests/cli/test_models_cli.py).

A session builds, once per test worker: a small community corpus (charter.data.synth, 300
messages) registered and curated for commercial machine-translation fine-tuning, a tiny random
Llama (charter.models.tiny.make_tiny) and its registrations, all in a template SQLite registry.
Each test gets its own copy of that registry (``work``), so tests never see each other's writes.
Heavy modules (torch, transformers, peft) are imported inside the fixtures, so the other tests
never pay for them.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pgfixtures import ON_POSTGRES as POSTGRES
from tests.pgfixtures import pg_server, pg_url  # noqa: F401

if os.environ.get("CHARTER_TEST_BACKEND", "sqlite") not in ("sqlite", "postgres"):
    raise pytest.UsageError(f"CHARTER_TEST_BACKEND={os.environ['CHARTER_TEST_BACKEND']}: use sqlite or postgres")

MT = ("fine-tuning", "machine-translation", "commercial")
SOURCES = ("dataset/community-messages@1", "dataset/public-domain-books@2")
CURATED = "dataset/community-mt@1"
BASE = "model/tiny-lm@1"  # a tiny model fine-tuned from a publisher's model that denies biometric identification
PUBLISHER = "model/publisher-lm@1"
RAIL = "model/rail-lm@1"  # a tiny model under bigscience-openrail-m

LINEAGE = f"""\
assets:
  - id: {PUBLISHER}
    description: A publisher's general language model; its terms forbid biometric identification and surveillance.
    license: Apache-2.0
    uses: {{deny: [biometric-identification, surveillance]}}
"""


@dataclass
class Workspace:
    dir: Path
    db: Path  # the template registry (copied per test)
    corpus: Path
    tiny: Path  # a tiny model folder (config.json, safetensors, tokenizer)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    import torch

    # Two pytest workers on two cores: torch's default of one thread per core oversubscribes them,
    # and its spinning threads then make a tiny model's step ~100x slower (measured: 35 vs 3,000 tok/s).
    torch.set_num_threads(1)
    from charter.core.assets import Edge
    from charter.data.curate import CurateConfig, curate
    from charter.data.synth import write_community_corpus
    from charter.models.registry import add_folder
    from charter.models.tiny import make_tiny
    from charter.registry import Registry

    d = tmp_path_factory.mktemp("models")
    corpus = d / "corpus"
    db = d / "template.db"
    reg = Registry.open(str(db))
    reg.add_files([write_community_corpus(corpus, messages=300)])
    curate(reg, CurateConfig(SOURCES, MT, d / "curated-mt", name="community-mt", version="1"))
    (d / "lineage.yaml").write_text(LINEAGE)
    reg.add_files([d / "lineage.yaml"])
    tiny = make_tiny(d / "tiny")
    add_folder(reg, tiny, BASE, ("Apache-2.0",), derived_from=(Edge(BASE, PUBLISHER, "fine-tuned-from"),))
    add_folder(reg, tiny, RAIL, ("bigscience-openrail-m",))
    reg.close()
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0
    return Workspace(d, db, corpus, tiny)


@dataclass
class Work:
    reg: object  # charter.registry.Registry over db
    db: str
    dir: Path
    ws: Workspace


@pytest.fixture
def work(workspace, tmp_path):
    """A fresh copy of the template registry for one test, and a folder for its outputs."""
    from charter.registry import Registry

    db = tmp_path / "registry.db"
    shutil.copyfile(workspace.db, db)
    reg = Registry.open(str(db))
    yield Work(reg, str(db), tmp_path, workspace)
    reg.close()


@pytest.fixture(scope="session")
def smollm2_home(tmp_path_factory):
    """CHARTER_HOME for the real SmolLM2 path: the GGUF is converted into it once per session (~20 s)."""
    home = tmp_path_factory.mktemp("charter-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHARTER_HOME", str(home))
        from charter.models import smollm2

        smollm2.converted(progress=lambda m: None)
        yield home


def pytest_collection_modifyitems(config, items):
    """Run the slow (real SmolLM2) tests first, so under -n 2 they overlap the fast ones. In the PostgreSQL pass,
    skip the ``sqlite_only`` tests with their reason (a marker without one is an error)."""
    items.sort(key=lambda it: 0 if it.get_closest_marker("slow") else 1)
    for it in items:
        m = it.get_closest_marker("sqlite_only")
        if m is None:
            continue
        reason = m.args[0] if m.args else m.kwargs.get("reason")
        if not reason:
            raise pytest.UsageError(f"{it.nodeid}: @pytest.mark.sqlite_only needs a reason (why the test is about SQLite)")
        if POSTGRES:
            it.add_marker(pytest.mark.skip(reason=f"sqlite_only: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def _registries_on_postgres(request):
    """The PostgreSQL pass: point charter.store.sqlite_as_postgres at this worker's server, for this process and the
    processes its tests start."""
    if not POSTGRES:
        yield
        return
    from charter.store.sqlite_as_postgres import ENV

    os.environ[ENV] = request.getfixturevalue("pg_server")
    yield
    os.environ.pop(ENV, None)


@pytest.fixture(autouse=True)
def _drop_registry_databases():
    """The PostgreSQL pass: drop the registry databases this test made (fixtures of wider scope made theirs before)."""
    if not POSTGRES:
        yield
        return
    import psycopg

    from charter.store.pgserver import drop_database
    from charter.store.sqlite_as_postgres import ENV

    server = os.environ[ENV]
    q = "SELECT datname FROM pg_database WHERE datname LIKE 'sq\\_%'"
    with psycopg.connect(server, autocommit=True) as con:
        before = {n for (n,) in con.execute(q)}
    yield
    with psycopg.connect(server, autocommit=True) as con:
        made = {n for (n,) in con.execute(q)} - before
    for name in made:
        drop_database(server, name)


_tally: Counter = Counter()


def pytest_runtest_logreport(report):
    """Count outcomes for the PostgreSQL pass's summary (in the xdist controller too: it gets every report)."""
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.skipped:
            reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else "skipped"
            _tally["skipped: " + reason.removeprefix("Skipped: ")] += 1
        else:
            _tally[report.outcome] += 1
    elif report.when == "teardown" and report.failed:
        _tally["failed"] += 1


def pytest_terminal_summary(terminalreporter):
    if not POSTGRES:
        return
    ran = _tally["passed"] + _tally["failed"]
    only = sorted((k, v) for k, v in _tally.items() if k.startswith("skipped: sqlite_only: "))
    other = sum(v for k, v in _tally.items() if k.startswith("skipped: ") and not k.startswith("skipped: sqlite_only: "))
    tr = terminalreporter
    tr.section("PostgreSQL pass: registries on PostgreSQL (charter.store.sqlite_as_postgres)")
    tr.write_line(f"ran {ran} ({_tally['passed']} passed, {_tally['failed']} failed); skipped as sqlite_only {sum(v for _, v in only)}; "
                  f"skipped otherwise {other}")
    for k, v in only:
        tr.write_line(f"  {v:4d}  {k.removeprefix('skipped: ')}")

