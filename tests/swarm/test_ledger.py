"""The swarm contribution ledger: a hand-checked three-entry ledger, each attack a peer could try
detected at the right line, concurrent appends from two processes, bad key files as one-line errors,
and random byte edits either detected or leaving the file unchanged."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import stat
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.errors import IntegrityError, InvalidInput
from charter.swarm.ledger import (
    GENESIS,
    Contribution,
    Ledger,
    generate_key,
    load_key,
    parse_public_key,
    public_key_string,
)

RUN = "run-1"
T = "2026-01-01T00:00:00+00:00"
ALICE_PC, BOB_PC = "compute/alice-workstation@1", "compute/bob-laptop@2"


def fixed_key(byte: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32)


ALICE, BOB, MALLORY = fixed_key(1), fixed_key(2), fixed_key(3)


def pub(key) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


def contrib(key, compute, samples, steps, run=RUN, seq=None) -> Contribution:
    return Contribution(run=run, peer=pub(key), compute=compute, samples=samples, steps=steps, time=T, seq=seq)


def three(path: Path) -> Ledger:
    """alice 100/10, bob 50/5, alice 250/25 (cumulative)."""
    led = Ledger(path)
    led.append(contrib(ALICE, ALICE_PC, 100, 10), ALICE)
    led.append(contrib(BOB, BOB_PC, 50, 5), BOB)
    led.append(contrib(ALICE, ALICE_PC, 250, 25), ALICE)
    return led


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write(path: Path, ls: list[str]) -> None:
    path.write_text("".join(x + "\n" for x in ls))


def entries(path: Path) -> list[dict]:
    return [json.loads(x) for x in lines(path)]


def rechain(path: Path, es: list[dict]) -> None:
    """What an attacker can always do: renumber seq and recompute every prev and hash (no key needed)."""
    prev = GENESIS
    out = []
    for i, e in enumerate(es, 1):
        e = dict(e, seq=i, prev=prev)
        e["hash"] = prev = hashlib.sha256((prev + e["record"] + e["signature"]).encode()).hexdigest()
        out.append(json.dumps(e, sort_keys=True, separators=(",", ":")))
    write(path, out)


def bad(result, line: int, *words: str):
    assert not result.ok, result
    assert result.line == line, result
    for w in words:
        assert w in result.problem, result
    return result


# ---------------------------------------------------------------- a good ledger, by hand


def test_three_entries_by_two_peers_verify_with_hand_checked_totals_and_head(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    es = entries(p)
    # entry 1, rebuilt by hand: the canonical record, the signed message, the hash
    record1 = ('{"compute":"compute/alice-workstation@1","peer":"%s","run":"run-1","samples":100,"seq":1,'
               '"steps":10,"time":"2026-01-01T00:00:00+00:00"}' % pub(ALICE))
    assert es[0]["record"] == record1 and es[0]["prev"] == "0" * 64 and es[0]["seq"] == 1
    msg = b"charter-swarm-ledger/1\n" + json.dumps(
        {"record": record1, "run": "run-1"}, sort_keys=True, separators=(",", ":")).encode()
    sig1 = base64.b64decode(es[0]["signature"])
    assert sig1 == ALICE.sign(msg)  # Ed25519 is deterministic
    assert es[0]["hash"] == hashlib.sha256(("0" * 64 + record1 + es[0]["signature"]).encode()).hexdigest()
    assert [e["prev"] for e in es[1:]] == [es[0]["hash"], es[1]["hash"]]
    assert lines(p)[0] == json.dumps(es[0], sort_keys=True, separators=(",", ":"))  # canonical line
    # the same keys and times give the same ledger: its head is pinned
    assert led.head() == (3, es[2]["hash"])

    r = led.verify()
    assert (r.ok, r.entries, r.head, r.line, r.problem) == (True, 3, es[2]["hash"], None, "")
    expected = {ALICE_PC: {"samples": 250, "steps": 25, "peer": pub(ALICE)}, BOB_PC: {"samples": 50, "steps": 5, "peer": pub(BOB)}}
    assert r.totals == expected
    assert led.totals() == expected
    assert led.verify({pub(ALICE), pub(BOB)}, expect=(3, es[2]["hash"])).ok
    assert led.verify(expect=(2, es[1]["hash"])).ok  # an older head is a prefix: still fine
    assert led.verify(expect=(0, GENESIS)).ok


def test_empty_or_missing_ledger(tmp_path):
    led = Ledger(tmp_path / "ledger.jsonl")
    assert led.head() == (0, GENESIS)
    r = led.verify()
    assert r.ok and r.entries == 0 and r.head == GENESIS and r.totals == {}
    bad(led.verify(expect=(1, "a" * 64)), 1, "cut off")


def test_append_assigns_seq_and_time_and_refuses_wrong_peer_run_or_seq(tmp_path):
    led = Ledger(tmp_path / "ledger.jsonl")
    e = led.append(Contribution(RUN, pub(ALICE), ALICE_PC, 1, 1), ALICE)
    rec = json.loads(e["record"])
    assert e["seq"] == rec["seq"] == 1 and rec["time"].endswith("+00:00")
    with pytest.raises(InvalidInput, match="signing key"):
        led.append(contrib(ALICE, ALICE_PC, 2, 2), BOB)
    with pytest.raises(InvalidInput, match="this ledger is run"):
        led.append(contrib(ALICE, ALICE_PC, 2, 2, run="run-2"), ALICE)
    assert json.loads(led.append(Contribution(RUN, pub(ALICE), ALICE_PC, 2, 2, T, seq=5), ALICE)["record"])["seq"] == 5
    with pytest.raises(InvalidInput, match="does not come after its report 5"):  # report numbers only go up
        led.append(Contribution(RUN, pub(ALICE), ALICE_PC, 3, 3, T, seq=5), ALICE)
    assert led.append(contrib(ALICE, ALICE_PC, 3, 3), ALICE)["seq"] == 3  # the entry's position
    assert json.loads(entries(tmp_path / "ledger.jsonl")[-1]["record"])["seq"] == 6  # the report's number
    assert led.verify().ok


@pytest.mark.parametrize("kw, field", [
    (dict(samples=-1), "samples"), (dict(steps=1.5), "steps"), (dict(samples=True), "samples"),
    (dict(compute="dataset/x@1"), "compute"), (dict(compute="compute/x"), "compute"), (dict(run=""), "run"),
    (dict(peer="rsa:abc"), "peer"), (dict(time="yesterday"), "time"), (dict(time="2026-01-01T00:00:00"), "time"),
    (dict(seq=0), "seq"),
])
def test_contribution_fields_are_checked(kw, field):
    args = dict(run=RUN, peer=pub(ALICE), compute=ALICE_PC, samples=1, steps=1, time=T) | kw
    with pytest.raises(InvalidInput) as ei:
        Contribution(**args)
    assert ei.value.field == field


# ---------------------------------------------------------------- attacks


def test_edited_samples_count(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    ls = lines(p)
    ls[1] = ls[1].replace('\\"samples\\":50', '\\"samples\\":500')
    write(p, ls)
    bad(led.verify(), 2, "hash does not match")
    es = entries(p)  # the attacker re-hashes the chain: the signature still gives it away
    rechain(p, es)
    r = bad(led.verify(), 2, "signature")
    assert r.entries == 1 and r.head == es[0]["hash"] and list(r.totals) == [ALICE_PC]


def test_deleted_middle_line(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    ls = lines(p)
    head = led.head()
    write(p, [ls[0], ls[2]])
    bad(led.verify(), 2, "seq 3, expected 2")
    rechain(p, entries(p))  # renumbered and re-linked: every remaining report is genuine and in order,
    assert led.verify().ok  # so only the head recorded elsewhere (the model's charter cites it) tells
    bad(led.verify(expect=head), 3, "cut off")


def test_truncated_tail_is_caught_against_the_expected_head(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    head = led.head()
    write(p, lines(p)[:2])
    assert led.verify().ok  # a shorter ledger is self-consistent ...
    bad(led.verify(expect=head), 3, "2 entries", "cut off")  # ... but not the head a charter cited
    write(p, lines(p)[:1])
    bad(led.verify(expect=head), 2, "1 entries")


def test_rewritten_ledger_is_caught_against_the_expected_head(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    head = led.head()
    p.unlink()  # alice rewrites the whole ledger with her entries only, validly signed
    led.append(contrib(ALICE, ALICE_PC, 100, 10), ALICE)
    led.append(contrib(ALICE, ALICE_PC, 200, 20), ALICE)
    led.append(contrib(ALICE, ALICE_PC, 900, 90), ALICE)
    assert led.verify().ok
    bad(led.verify(expect=head), 3, "not the expected head")


def test_swapped_signatures(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    es = entries(p)
    es[0]["signature"], es[2]["signature"] = es[2]["signature"], es[0]["signature"]  # both alice's
    write(p, [json.dumps(e, sort_keys=True, separators=(",", ":")) for e in es])
    bad(led.verify(), 1, "hash does not match")
    rechain(p, es)
    bad(led.verify(), 1, "signature does not verify")


def test_forged_entry_under_another_peers_key(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    es = entries(p)
    rec = json.loads(es[1]["record"])  # mallory claims bob's work is hers ... by signing bob's record with her key
    es[1]["signature"] = base64.b64encode(MALLORY.sign(b"anything")).decode()
    rechain(p, es)
    bad(led.verify(), 2, "signature", pub(BOB)[:24])
    assert rec["peer"] == pub(BOB)


def test_peer_not_in_allowed_peers(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    led.append(contrib(MALLORY, "compute/mallory-box@1", 10**9, 10**6), MALLORY)
    assert led.verify().ok
    bad(led.verify({pub(ALICE), pub(BOB)}), 4, "not an allowed peer", pub(MALLORY)[:24])
    assert led.verify([pub(ALICE), pub(BOB), pub(MALLORY)]).ok
    with pytest.raises(IntegrityError, match="not an allowed peer") as ei:
        led.totals({pub(ALICE), pub(BOB)})
    assert ei.value.where == f"{p}:4"
    with pytest.raises(InvalidInput, match="ed25519:<base64") as ei:
        led.verify({pub(ALICE), "bob"})
    assert ei.value.field == "allowed_peers"
    with pytest.raises(InvalidInput, match="set of peers"):
        led.verify(pub(ALICE))


def test_entry_replayed_from_another_run(tmp_path):
    p, other = tmp_path / "ledger.jsonl", tmp_path / "other.jsonl"
    led = three(p)
    olds = Ledger(other)  # run-2: alice contributed 4 times
    for i in range(1, 5):
        olds.append(contrib(ALICE, ALICE_PC, 1000 * i, 100 * i, run="run-2"), ALICE)
    # at the same position (4), re-linked so that the chain holds: the record names run-2
    es = entries(p) + [entries(other)[3]]
    rechain(p, es)
    bad(led.verify(), 4, "run 'run-2'", "another run")
    # at another position: the record's run gives it away just the same
    es = entries(p)[:3] + [entries(other)[1]]
    rechain(p, es)
    bad(led.verify(), 4, "another run")
    # a whole ledger swapped for the other run's: caught when the ledger knows its run
    write(p, lines(other))
    assert led.verify().ok
    bad(Ledger(p, run=RUN).verify(), 1, "another run")


def test_replayed_entry_within_the_run(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    ls = lines(p)
    write(p, ls + [ls[1]])  # bob's entry again, as line 4
    bad(led.verify(), 4, "seq 2, expected 4")
    rechain(p, entries(p))
    bad(led.verify(), 4, "report 1 of peer", "does not come after its report 1")
    write(p, ls)  # and through the front door: refused, nothing written
    e = entries(p)[1]
    with pytest.raises(InvalidInput, match="does not come after"):
        led.append_signed(e["record"], e["signature"])
    assert lines(p) == ls


def test_decreasing_total(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    with pytest.raises(InvalidInput, match="samples went down from 250 to 80"):  # append refuses it
        led.append(contrib(ALICE, ALICE_PC, 80, 30), ALICE)
    force(p, contrib(ALICE, ALICE_PC, 80, 30, seq=3), ALICE)  # written around append: verify finds it
    bad(led.verify(), 4, "samples went down from 250 to 80")
    p2 = tmp_path / "l2.jsonl"
    led2 = three(p2)
    force(p2, contrib(BOB, BOB_PC, 60, 4, seq=2), BOB)
    bad(led2.verify(), 4, "steps went down from 5 to 4")


def test_one_compute_id_per_key(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    with pytest.raises(InvalidInput, match="already reports under peer"):
        led.append(contrib(MALLORY, ALICE_PC, 10**6, 10**6), MALLORY)  # mallory reports as alice's machine
    force(p, contrib(MALLORY, ALICE_PC, 10**6, 10**6, seq=1), MALLORY)
    bad(led.verify(), 4, "already reports under peer")
    p2 = tmp_path / "l2.jsonl"
    led2 = three(p2)
    force(p2, contrib(BOB, "compute/bob-server@1", 60, 6, seq=2), BOB)
    bad(led2.verify(), 4, "one compute id per key")


def force(path: Path, c: Contribution, key) -> None:
    """Append a signed report without append's checks (what someone editing the file can do)."""
    from charter.swarm.ledger import sign

    es = entries(path)
    record, sig = sign(c, key)
    prev = es[-1]["hash"] if es else GENESIS
    e = {"seq": len(es) + 1, "prev": prev, "record": record, "signature": sig,
         "hash": hashlib.sha256((prev + record + sig).encode()).hexdigest()}
    write(path, lines(path) + [json.dumps(e, sort_keys=True, separators=(",", ":"))])


