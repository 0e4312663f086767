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


def test_samples_are_stratified_seeded_whole_units_in_file_order():
    # units: a0/a1 pairs etc.; strata a (3 units), b (2 units), c (1 unit); two items per unit
    items = [(st, u, half) for st, n in (("a", 3), ("b", 2), ("c", 1)) for u in range(n) for half in (0, 1)]
    kw = dict(strata=lambda it: it[0], unit=lambda it: (it[0], it[1]), ident=lambda it: f"{it[0]}{it[1]}{it[2]}", unit_name="pair")
    sub = data.sample(items, 6, **kw)  # 6 items = 3 pairs: quotas a 1.5, b 1, c 0.5 -> a 2 (largest remainder, first seen), b 1, c 0
    assert len(sub) == 6 and sub.record["strata"] == {"a": 2, "b": 1, "c": 0} and sub.record["units"] == 3
    assert all(((st, u, 0) in sub) == ((st, u, 1) in sub) for st, u, _ in items)  # pairs stay together
    assert sub == sorted(sub, key=items.index)  # file order
    assert sub == data.sample(items, 6, **kw) and sub.record == data.sample(items, 6, **kw).record  # same seed, same items
    r = sub.record
    assert (r["seed"], r["limit"], r["unit"], r["method"]) == (0, 6, "pair", "stratified random sample of units")
    assert r["ids_sha256"] == data.ids_sha256(kw["ident"](it) for it in sub)
    draws = {tuple(data.sample(items, 6, seed=s, **kw)) for s in range(20)}
    assert len(draws) > 1  # the seed matters: random, not the first units in file order
    assert data.sample(items, 7, **kw).record["units"] == 3  # never more than the limit's worth of whole units
    assert data.sample(items, 1, **kw).record["units"] == 1  # at least one unit
    whole = data.sample(items, None, **kw)
    assert whole == items == data.sample(items, 99, **kw) and whole.record["method"] == "all"


def test_the_sample_draws_random_units_across_the_data():
    from charter.evals import winogender

    items = winogender.load(100)
    assert len(items) == 99 and items.record["units"] == 33  # 33 whole groups (male, female, neutral)
    assert len({it["occupation"] for it in items}) > 25  # not the first 9 occupations in file order
    assert items.record["strata"] == {"occupation": 17, "participant": 16} or sum(items.record["strata"].values()) == 33
