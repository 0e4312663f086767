"""Content digests: the sha256 of a file or a folder, cached by what the file system says of it.

Registration hashes an asset's data files and weights; every stage that reads them (curate,
adapt, train, eval, serve, generate) verifies them first. Re-hashing gigabytes on every run
would make verification something people turn off, so a digest is cached in
``$CHARTER_HOME/digests.db`` keyed by (absolute path, size, mtime_ns, ctime_ns, inode): any
write to the file changes its mtime and ctime (ctime cannot be set back from user space), so a
changed file is hashed again. Editing a file in place *and* resetting the clock needs root and
is outside what the cache defends against (docs/security.md).

How an asset carries its digests (``content_digests`` reads exactly these):
  - a dataset: ``asset.data["digests"]``, one ``{"path", "sha256", "bytes"}`` per data file;
  - a model: ``asset.notes["weights"]["sha256"]``, the ``folder_digest`` of its weights folder.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable

EMPTY = hashlib.sha256(b"").hexdigest()  # an empty file binds nothing: every empty file has it

_lock = threading.Lock()
_db: dict[str, sqlite3.Connection] = {}


def home() -> Path:
    return Path(os.environ.get("CHARTER_HOME") or Path.home() / ".cache" / "charter")


def _key(path: Path) -> tuple[str, int, int, int, int]:
    st = os.stat(path)
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _cache() -> sqlite3.Connection | None:
    """The cache database (None when it cannot be opened: hashing then simply is not cached)."""
    where = str(home() / "digests.db")
    con = _db.get(where)
    if con is None:
        try:
            Path(where).parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(where, isolation_level=None, check_same_thread=False, timeout=5)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE IF NOT EXISTS digests(path TEXT, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, "
                        "inode INTEGER, sha256 TEXT NOT NULL, PRIMARY KEY(path, size, mtime_ns, ctime_ns, inode)) WITHOUT ROWID")
            con.execute("CREATE TABLE IF NOT EXISTS folders(folder TEXT, algorithm TEXT, fingerprint TEXT, sha256 TEXT NOT NULL, "
                        "PRIMARY KEY(folder, algorithm, fingerprint)) WITHOUT ROWID")  # legacy_folder_hash
        except sqlite3.Error:
            return None
        _db[where] = con
    return con


def hash_file(path: Path) -> str:
    """The sha256 of the file's bytes, never cached."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """The sha256 of the file's bytes, from the cache when the file is unchanged since it was hashed."""
    key = _key(Path(path))
    with _lock:
        con = _cache()
        if con is not None:
            try:
                row = con.execute("SELECT sha256 FROM digests WHERE path=? AND size=? AND mtime_ns=? AND ctime_ns=? AND inode=?", key).fetchone()
            except sqlite3.Error:
                row = None
            if row:
                return row[0]
    digest = hash_file(path)
    if _key(Path(path)) == key:  # unchanged while we read it: safe to remember
        with _lock:
            con = _cache()
            if con is not None:
                try:
                    con.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?,?,?)", (*key, digest))
                except sqlite3.Error:
                    pass
    return digest


def folder_digest(folder: Path) -> str:
    """sha256 over the folder's files (relative names and each file's sha256), in name order.
    Dot-files and folders (caches that tools leave behind) are not part of the weights."""
    return weights_digest(folder)["sha256"]


def folder_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def content_digests(asset) -> frozenset[str]:
    """The digests that bind an asset to its content: its data files' and its weights' (empty files excluded)."""
    out = set()
    for d in (asset.data or {}).get("digests") or ():
        if isinstance(d, dict) and d.get("sha256") and d["sha256"] != EMPTY:
            out.add(d["sha256"])
    w = (asset.notes or {}).get("weights")
    if isinstance(w, dict) and w.get("sha256"):
        out.add(w["sha256"])
    return frozenset(out)


def is_legacy_weights(asset) -> bool:
    """Whether the asset's weights were registered with the folder hash from before ``folder-v2``."""
    w = (asset.notes or {}).get("weights")
    return isinstance(w, dict) and bool(w.get("sha256")) and w.get("digest") is None


def digests_of(paths: Iterable[Path]) -> list[dict]:
    """``[{"path", "sha256", "bytes"}]`` for each file, in order."""
    return [{"path": Path(p).as_posix(), "sha256": file_digest(Path(p)), "bytes": os.path.getsize(p)} for p in paths]


FOLDER_V2 = "folder-v2"  # notes["weights"]["digest"] of a registration whose sha256 is a folder_digest


def weights_digest(folder: Path) -> dict:
    """What a registration records of a weights folder: its ``folder_digest`` marked ``folder-v2``, and each
    file's sha256 and size, so that a failed verification names the file that changed."""
    folder = Path(folder)
    files = [{"path": p.relative_to(folder).as_posix(), "sha256": file_digest(p), "bytes": os.path.getsize(p)} for p in folder_files(folder)]
    h = hashlib.sha256()
    for f in files:  # the same bytes folder_digest hashes
        h.update(f["path"].encode() + b"\0" + f["sha256"].encode() + b"\n")
    return {"sha256": h.hexdigest(), "digest": FOLDER_V2, "files": files}