@pytest.mark.parametrize("line2, words", [
    ('{"seq":2,"prev":', ("line 2 is not JSON",)),
    ("[1,2]", ("line 2 is a JSON array",)),
    ('"entry"', ("line 2 is a JSON string",)),
    ("null", ("line 2 is a JSON null",)),
    ("", ("line 2 is empty",)),
    ('{"seq":2}', ("missing hash, prev, record, signature",)),
])
def test_malformed_and_non_object_lines(tmp_path, line2, words):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    ls = lines(p)
    ls[1] = line2
    write(p, ls)
    bad(led.verify(), 2, *words)


def test_non_canonical_line_and_bad_bytes(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    ls = lines(p)
    write(p, [ls[0], json.dumps(json.loads(ls[1])), ls[2]])  # same content, with spaces
    bad(led.verify(), 2, "not canonical")
    p.write_bytes((ls[0] + "\n").encode() + b"\xff\xfe\n")
    bad(led.verify(), 2, "not UTF-8")


def test_incomplete_last_line(tmp_path):
    p = tmp_path / "ledger.jsonl"
    led = three(p)
    p.write_bytes(p.read_bytes()[:-1])
    bad(led.verify(), 3, "incomplete")
    with pytest.raises(IntegrityError, match="incomplete"):
        led.head()
    with pytest.raises(IntegrityError, match="incomplete"):
        led.append(contrib(ALICE, ALICE_PC, 300, 30), ALICE)
    p.write_bytes(p.read_bytes()[:-40] + b"\n")
    with pytest.raises(IntegrityError, match="not a ledger entry"):
        led.head()


def test_bad_expect_is_invalid_input(tmp_path):
    led = three(tmp_path / "ledger.jsonl")
    for expect in [(3,), ("3", "a" * 64), (3, "xyz"), (-1, GENESIS), (0, "a" * 64)]:
        with pytest.raises(InvalidInput, match="not a head"):
            led.verify(expect=expect)


# ---------------------------------------------------------------- concurrency


def _append_50(path: str, key_path: str, compute: str) -> None:
    led, key = Ledger(path), load_key(key_path)
    peer = public_key_string(key)
    for i in range(1, 51):
        led.append(Contribution(RUN, peer, compute, samples=10 * i, steps=i), key)


def test_concurrent_appends_from_two_processes(tmp_path):
    p = tmp_path / "ledger.jsonl"
    ka, kb = tmp_path / "a.pem", tmp_path / "b.pem"
    pa, pb = generate_key(ka), generate_key(kb)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_50, args=(str(p), str(k), c)) for k, c in ((ka, ALICE_PC), (kb, BOB_PC))]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    led = Ledger(p)
    r = led.verify({pa, pb})
    assert r.ok and r.entries == 100, r
    assert led.head() == (100, r.head)
    assert r.totals == {ALICE_PC: {"samples": 500, "steps": 50, "peer": pa}, BOB_PC: {"samples": 500, "steps": 50, "peer": pb}}
    assert [e["seq"] for e in entries(p)] == list(range(1, 101))


