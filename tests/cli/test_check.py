"""charter check: a whole registry passes; each kind of damage, made with raw sqlite3 (or on PostgreSQL, raw SQL), is named."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from charter.registry import Registry
from charter.registry_check import check, expected_triggers
from charter.core.files import resource
from tests.cli.clirun import run
from tests.pgfixtures import ON_POSTGRES

RAW = "damages the registry file with raw sqlite3"
SQLITE_CHECKS = ["integrity", "foreign-keys", "triggers", "documents", "edges", "closure", "rows", "audit", "generations"]
POSTGRES_CHECKS = ["triggers", "documents", "edges", "closure", "rows", "audit", "generations"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    d = tmp_path_factory.mktemp("check")
    db = d / "r.db"
    fill(str(db))
    return db


def fill(db: str) -> None:
    """A small demo-like registry: the shipped ecosystem and llama examples, a withdrawal and its lift,
    a restriction, an API key and audit records."""
    examples = resource("examples")
    reg = Registry.open(db)
    reg.add_files([examples / "ecosystem.yaml", examples / "llama-upstream.yaml"])
    some = [a.id for a in reg.store.find()]
    reg.withdraw(some[0], "licence revoked")
    reg.lift(some[0], "licence restored")
    reg.restrict(some[1], ["military"], "owner's request")
    reg.can(some[-1], ["inference"])
    reg.store.add_api_key(next(i for i in some if i.startswith("application/")), "k1", "h" * 64)
    for i in range(3):
        reg.store.append_audit({"time": f"t{i}", "endpoint": "/v1/chat/completions", "status": 200, "decision": "allowed"})
    reg.close()


@pytest.fixture
def db(template, tmp_path):
    p = tmp_path / "r.db"
    shutil.copy(template, p)
    return p


def damage(db, *sql: str) -> None:
    c = sqlite3.connect(db, isolation_level=None)
    for s in sql:
        c.execute(s)
    c.close()


def failed(report) -> dict[str, str]:
    return {c.name: c.problem for c in report.checks if not c.ok}


def test_a_whole_registry_passes(db, capsys):
    code, out, err = run(capsys, "check", "--registry", str(db))
    assert code == 0, (out, err)
    assert out.count("ok ") == len(POSTGRES_CHECKS if ON_POSTGRES else SQLITE_CHECKS) and "FAILED" not in out
    code, out, _ = run(capsys, "check", "--registry", str(db), "--json")
    assert code == 0 and out["ok"] is True
    assert [c["name"] for c in out["checks"]] == (POSTGRES_CHECKS if ON_POSTGRES else SQLITE_CHECKS)
    assert next(c for c in out["checks"] if c["name"] == "audit")["checked"] == 3


def test_every_append_only_trigger_of_the_schema_is_known():
    want = expected_triggers()
    assert want["audit_append_only_d"] == ("audit", True)
    assert want["signatures_append_only_u"] == ("signatures", True)
    assert want["withdrawal_events_generation"] == ("withdrawal_events", False)
    assert sum(refuses for _, refuses in want.values()) >= 25


@pytest.mark.sqlite_only(RAW)
def test_a_dropped_trigger_fails(db, capsys):
    damage(db, "DROP TRIGGER audit_append_only_d")
    code, out, _ = run(capsys, "check", "--registry", str(db))
    assert code == 1
    assert "FAILED  triggers: trigger audit_append_only_d on audit is missing: the append-only protection was dropped" in out
    code, out, _ = run(capsys, "check", "--registry", str(db), "--json")
    assert code == 1 and out["ok"] is False
    assert [c["name"] for c in out["checks"] if not c["ok"]] == ["triggers"]


@pytest.mark.sqlite_only(RAW)
def test_a_neutered_trigger_fails(db):
    damage(db, "DROP TRIGGER assets_immutable",
           "CREATE TRIGGER assets_immutable BEFORE UPDATE ON assets BEGIN SELECT 1; END")
    assert failed(check(db)) == {"triggers": "trigger assets_immutable on assets no longer refuses the change (no RAISE(ABORT))"}


@pytest.mark.sqlite_only(RAW)
def test_a_deleted_closure_row_fails(db):
    c = sqlite3.connect(db)
    desc, anc = c.execute("SELECT descendant, ancestor FROM closure ORDER BY descendant, ancestor LIMIT 1").fetchone()
    d_id, a_id = (c.execute("SELECT id FROM assets WHERE rid=?", (r,)).fetchone()[0] for r in (desc, anc))
    c.close()
    damage(db, f"DELETE FROM closure WHERE descendant={desc} AND ancestor={anc}")
    bad = failed(check(db))
    assert list(bad) == ["closure"]
    assert bad["closure"].startswith(f"closure: {d_id}: ancestor {a_id} (distance ")
    assert bad["closure"].endswith("is missing")


@pytest.mark.sqlite_only(RAW)
def test_a_deleted_downstream_row_fails(db):
    damage(db, "DELETE FROM downstream WHERE (ancestor, depth, descendant) IN (SELECT ancestor, depth, descendant FROM downstream LIMIT 1)")
    bad = failed(check(db))
    assert list(bad) == ["closure"] and bad["closure"].startswith("downstream: ")


@pytest.mark.sqlite_only(RAW)
def test_an_edge_to_a_missing_asset_fails(db):
    c = sqlite3.connect(db)
    rid, aid = c.execute("SELECT rid, id FROM assets ORDER BY rid DESC LIMIT 1").fetchone()
    c.close()
    damage(db, "DROP TRIGGER edges_fixed_d", f"INSERT INTO edges VALUES ({rid}, 999999, 'trained-on')",
           "CREATE TRIGGER edges_fixed_d BEFORE DELETE ON edges BEGIN SELECT RAISE(ABORT, 'lineage edges are written once, at registration'); END")
    bad = failed(check(db))
    assert list(bad) == ["edges"]
    assert bad["edges"] == f"edges ({rid}, 999999, trained-on): {aid} derives from rid 999999, which is no registered asset"


@pytest.mark.sqlite_only(RAW)
def test_a_cycle_fails(db):
    c = sqlite3.connect(db)
    child, parent = c.execute("SELECT child, parent FROM edges LIMIT 1").fetchone()
    c.close()
    damage(db, f"INSERT INTO edges VALUES ({parent}, {child}, 'trained-on')")
    bad = failed(check(db))
    assert "edges" in bad
    c = check(db)
    edges = next(r for r in c.checks if r.name == "edges")
    assert edges.count == 2  # not in the charter's derived_from, and a cycle


@pytest.mark.sqlite_only(RAW)
def test_an_edited_audit_record_fails(db, capsys):
    damage(db, "DROP TRIGGER audit_append_only_u", """UPDATE audit SET record=replace(record, '"allowed"', '"denied"') WHERE seq=2""",
           "CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")
    code, out, _ = run(capsys, "check", "--registry", str(db))
    assert code == 1
    assert "FAILED  audit: audit seq 2: entry 2 was altered: its content does not match its hash" in out
    assert "FAILED  triggers" not in out


@pytest.mark.sqlite_only(RAW)
def test_an_edited_charter_fails(db):
    c = sqlite3.connect(db)
    aid = c.execute("SELECT id FROM assets WHERE rid=1").fetchone()[0]
    c.close()
    damage(db, "DROP TRIGGER assets_immutable", "UPDATE assets SET doc=doc || ' ' WHERE rid=1",  # still parses; another text
           "CREATE TRIGGER assets_immutable BEFORE UPDATE ON assets BEGIN SELECT RAISE(ABORT, 'registered asset versions are immutable'); END")
    bad = failed(check(db))
    assert list(bad) == ["documents"]
    assert bad["documents"].startswith(f"assets rid 1 ({aid}): its charter does not match its stored hash sha256:")


@pytest.mark.sqlite_only(RAW)
def test_missing_terms_and_listing_rows_fail(db):
    c = sqlite3.connect(db)
    aid = c.execute("SELECT id FROM assets WHERE rid=2").fetchone()[0]
    c.close()
    damage(db, "DELETE FROM asset_listing WHERE rid=2")
    assert failed(check(db)) == {"rows": f"asset_listing: {aid} (rid 2) has no row"}
    damage(db, "DELETE FROM asset_terms WHERE rid=1")
    rows = next(c for c in check(db).checks if c.name == "rows")
    assert rows.problem.startswith("asset_terms: ") and rows.problem.endswith("(rid 1) has no row") and rows.count == 2


@pytest.mark.sqlite_only(RAW)
def test_a_generation_moved_back_fails(db):
    damage(db, "UPDATE generations SET n=0 WHERE topic='policy'")
    bad = failed(check(db))
    assert list(bad) == ["generations"] and bad["generations"].startswith("generations: topic policy is at 0, behind the 3 rows")


def test_no_registry_is_an_error(tmp_path, capsys):
    code, _, err = run(capsys, "check", "--registry", str(tmp_path / "none.db"))
    assert code == 1 and "no registry at" in err and "fix:" in err
    assert not (tmp_path / "none.db").exists()


@pytest.mark.sqlite_only("a file that is no SQLite database")
def test_not_a_database_fails(tmp_path, capsys):
    p = tmp_path / "junk.db"
    p.write_bytes(b"not a database" * 100)
    code, out, _ = run(capsys, "check", "--registry", str(p))
    assert code == 1 and "FAILED  integrity: the file cannot be read as a SQLite database" in out


@pytest.mark.sqlite_only("a SQLite registry file written by an older release (fixture)")
def test_an_older_registry_passes_before_and_after_its_upgrade(tmp_path):
    from pathlib import Path

    from charter.store.sqlite import SQLiteStore

    p = tmp_path / "old.db"
    shutil.copy(Path(__file__).resolve().parents[1] / "store" / "fixtures" / "registry-schema6.db", p)
    assert check(p).ok, failed(check(p))  # the tables of later schemas are not required of it
    SQLiteStore(p).close()
    assert check(p).ok, failed(check(p))


@pytest.mark.sqlite_only(RAW)
def test_a_partial_asset_fails(db):
    """An asset whose edge, lineage or terms row is gone (what a torn registration would leave) is named."""
    c = sqlite3.connect(db)
    child, parent, rel = c.execute("SELECT child, parent, relation FROM edges ORDER BY child LIMIT 1").fetchone()
    cid, pid = (c.execute("SELECT id FROM assets WHERE rid=?", (r,)).fetchone()[0] for r in (child, parent))
    c.close()
    damage(db, "DROP TRIGGER edges_fixed_d", f"DELETE FROM edges WHERE child={child} AND parent={parent}",
           "CREATE TRIGGER edges_fixed_d BEFORE DELETE ON edges BEGIN SELECT RAISE(ABORT, 'lineage edges are written once, at registration'); END")
    assert failed(check(db))["edges"] == f"edges: {cid} -> {pid} ({rel}) is in its charter's derived_from but not in the edges table"
    damage(db, f"DELETE FROM lineage WHERE id='{cid}'")
    assert failed(check(db))["closure"] == f"lineage: {cid} has no compiled lineage row"


# --- PostgreSQL: the same checks over a read-only snapshot, damage made with raw SQL -----------------------
def pg_damage(url: str, *sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        for q in sql:
            c.execute(q)


def test_a_whole_postgres_registry_passes_and_damage_is_named(pg_url, capsys):
    fill(pg_url)
    code, out, err = run(capsys, "check", "--registry", pg_url, "--json")
    assert code == 0, (out, err)
    assert [c["name"] for c in out["checks"]] == POSTGRES_CHECKS
    assert next(c for c in out["checks"] if c["name"] == "audit")["checked"] == 3
    assert next(c for c in out["checks"] if c["name"] == "triggers")["checked"] >= 25

    pg_damage(pg_url, "ALTER TABLE audit DISABLE TRIGGER audit_append_only",
              """UPDATE audit SET record=replace(record, '"allowed"', '"denied"') WHERE seq=2""")
    code, out, _ = run(capsys, "check", "--registry", pg_url)
    assert code == 1
    assert "FAILED  triggers: trigger audit_append_only on audit is disabled" in out
    assert "FAILED  audit: audit seq 2: entry 2 was altered: its content does not match its hash" in out

    pg_damage(pg_url, "ALTER TABLE audit ENABLE TRIGGER audit_append_only", "DROP TRIGGER closure_append_only ON closure",
              "DELETE FROM closure WHERE (descendant, ancestor) IN (SELECT descendant, ancestor FROM closure ORDER BY 1, 2 LIMIT 1)")
    bad = failed(check(pg_url))
    assert set(bad) == {"triggers", "closure", "audit"}
    assert bad["triggers"] == "trigger closure_append_only on closure is missing: it was dropped"
    assert bad["closure"].startswith("closure: ") and bad["closure"].endswith("is missing")


def test_no_postgres_registry_is_an_error(pg_url, capsys):
    code, _, err = run(capsys, "check", "--registry", pg_url)
    assert code == 1 and "no registry in" in err and "fix:" in err