def _fingerprint(folder: Path, files: list[Path]) -> str:
    return hashlib.sha256(repr([(p.relative_to(folder).as_posix(), *_key(p)) for p in files]).encode()).hexdigest()


def legacy_folder_hash(folder: Path) -> str:
    """The folder hash charter registered before ``folder-v2`` (names and raw bytes of every file, dot-files
    included), so registries made then still verify. It cannot be built from per-file digests, so it is
    cached whole, keyed by the folder and every file's (name, path, size, mtime_ns, ctime_ns, inode)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    where, fp = str(folder.resolve()), _fingerprint(folder, files)
    with _lock:
        con = _cache()
        row = None
        if con is not None:
            try:
                row = con.execute("SELECT sha256 FROM folders WHERE folder=? AND algorithm='legacy' AND fingerprint=?", (where, fp)).fetchone()
            except sqlite3.Error:
                pass
        if row:
            return row[0]
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(folder).as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    digest = h.hexdigest()
    if _fingerprint(folder, sorted(p for p in folder.rglob("*") if p.is_file())) == fp:  # unchanged while read
        with _lock:
            con = _cache()
            if con is not None:
                try:
                    con.execute("INSERT OR REPLACE INTO folders VALUES (?, 'legacy', ?, ?)", (where, fp, digest))
                except sqlite3.Error:
                    pass
    return digest


def verify_weights(asset_id: str, weights: dict) -> Path:
    """The registered weights folder, after checking it still has the digest it was registered with.

    ``folder-v2`` registrations are checked with ``folder_digest`` (per-file digests, cached); older ones,
    unmarked, with ``legacy_folder_hash`` (cached whole). Raises IntegrityError naming the file that changed
    (when the registration lists its files), both hashes and the fix."""
    from charter.errors import IntegrityError

    folder = Path(weights.get("path") or "")
    expected = weights.get("sha256")
    fix = f"restore the weights registered for {asset_id}, or register the new weights as a new version (`charter model add`)"
    if not expected:
        raise IntegrityError(f"{asset_id}'s weights were registered without a digest, so they cannot be verified",
                             hint="register the weights with `charter model add` (it hashes them)", where=str(folder))
    if not folder.is_dir():
        raise IntegrityError(f"{asset_id}'s weights folder is missing", hint=fix, where=str(folder))
    if weights.get("digest") == FOLDER_V2:
        found = folder_digest(folder)
        if found == expected:
            return folder
        changed = _changed_file(folder, weights.get("files") or ())
        if changed:
            raise IntegrityError(f"{asset_id}'s weights file {changed[0]} {changed[1]}", hint=fix, where=str(folder / changed[0]))
        raise IntegrityError(f"{asset_id}'s weights changed since registration (registered folder sha256 {expected}, found {found})",
                             hint=fix, where=str(folder))
    if weights.get("digest") is not None:
        raise IntegrityError(f"{asset_id}'s weights digest is {weights['digest']!r}, which this version of charter cannot check",
                             hint="upgrade charter to the version that registered these weights, or newer", where=str(folder))
    # registered before folder-v2: either algorithm's digest (folder_digest first: it is cached per file)
    if folder_digest(folder) == expected:
        return folder
    found = legacy_folder_hash(folder)
    if found != expected:
        raise IntegrityError(f"{asset_id}'s weights changed since registration (registered folder sha256 {expected}, found {found})",
                             hint=fix, where=str(folder))
    return folder


def _changed_file(folder: Path, registered: Iterable[dict]) -> tuple[str, str] | None:
    """(relative name, what happened) for the first file that differs from the registration."""
    now = {p.relative_to(folder).as_posix(): p for p in folder_files(folder)}
    for f in registered:
        p = now.pop(f["path"], None)
        if p is None:
            return f["path"], f"is missing (registered sha256 {f['sha256']})"
        got = file_digest(p)
        if got != f["sha256"]:
            return f["path"], f"changed since registration (registered sha256 {f['sha256']}, found {got})"
    if now:
        rel = min(now)
        return rel, f"was added since registration (sha256 {file_digest(now[rel])})"
    return None


def verify_data(asset) -> None:
    """Every data file the dataset was registered with still has its registered digest (and still exists).
    Datasets registered before data digests carry none: nothing to verify (README, Data)."""
    from charter.errors import IntegrityError

    fix = f"restore the file registered for {asset.id}, or register the new content as a new version"
    for d in (asset.data or {}).get("digests") or ():
        p = Path(d["path"])
        if not p.is_file():
            raise IntegrityError(f"a data file of {asset.id} is missing", hint=fix, where=str(p))
        found = file_digest(p)
        if found != d["sha256"]:
            raise IntegrityError(f"a data file of {asset.id} changed since registration (registered sha256 {d['sha256']}, found {found})",
                                 hint=fix, where=str(p))