# ---------------------------------------------------------------- keys


def test_generate_and_load_key(tmp_path):
    k = tmp_path / "peer.pem"
    s = generate_key(k)
    assert stat.S_IMODE(k.stat().st_mode) == 0o600
    assert k.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    key = load_key(k)
    assert public_key_string(key) == public_key_string(key.public_key()) == s
    assert s.startswith("ed25519:") and len(base64.b64decode(s[8:])) == 32
    parse_public_key(s).verify(key.sign(b"m"), b"m")
    before = k.read_bytes()
    with pytest.raises(InvalidInput, match="refusing to overwrite") as ei:
        generate_key(k)
    assert k.read_bytes() == before and str(k) in str(ei.value)
    with pytest.raises(InvalidInput, match="cannot create"):
        generate_key(tmp_path / "no" / "such" / "dir.pem")


def _ec_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.mark.parametrize("content, words", [
    (None, "no such key file"),
    (b"", "not a PEM private key"),
    (b"hello\n", "not a PEM private key"),
    (fixed_key(9).public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
     "not a PEM private key"),
    (fixed_key(9).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"pw")), "encrypted"),
    ("ec", "not an Ed25519 key"),
    ("dir", "cannot read"),
])
def test_bad_key_files_are_one_line_errors(tmp_path, content, words):
    k = tmp_path / "peer.pem"
    if content == "ec":
        k.write_bytes(_ec_pem())
    elif content == "dir":
        k.mkdir()
    elif content is not None:
        k.write_bytes(content)
    with pytest.raises(InvalidInput) as ei:
        load_key(k)
    msg = str(ei.value)
    assert words in msg and str(k) in msg and "(fix: " in msg and "\n" not in msg


