"""The vendored data: checksums against the shared manifest, licence notes, packaging, subsets."""

from __future__ import annotations

import csv
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from charter.evals import data

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "bias" / "MANIFEST.tsv"
RESOURCES = data.path("")


def test_every_file_matches_its_manifest_sha256():
    rows = data.manifest()
    files = {p.relative_to(RESOURCES).as_posix() for p in RESOURCES.rglob("*") if p.is_file() and p.name not in ("MANIFEST.tsv", "SOURCE.md")}
    assert {r["file"] for r in rows} == files
    for r in rows:
        assert data.sha256(r["file"]) == r["sha256"], r["file"]


def test_the_manifest_agrees_with_the_shared_one():
    if not SHARED.exists():  # the shared data folder beside the checkout (developers and CI have it)
        return
    shared = {(r["source_repo"], r["source_path"]): r for r in csv.DictReader(SHARED.open(), delimiter="\t")}
    for r in data.manifest():
        s = shared[(r["source_repo"], r["source_path"])]
        assert (s["sha256"], s["commit"], s["license"]) == (r["sha256"], r["commit"], r["license"]), r["file"]


def test_each_benchmark_folder_says_where_its_data_comes_from():
    for folder in {r["file"].split("/")[0] for r in data.manifest()}:
        note = (RESOURCES / folder / "SOURCE.md").read_text()
        for r in data.manifest():
            if r["file"].startswith(folder + "/"):
                assert r["commit"] in note and r["source_repo"] in note and r["sha256"] in note, r["file"]
        if "CC-BY-SA" in note:
            assert "creativecommons.org/licenses/by-sa/4.0" in note


def test_the_wheel_ships_every_file():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["charter"]
    package = RESOURCES.parents[1]
    for p in RESOURCES.rglob("*"):
        if p.is_file():
            rel = p.relative_to(package).as_posix()
            assert any(fnmatch(rel, pat) for pat in patterns), rel


def test_subsets_are_stratified_deterministic_and_in_file_order():
    items = [("a", i) for i in range(6)] + [("b", i) for i in range(3)] + [("c", 0)]
    sub = data.subset(items, 5, key=lambda it: it[0])
    assert sub == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]  # quotas 3, 1.5 -> 2 (largest remainder), 0.5 -> 0 (tie to b, seen first)
    assert data.subset(items, None, key=lambda it: it[0]) == items == data.subset(items, 99, key=lambda it: it[0])
    assert data.subset(items, 0, key=lambda it: it[0]) == []
    mixed = [("b", 0), ("a", 0), ("b", 1), ("a", 1)]
    assert data.subset(mixed, 2, key=lambda it: it[0]) == [("b", 0), ("a", 0)]
