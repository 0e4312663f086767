"""Differential check: the tuned DuckDB SQL of Predicate.keep()/reason() against the plain
rendering of the same expression tree (data/predicate.render), on random records.

Records mix every case the rendering must get right: NULL and empty lists, NULL elements,
duplicates, tags outside the taxonomy, withdrawn owners (enough of them for the IN-subquery
path, with quotes, control characters, unicode and the empty string among them), owners that
share a prefix with a withdrawn one, NULL owners, short and NULL texts. Also checks that the
exclusion counts per group of records (Predicate.counts) equal the per-record reasons' counts.

  .venv/bin/python bench/check_predicate.py --cases 300
"""

from __future__ import annotations

import argparse
import random

import duckdb
import pyarrow as pa

from charter.core import uses as uses_mod
from charter.data.predicate import All, Branch, HasAny, In, Not, Predicate, Shorter, _lit, compile_predicate, render

TAX = uses_mod.load()
USES = sorted(TAX.uses)
ODD = ["", "o'neil", "a\x1fb", "a\x1eb", "a|b", "x\ny", "ünïcode", "member-001", "member-0010", "MEMBER-001", "%", "_", "NULL", "'"]
ALL_DELIMITERS = "\x1f\x1e\x1d\x1c\x01|\n"  # control characters and separators in one owner id


def plain_keep(p: Predicate) -> str:
    if not p.branches:
        return "true"
    return "NOT (" + " OR ".join(render(e, "duckdb") for e in p.exclusions()) + ")"


def plain_reason(p: Predicate) -> str:
    if not p.branches:
        return "CAST(NULL AS VARCHAR)"
    return "CASE " + " ".join(f"WHEN {render(b.when, 'duckdb')} THEN {_lit(b.reason)}" for b in p.branches) + " ELSE NULL END"


def random_tree(rng: random.Random, column: str, depth: int = 0):
    """A random condition on one list column (HasAny / Not / All), sometimes with empty or unknown sets."""
    r = rng.random()
    if depth > 1 or r < 0.5:
        values = rng.sample(USES, rng.randint(0, 5)) + (["not-a-use"] if rng.random() < 0.05 else [])
        return HasAny(column, tuple(sorted(values)))
    if r < 0.7:
        return Not(random_tree(rng, column, depth + 1))
    return All(tuple(random_tree(rng, column, depth + 1) for _ in range(rng.randint(1, 3))))


def random_predicate(rng: random.Random, withdrawn: list[str]) -> Predicate:
    """Branches of every kind in random order: shapes compile_predicate never makes."""
    branches = []
    for i in range(rng.randint(1, 7)):
        r = rng.random()
        if r < 0.7:
            when = random_tree(rng, rng.choice(["charter_allow", "charter_deny"]))
        elif r < 0.85:
            when = In("charter_owner", tuple(sorted(set(withdrawn))) or ("x",))
        else:
            when = Shorter("text", rng.randint(1, 12))
        branches.append(Branch(f"reason-{i}", when))
    return Predicate(("training",), tuple(branches), tuple(sorted(TAX.uses)) if rng.random() < 0.9 else ())


def tags(rng: random.Random):
    r = rng.random()
    if r < 0.15:
        return None
    if r < 0.45:
        return []
    pool = USES + ["not-a-use", "Commercial", "training ", None]
    return [rng.choice(pool) for _ in range(rng.randint(1, 4))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    con = duckdb.connect()
    checked = 0
    paths = {"owner subquery": 0, "tag masks": 0}
    for case in range(a.cases):
        uses = rng.sample(USES, rng.randint(1, 4))
        k = rng.choice([0, 1, 5, 17, 40, 300])
        withdrawn = rng.sample(ODD, min(k, len(ODD))) + [f"user-{i:05d}" for i in rng.sample(range(100000), k)]
        if rng.random() < 0.1:
            withdrawn.append(ALL_DELIMITERS)
        p = compile_predicate(uses, TAX, withdrawn, rng.choice([0, 0, 10])) if case % 3 else random_predicate(rng, withdrawn)
        owners = withdrawn + ODD + [f"user-{i:05d}" for i in range(50)] + ["a\x1fb\x1fc", "user-00001\x1f", "\x1e", ALL_DELIMITERS, None]
        n = a.records
        t = pa.table({
            "id": pa.array(range(n), pa.int64()),
            "text": pa.array([rng.choice([None, "short", "a much longer text than that"]) for _ in range(n)], pa.string()),
            "charter_allow": pa.array([tags(rng) for _ in range(n)], pa.list_(pa.string())),
            "charter_deny": pa.array([tags(rng) for _ in range(n)], pa.list_(pa.string())),
            "charter_owner": pa.array([rng.choice(owners) for _ in range(n)], pa.string()),
        })
        con.register("t", t)
        paths["owner subquery"] += "IN (SELECT unnest(" in p.keep()
        paths["tag masks"] += "enum_code(" in p.keep()
        got = con.execute(f"SELECT {p.keep()}, {p.reason()} FROM t ORDER BY id").fetchall()
        want = con.execute(f"SELECT {plain_keep(p)}, {plain_reason(p)} FROM t ORDER BY id").fetchall()
        for i, (g, w) in enumerate(zip(got, want)):
            assert g == w, (case, uses, t.slice(i, 1).to_pylist(), g, w)
        per_record = dict(con.execute(f"SELECT {plain_reason(p)} AS r, count(*) FROM t GROUP BY r").fetchall())
        assert dict(con.execute(p.counts("t")).fetchall()) == per_record, (case, uses)
        checked += n
    print(f"ok: {checked:,} records in {a.cases} random cases agree (keep, reason and counts per reason); cases rendered with {paths}")


if __name__ == "__main__":
    main()