@pytest.mark.parametrize("text, words", [
    ("ssh-ed25519:" + base64.b64encode(b"x" * 32).decode(), "does not start with 'ed25519:'"),
    ("ed25519:not base64!", "not canonical base64"),
    ("ed25519:" + base64.b64encode(b"x" * 32).decode().rstrip("="), "not canonical base64"),
    ("ed25519:" + base64.b64encode(b"x" * 31).decode(), "31 bytes"),
    ("ed25519:" + base64.b64encode(b"x" * 33).decode(), "33 bytes"),
    (b"ed25519:", "not a public key string"),
])
def test_parse_public_key_is_strict(text, words):
    with pytest.raises(InvalidInput) as ei:
        parse_public_key(text)
    e = ei.value
    assert e.field == "peer" and words in e.message and "ed25519:<base64" in e.hint and "\n" not in str(e)
    with pytest.raises(InvalidInput) as ei:
        parse_public_key(text, field="allowed_peers[0]")
    assert ei.value.field == "allowed_peers[0]"


# ---------------------------------------------------------------- random edits


@lru_cache(maxsize=1)
def _original() -> tuple[bytes, tuple[int, str]]:
    with tempfile.TemporaryDirectory() as d:
        led = three(Path(d) / "ledger.jsonl")
        return (Path(d) / "ledger.jsonl").read_bytes(), led.head()


