"""core/digests.py: cached file digests, folder digests, and the verification every stage runs."""

from __future__ import annotations

import hashlib
import os

import pytest

from charter.core import digests
from charter.core.assets import Asset
from charter.errors import IntegrityError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))


def test_file_digest_is_sha256_and_follows_edits(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"hello")
    assert digests.file_digest(f) == hashlib.sha256(b"hello").hexdigest()
    assert digests.file_digest(f) == hashlib.sha256(b"hello").hexdigest()  # from the cache
    st = os.stat(f)
    f.write_bytes(b"jello")  # same size; put the old mtime back: ctime still moves, so it is hashed again
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert digests.file_digest(f) == hashlib.sha256(b"jello").hexdigest()


def test_folder_digest_hand_checked(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "b.txt").write_bytes(b"B")
    (tmp_path / "w" / "a.txt").write_bytes(b"A")
    (tmp_path / "w" / ".cache").mkdir()
    (tmp_path / "w" / ".cache" / "x").write_bytes(b"ignored")
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    want = hashlib.sha256(b"a.txt\0" + sha(b"A").encode() + b"\n" + b"b.txt\0" + sha(b"B").encode() + b"\n").hexdigest()
    assert digests.folder_digest(tmp_path / "w") == want


def test_verify_weights_refuses_a_swapped_file_naming_both_hashes(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    (w / "model.safetensors").write_bytes(b"weights")
    reg = {"path": str(w), "sha256": digests.folder_digest(w)}
    assert digests.verify_weights("model/m@1", reg) == w
    (w / "model.safetensors").write_bytes(b"swapped")
    with pytest.raises(IntegrityError) as e:
        digests.verify_weights("model/m@1", reg)
    assert reg["sha256"][:16] in e.value.message and digests.folder_digest(w)[:16] in e.value.message
    assert e.value.where == str(w) and "new version" in e.value.hint
    with pytest.raises(IntegrityError):
        digests.verify_weights("model/m@1", {"path": str(w)})  # no digest registered: cannot be verified


def test_legacy_folder_hash_still_verifies(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    (w / "config.json").write_text("{}")
    digests.verify_weights("model/m@1", {"path": str(w), "sha256": digests.legacy_folder_hash(w)})


def test_verify_data_and_content_digests(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('{"text": "a"}\n')
    (tmp_path / "empty.jsonl").write_text("")
    a = Asset(id="dataset/d@1", kind="dataset", name="d", version="1",
              data={"files": [str(f)], "digests": digests.digests_of([f, tmp_path / "empty.jsonl"])})
    digests.verify_data(a)
    assert digests.content_digests(a) == {digests.file_digest(f)}  # the empty file binds nothing
    f.write_text('{"text": "b"}\n')
    with pytest.raises(IntegrityError) as e:
        digests.verify_data(a)
    assert e.value.where == str(f)
    f.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        digests.verify_data(a)
