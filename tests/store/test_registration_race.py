"""A registration reads what its new versions inherit (their name's withdrawals and restrictions) and whether
their content was withdrawn under the write lock, on SQLite and PostgreSQL: a withdrawal another process commits
while the registration is being prepared is either seen, or comes after it in the log.

The hook: the registering store's first read of the withdrawals (the read that decides what is inherited) starts
another connection's withdrawal of the older version and gives it two seconds. Read outside the write
transaction (the bug), that withdrawal commits before the registration, which then writes the new version
without it; read inside, the withdrawal waits for the registration's commit and lands after it.
"""

from __future__ import annotations

import threading

import pytest

from charter.core.assets import Asset
from charter.store import open_store
from tests.store.test_contract import A

WAIT_S = 2.0


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else str(tmp_path / "registry.db")


def _withdraw_meanwhile(store, other, asset: str) -> list:
    """Make ``store.withdrawals()``'s first call start ``other.withdraw(asset)`` in a thread, after reading."""
    read, threads = store.withdrawals, []

    def hooked():
        got = read()
        if not threads:
            t = threading.Thread(target=other.withdraw, args=(asset, "withdrawn by another process"), daemon=True)
            threads.append(t)
            t.start()
            t.join(WAIT_S)  # done at once when nothing holds the write lock; else it waits for our commit
        return got

    store.withdrawals = hooked
    return threads


def _seq(store, type: str, asset: str) -> int:
    return next(e.seq for e in store.events(type=type, asset=asset))


@pytest.mark.parametrize("how", ["add", "add_many"])
def test_a_withdrawal_racing_a_registration_is_inherited_or_comes_after_it(url, how):
    store, other = open_store(url), open_store(url)
    try:
        store.add([A("model/m@1")])
        threads = _withdraw_meanwhile(store, other, "model/m@1")
        getattr(store, how)([A("model/m@2")])
        threads[0].join()
        withdrawn = other.withdrawals()
        assert "model/m@1" in withdrawn
        if _seq(other, "withdraw", "model/m@1") < _seq(other, "register", "model/m@2"):
            assert "model/m@2" in withdrawn, "m@2 was registered after m@1's withdrawal without inheriting it"
    finally:
        store.close()
        other.close()


@pytest.mark.parametrize("how", ["add", "add_many"])
def test_content_withdrawn_while_registering_is_refused_or_withdrawn_after(url, how):
    """The same for a withdrawal that binds content: the new asset carries the withdrawn asset's weights."""
    weights = {"weights": {"sha256": "ab" * 32, "digest": "folder-v2"}}
    store, other = open_store(url), open_store(url)
    try:
        store.add([Asset(id="model/w@1", kind="model", name="w", version="1", notes=weights)])
        store.add([A("dataset/unrelated@1")])  # a withdrawal exists, so the content check reads them
        other.withdraw("dataset/unrelated@1", "so that withdrawals are read")
        threads = _withdraw_meanwhile(store, other, "model/w@1")
        try:
            getattr(store, how)([Asset(id="model/copy@1", kind="model", name="copy", version="1", notes=weights)])
        except Exception as e:  # refused: the withdrawal was seen, under the lock
            assert "withdrawn" in str(e)
            threads[0].join()
            return
        threads[0].join()
        assert _seq(other, "withdraw", "model/w@1") > _seq(other, "register", "model/copy@1"), \
            "model/copy@1 was registered with the content of model/w@1 after model/w@1 was withdrawn"
    finally:
        store.close()
        other.close()