_edit = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 600)),
)


def _apply(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for op, pos, arg in edits:
        pos = pos % (len(b) + 1)
        if op == "set" and pos < len(b):
            b[pos] = arg
        elif op == "insert":
            b[pos:pos] = bytes([arg])
        elif op == "delete":
            del b[pos:pos + arg]
    return bytes(b)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_edit, min_size=1, max_size=4))
def test_random_byte_edits_are_detected_or_change_nothing(edits):
    data, head = _original()
    edited = _apply(data, edits)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "ledger.jsonl"
        p.write_bytes(edited)
        led = Ledger(p)
        r = led.verify(expect=head)
        if edited == data:
            assert r.ok and (r.entries, r.head) == head
        else:
            assert not r.ok and r.line is not None and r.problem
        # same-length edits (no line lost) are caught even without the expected head
        if len(edited) == len(data) and edited != data:
            assert not led.verify().ok
        try:
            led.head()
        except IntegrityError:
            pass


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "ledger.jsonl"
        p.write_bytes(data)
        r = Ledger(p).verify()
        assert r.ok == (data == b"")
        try:
            Ledger(p).head()
        except IntegrityError:
            pass


def test_key_file_mode_survives_umask(tmp_path):
    old = os.umask(0)
    try:
        generate_key(tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
