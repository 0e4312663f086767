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


def _weights(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    (w / "config.json").write_text("{}")
    (w / "model.safetensors").write_bytes(b"weights")
    return w


def test_weights_digest_records_the_algorithm_and_each_file(tmp_path):
    w = _weights(tmp_path)
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    rec = digests.weights_digest(w)
    assert rec == {"sha256": digests.folder_digest(w), "digest": "folder-v2",
                   "files": [{"path": "config.json", "sha256": sha(b"{}"), "bytes": 2},
                             {"path": "model.safetensors", "sha256": sha(b"weights"), "bytes": 7}]}


def test_verify_weights_refuses_a_swapped_file_naming_it_and_both_hashes(tmp_path):
    w = _weights(tmp_path)
    reg = {"path": str(w), **digests.weights_digest(w)}
    assert digests.verify_weights("model/m@1", reg) == w
    (w / "model.safetensors").write_bytes(b"swapped")
    with pytest.raises(IntegrityError) as e:
        digests.verify_weights("model/m@1", reg)
    want = (f"model/m@1's weights file model.safetensors changed since registration (registered sha256 "
            f"{hashlib.sha256(b'weights').hexdigest()}, found {hashlib.sha256(b'swapped').hexdigest()})")
    assert e.value.message == want and e.value.where == str(w / "model.safetensors") and "new version" in e.value.hint
    with pytest.raises(IntegrityError):
        digests.verify_weights("model/m@1", {"path": str(w)})  # no digest registered: cannot be verified


def test_verify_weights_refuses_an_added_or_missing_file(tmp_path):
    w = _weights(tmp_path)
    reg = {"path": str(w), **digests.weights_digest(w)}
    (w / "extra.safetensors").write_bytes(b"more")
    with pytest.raises(IntegrityError, match="extra.safetensors was added since registration"):
        digests.verify_weights("model/m@1", reg)
    (w / "extra.safetensors").unlink()
    (w / ".cache").mkdir()  # tools' caches are not part of the weights
    (w / ".cache" / "x").write_bytes(b"x")
    digests.verify_weights("model/m@1", reg)
    (w / "config.json").unlink()
    with pytest.raises(IntegrityError, match="config.json is missing"):
        digests.verify_weights("model/m@1", reg)


def test_legacy_folder_hash_verifies_and_is_cached(tmp_path, monkeypatch):
    """Registrations made before folder-v2 carry the old whole-folder hash (no marker): still verified."""
    w = _weights(tmp_path)
    want = hashlib.sha256(b"config.json\0{}" + b"model.safetensors\0weights").hexdigest()  # names and raw bytes
    assert digests.legacy_folder_hash(w) == want
    digests.verify_weights("model/m@1", {"path": str(w), "sha256": want})

    def no_reading(*a, **k):
        raise AssertionError("read again")
    monkeypatch.setattr(digests, "open", no_reading, raising=False)
    assert digests.legacy_folder_hash(w) == want  # the second run hashes nothing
    monkeypatch.undo()
    (w / "model.safetensors").write_bytes(b"swapped")
    with pytest.raises(IntegrityError) as e:
        digests.verify_weights("model/m@1", {"path": str(w), "sha256": want})
    assert want in e.value.message and digests.legacy_folder_hash(w) in e.value.message and e.value.where == str(w)


def test_an_unmarked_folder_digest_still_verifies(tmp_path):
    w = _weights(tmp_path)
    digests.verify_weights("model/m@1", {"path": str(w), "sha256": digests.folder_digest(w)})
    with pytest.raises(IntegrityError):
        digests.verify_weights("model/m@1", {"path": str(w), "sha256": digests.folder_digest(w), "digest": "folder-v3"})


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
