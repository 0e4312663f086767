"""Identities (issue 18 §3): every write records its actor; roles and namespaces decide who may withdraw,
restrict, lift or register; a refusal is exit 3 and is itself recorded; data contributors withdraw their own
records with a consent token; the action log is append-only and hash-chained."""

from __future__ import annotations

import sqlite3

import pytest

from charter.cli.main import main
from charter.core.files import resource
from charter.core.identity import User, permit
from charter.errors import InvalidInput, NotPermitted
from charter.registry import Registry

ECO = str(resource("examples") / "ecosystem.yaml")


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "registry.db")


def run(*argv, actor: str | None = None) -> int:
    return main([*argv, *(["--as", actor] if actor else [])])


def test_the_rules_hand_checked():
    users = {"ada": User("ada", "admin"), "pub": User("pub", "publisher", ("model/acme-*",)), "cur": User("cur", "curator"),
             "aud": User("aud", "auditor"), "gone": User("gone", "none")}
    cases = [  # (actor, action, asset, kind, registered_by) -> (allowed, rule)
        (("ada", "withdraw", "model/other@1", None, None), (True, "admin")),
        (("pub", "withdraw", "model/acme-lm@1", None, None), (True, "owner")),
        (("pub", "withdraw", "model/other@1", None, None), (False, "outside-namespace")),
        (("pub", "add", "model/acme-lm@2", "model", None), (True, "owner")),
        (("pub", "add", "dataset/web@1", "dataset", None), (False, "outside-namespace")),
        (("pub", "user", None, None, None), (False, "role-cannot")),
        (("cur", "add", "dataset/web@1", "dataset", None), (True, "curator")),
        (("cur", "add", "model/x@1", "model", None), (False, "role-cannot")),
        (("cur", "withdraw", "dataset/web@1", None, None), (False, "role-cannot")),
        (("aud", "restrict", "model/acme-lm@1", None, None), (False, "role-cannot")),
        (("aud", "restrict", "application/mine@1", None, "aud"), (True, "own-registration")),
        (("gone", "add", "model/acme-lm@3", "model", None), (False, "not-a-user")),
        (("stranger", "lift", "model/acme-lm@1", None, None), (False, "not-a-user")),
    ]
    for (actor, action, asset, kind, reg_by), (allowed, rule) in cases:
        p = permit(users, actor, action, asset, kind, reg_by)
        assert (p.allowed, p.code) == (allowed, rule), (actor, action, asset, p)
    assert permit({}, "anyone", "withdraw", "model/x@1") .code == "open-registry"


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_a_personal_registry_records_who_did_what(db):
    assert run("add", ECO, "--registry", db, actor="alice") == 0
    assert run("withdraw", "dataset/forum-posts@1", "--reason", "takedown", "--registry", db, actor="bob") == 0
    reg = Registry.open(db)
    try:
        log = reg.actions()
        assert [(r["actor"], r["action"], r["allowed"], r["rule"]) for r in log] == [
            ("alice", "add", True, "open-registry"), ("bob", "withdraw", True, "open-registry")]
        assert log[0]["assets"]["n"] == len(reg.summaries(None, None)) == 15 and len(log[0]["assets"]["first"]) == 15
        assert log[1]["asset"] == "dataset/forum-posts@1" and log[1]["detail"]["reason"] == "takedown"
        assert reg.store.registered_by("model/foundation-lm@1") == "alice"
        assert reg.verify_actions() == (True, 2, "")
    finally:
        reg.close()


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_roles_and_namespaces_decide_and_refusals_are_recorded(db, capsys):
    assert run("add", ECO, "--registry", db, actor="ops") == 0
    assert run("user", "add", "ops", "--role", "admin", "--registry", db, actor="ops") == 0
    assert run("user", "add", "lena", "--role", "publisher", "--namespace", "model/foundation-*", "--registry", db, actor="ops") == 0
    assert run("user", "add", "mo", "--role", "publisher", "--namespace", "dataset/*", "--registry", db, actor="lena") == 3  # not an admin
    capsys.readouterr()
    # a publisher may restrict its own model, not someone else's
    assert run("restrict", "model/foundation-lm@1", "--deny", "military", "--reason", "policy", "--registry", db, actor="lena") == 0
    assert run("withdraw", "dataset/forum-posts@1", "--reason", "no", "--registry", db, actor="lena") == 3
    err = capsys.readouterr().err
    assert err.startswith("charter: denied: lena may not withdraw dataset/forum-posts@1: dataset/forum-posts@1 is outside lena's namespaces")
    assert run("withdraw", "dataset/forum-posts@1", "--reason", "no", "--registry", db, actor="eve") == 3  # not a user
    reg = Registry.open(db)
    try:
        assert "dataset/forum-posts@1" not in reg.withdrawals()  # nothing happened
        refused = [r for r in reg.actions() if not r["allowed"]]
        assert [(r["actor"], r["action"], r.get("asset"), r["rule"]) for r in refused] == [
            ("lena", "user", None, "role-cannot"), ("lena", "withdraw", "dataset/forum-posts@1", "outside-namespace"),
            ("eve", "withdraw", "dataset/forum-posts@1", "not-a-user")]
        assert [r["seq"] for r in reg.actions(actor="eve")] == [refused[-1]["seq"]]
        assert [r["action"] for r in reg.actions("model/foundation-lm@1")] == ["restrict"]
    finally:
        reg.close()
    assert run("withdraw", "dataset/forum-posts@1", "--reason", "takedown", "--registry", db, actor="ops") == 0  # the admin may


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_the_first_user_must_be_an_admin(db):
    reg = Registry.open(db)
    try:
        with pytest.raises(InvalidInput, match="first user must be an admin"):
            reg.add_user("lena", "publisher")
        reg.add_user("root", "admin")
        reg.actor = "lena"
        with pytest.raises(NotPermitted, match="not a user"):
            reg.add_user("lena", "admin")  # nobody grants themselves rights
    finally:
        reg.close()


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_a_consent_token_acts_for_its_owner_only(db, capsys):
    from pathlib import Path

    from charter.data.synth import write_community_corpus

    sources = write_community_corpus(Path(db).parent / "corpus", messages=200)
    assert run("add", str(sources), "--registry", db, actor="ops") == 0
    assert run("user", "add", "ops", "--role", "admin", "--registry", db, actor="ops") == 0
    capsys.readouterr()
    assert run("consent-token", "member-007", "--json", "--registry", db, actor="ops") == 0
    import json

    token = json.loads(capsys.readouterr().out)["token"]
    # the contributor has no registry rights, only the token
    assert run("withdraw-records", "--owner", "member-008", "--token", token, "--reason", "not me", "--registry", db, actor="member-007") == 3
    assert run("withdraw-records", "--owner", "member-007", "--token", token + "x", "--reason", "x", "--registry", db, actor="member-007") == 3
    assert run("withdraw-records", "--owner", "member-007", "--reason", "no token", "--registry", db, actor="member-007") == 3
    assert run("withdraw-records", "--owner", "member-007", "--token", token, "--reason", "remove me", "--registry", db, actor="member-007") == 0
    reg = Registry.open(db)
    try:
        assert set(reg.store.owner_withdrawals()) == {"member-007"}
        rows = [(r["actor"], r["action"], r["allowed"], r["rule"]) for r in reg.actions(actor="member-007")]
        assert rows == [("member-007", "withdraw-records", False, "bad-token"), ("member-007", "withdraw-records", False, "bad-token"),
                        ("member-007", "withdraw-records", False, "not-a-user"), ("member-007", "withdraw-records", True, "token")]
        assert reg.store.consent_token("0" * 64) is None
        raw = reg.store.db.execute("SELECT hash FROM consent_tokens").fetchall()
        assert len(raw) == 1 and token not in raw[0][0]  # stored hashed
    finally:
        reg.close()


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_the_action_log_is_append_only_and_tampering_is_detected(db, capsys):
    assert run("add", ECO, "--registry", db, actor="alice") == 0
    assert run("withdraw", "dataset/forum-posts@1", "--reason", "takedown", "--registry", db, actor="alice") == 0
    raw = sqlite3.connect(db)
    for sql in ("UPDATE actions SET actor='mallory'", "DELETE FROM actions"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(sql)
    raw.execute("DROP TRIGGER actions_append_only_u")  # someone with the file edits it anyway
    raw.execute("UPDATE actions SET record=replace(record, 'alice', 'mallory') WHERE seq=2")
    raw.commit()
    raw.close()
    capsys.readouterr()
    assert run("log", "--verify", "--registry", db) == 1
    assert "entry 2 was altered" in capsys.readouterr().err


def test_a_failed_write_leaves_no_record_and_a_write_commits_with_its_record(db):
    reg = Registry.open(db)
    try:
        reg.add_files([ECO])
        reg.withdraw("dataset/forum-posts@1", "takedown")
        from charter.errors import Conflict

        with pytest.raises(Conflict):
            reg.withdraw("dataset/forum-posts@1", "again")  # refused by the store before writing: no entry
        assert [r["action"] for r in reg.actions()] == ["add", "withdraw"]
        reg.restrict("model/open-lm@1", ["surveillance"], "later")
        assert [r["action"] for r in reg.actions()] == ["add", "withdraw", "restrict"]
    finally:
        reg.close()
