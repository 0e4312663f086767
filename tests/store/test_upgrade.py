"""A registry written by an earlier release opens with this one, upgraded in place, without loss.

The fixture (fixtures/registry-schema6.db, made by fixtures/make_schema6.py with the schema-6 release) holds the
example ecosystem, decisions, a withdrawal, a withdrawal lifted, restrictions, a restriction lifted, an
application and its key, an owner's withdrawal of their records, an evaluated property and audit entries."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from charter.registry import Registry
from charter.serve import audit
from charter.store.sqlite import SCHEMA_VERSION, SQLiteStore

pytestmark = pytest.mark.sqlite_only("a SQLite registry file written by an older release (fixture)")

FIXTURE = Path(__file__).parent / "fixtures" / "registry-schema6.db"
HISTORY = ("assets", "events", "withdrawal_events", "restrictions", "restriction_lifts", "owner_withdrawals", "properties", "audit", "api_keys")


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in HISTORY}
    finally:
        con.close()


def test_schema_6_registry_upgrades_without_loss(tmp_path):
    db = tmp_path / "registry.db"
    shutil.copy(FIXTURE, db)
    before = counts(db)
    assert before == {"assets": 20, "events": 30, "withdrawal_events": 3, "restrictions": 2, "restriction_lifts": 1,
                      "owner_withdrawals": 1, "properties": 1, "audit": 3, "api_keys": 1}
    store = SQLiteStore(db)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    reg = Registry(store)
    try:
        assert counts(db) == before  # opening writes nothing of its own
        assert set(reg.withdrawals()) == {"dataset/forum-posts@1"}  # community-emails' withdrawal was lifted
        d = reg.check("application/helpdesk-bot@1", ["inference"])
        assert not d.allowed and "withdrawn" in {r.rule for r in d.reasons}
        d = reg.check("model/foundation-lm@1", ["inference", "military"])
        assert not d.allowed and any(r.source == "restriction" for r in d.reasons)
        assert not any(r.source == "restriction" for r in reg.check("model/open-lm@1", ["inference", "surveillance"]).reasons)
        assert set(store.owner_withdrawals()) == {"user-0042"}
        assert [(p.benchmark, p.metric, p.value) for p in store.properties("model/support-assistant@1")] == [("bbq", "amb_bias_score", 0.03)]
        assert len(store.api_keys("application/fixture-app@1")) == 1
        assert audit.verify(store).ok
        assert [e.data["allowed"] for e in store.events(type="decision")] == [True, False]
        for kind, allowed in ((None, None), ("model", ["fine-tuning", "commercial"]), (None, ["inference"])):  # listings (schema 7)
            assert reg.summaries(kind, allowed) == [(a.id, a.kind, a.name, a.version, a.licenses) for a, _ in reg.ls(kind, allowed)]
        with pytest.raises(sqlite3.DatabaseError, match="written once"):
            store.db.execute("UPDATE asset_listing SET licenses='[]'")
        reg.can("model/photo-tagger@1", ["face-recognition"])  # and it keeps working
        store.flush()
        assert counts(db)["events"] == before["events"] + 1
    finally:
        reg.close()


def test_a_registry_newer_than_this_release_is_refused(tmp_path):
    from charter.errors import StoreError

    db = tmp_path / "registry.db"
    shutil.copy(FIXTURE, db)
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this charter"):
        SQLiteStore(db)
