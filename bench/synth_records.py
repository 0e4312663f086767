"""Seeded, vectorized generator of a large tagged text corpus in Parquet (for bench_curate.py).

Each record has the columns a charter dataset's records carry (data/source.py):
  text           short messages, 60-200 characters of Zipf-distributed words from a 4,000-word
                 vocabulary (a few sentence breaks), plus ~2% very short ones ("ok", "thanks!")
  charter_owner  the contributor, ``user-NNNNNNN``; records per contributor are heavy-tailed
  charter_allow  } the contributor's consent choices (lists of use ids from the shipped taxonomy),
  charter_deny   } mostly empty: one of the PROFILES below, drawn per contributor
No Python loop per record: words, owners and tag lists are drawn with numpy and assembled with
pyarrow compute (take, list offsets, binary_join), one shard at a time.

  python bench/synth_records.py --records 100000 --shards 2   # writes, then prints its shape
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DEFAULT_SEED = 20240601
ROW_GROUP = 100_000  # rows per Parquet row group (DuckDB scans row groups in parallel)

# (share of contributors, allow tags, deny tags): like charter.data.synth.PROFILES, but mostly
# untagged, as in a large corpus where only some contributors state their choices
PROFILES = (
    (0.70, [], []),
    (0.08, [], ["machine-translation"]),
    (0.06, [], ["commercial"]),
    (0.04, ["research"], []),
    (0.04, [], ["profiling", "surveillance"]),
    (0.03, ["non-commercial"], ["military"]),
    (0.02, [], ["training"]),
    (0.02, ["fine-tuning", "evaluation"], []),
    (0.01, ["commercial"], []),
)
SHORT = ("ok", "thanks!", "see you", "+1", "lol", "yes", "no idea")
SHORT_SHARE = 0.02
SEED_WORDS = ("the river community garden market school library bridge festival winter summer harvest village city "
              "music story bread coffee train station morning evening neighbour project volunteer recipe letter "
              "language translation friend family museum forest mountain sea bicycle workshop concert meeting "
              "weather news holiday journey photograph kitchen").split()
SYLLABLES = ("ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu ra re ri ro ru "
             "sa se si so su ta te ti to tu an en in on un ar er ir or ur st tr pr gr ch sh th").split()


VOCABULARY = 4000
_P = 1 / (np.arange(VOCABULARY) + 2.7)  # Zipf-Mandelbrot word frequencies, as in natural text
ZIPF_CDF = np.cumsum(_P) / _P.sum()


def folder(n: int, shards: int, seed: int) -> Path:
    return OUT / f"records-{n}-{shards}-{seed}"


def vocabulary(seed: int, size: int = VOCABULARY) -> list[str]:
    rng = random.Random(seed)
    words = list(dict.fromkeys(SEED_WORDS))
    seen = set(words)
    while len(words) < size:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def owners(n_records: int) -> int:
    return max(1000, n_records // 50)


def withdrawn_owners(n_records: int, seed: int, k: int) -> list[str]:
    """``k`` contributors who withdrew consent (deterministic; drawn uniformly from all contributors)."""
    rng = np.random.default_rng(seed + 99)
    idx = rng.choice(owners(n_records), size=min(k, owners(n_records)), replace=False)
    return sorted(f"user-{i:07d}" for i in idx)


def shard_table(rows: int, shard: int, seed: int, vocab: pa.Array, owner_ids: pa.Array, owner_profile: np.ndarray,
                allow_lists: pa.Array, deny_lists: pa.Array) -> pa.Table:
    rng = np.random.default_rng([seed, shard])
    v = len(vocab) // 4  # vocab: every word, then with a full stop, capitalised, capitalised with a full stop
    # text: 9-29 words per record, Zipf-distributed word ranks; ~1 in 12 words ends a sentence
    # (and every record's last word), the next word and every record's first word are capitalised
    counts = rng.integers(9, 30, size=rows)
    total = int(counts.sum())
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    idx = np.searchsorted(ZIPF_CDF, rng.random(total)).astype(np.int32)
    ends = rng.random(total) < 1 / 12
    ends[offsets[1:] - 1] = True
    caps = np.empty(total, dtype=bool)
    caps[0], caps[1:] = True, ends[:-1]
    idx += ends * np.int32(v) + caps * np.int32(2 * v)
    words = pa.ListArray.from_arrays(pa.array(offsets), vocab.take(pa.array(idx)))
    text = pc.binary_join(words, " ")
    del words, idx, ends, caps
    short = rng.random(rows) < SHORT_SHARE
    text = pc.if_else(pa.array(short), pa.array(SHORT).take(pa.array(rng.integers(0, len(SHORT), size=rows))), text)
    # owner: heavy-tailed (a few prolific contributors, many occasional ones)
    n_owners = len(owner_ids)
    owner_idx = np.minimum((n_owners * rng.random(rows) ** 3).astype(np.int64), n_owners - 1)
    owner_idx = (owner_idx * 7919 + 13) % n_owners  # spread prolific ones over the id space
    owner = owner_ids.take(pa.array(owner_idx))
    prof = pa.array(owner_profile[owner_idx])
    return pa.table({
        "text": text,
        "charter_allow": allow_lists.take(prof),
        "charter_deny": deny_lists.take(prof),
        "charter_owner": owner,
    })


def generate(n: int, shards: int, seed: int = DEFAULT_SEED, progress: bool = True) -> dict:
    """Write ``shards`` Parquet files with ``n`` records in all into folder(n, shards, seed); returns its metadata."""
    t0 = time.perf_counter()
    dest = folder(n, shards, seed)
    tmp = dest.with_name(dest.name + ".building")
    if tmp.exists():
        for p in tmp.iterdir():
            p.unlink()
    tmp.mkdir(parents=True, exist_ok=True)
    words = vocabulary(seed)
    vocab = pa.array(words + [w + "." for w in words] + [w.capitalize() for w in words] + [w.capitalize() + "." for w in words])
    n_owners = owners(n)
    owner_ids = pa.array([f"user-{i:07d}" for i in range(n_owners)])
    shares = np.array([p[0] for p in PROFILES])
    owner_profile = np.random.default_rng(seed + 1).choice(len(PROFILES), size=n_owners, p=shares / shares.sum()).astype(np.int32)
    allow_lists = pa.array([p[1] for p in PROFILES], pa.list_(pa.string()))
    deny_lists = pa.array([p[2] for p in PROFILES], pa.list_(pa.string()))
    per = -(-n // shards)
    files = []
    for s in range(shards):
        rows = min(per, n - s * per)
        if rows <= 0:
            break
        table = shard_table(rows, s, seed, vocab, owner_ids, owner_profile, allow_lists, deny_lists)
        path = tmp / f"shard-{s:05d}.parquet"
        pq.write_table(table, path, row_group_size=ROW_GROUP)
        files.append(path.name)
        if progress:
            print(f"  wrote {path.name}: {rows:,} records, {path.stat().st_size / 1e6:,.0f} MB  {time.perf_counter() - t0:.1f}s",
                  file=sys.stderr, flush=True)
    if dest.exists():
        for p in dest.iterdir():
            p.unlink()
        dest.rmdir()
    tmp.rename(dest)
    meta = {
        "records": n, "shards": len(files), "seed": seed, "files": files, "owners": n_owners, "row_group": ROW_GROUP,
        "profiles": [{"share": s, "allow": a, "deny": d} for s, a, d in PROFILES], "short_share": SHORT_SHARE,
        "bytes": sum((dest / f).stat().st_size for f in files), "generate_s": round(time.perf_counter() - t0, 2),
    }
    (dest / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def ensure(n: int, shards: int, seed: int = DEFAULT_SEED, rebuild: bool = False) -> tuple[Path, dict]:
    dest = folder(n, shards, seed)
    if rebuild or not (dest / "meta.json").exists():
        print(f"generating {n:,} records in {shards} Parquet shards at {dest} ...", file=sys.stderr, flush=True)
        generate(n, shards, seed)
    return dest, json.loads((dest / "meta.json").read_text())


def shape(dest: Path) -> dict:
    import duckdb

    files = f"'{dest.as_posix()}/*.parquet'"
    q = f"""SELECT count(*) AS records, count(DISTINCT charter_owner) AS owners,
              round(avg(length(text)), 1) AS avg_chars, min(length(text)) AS min_chars, max(length(text)) AS max_chars,
              round(avg(CASE WHEN length(text) BETWEEN 60 AND 200 THEN 1 ELSE 0 END), 3) AS share_60_200,
              round(avg(CASE WHEN len(charter_allow) + len(charter_deny) = 0 THEN 1 ELSE 0 END), 3) AS share_untagged
            FROM read_parquet({files})"""
    con = duckdb.connect()
    cur = con.execute(q)
    row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    row["examples"] = [t for (t,) in con.execute(f"SELECT text FROM read_parquet({files}) LIMIT 3").fetchall()]
    return row


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--rebuild", action="store_true")
    a = ap.parse_args()
    dest, meta = ensure(a.records, a.shards, a.seed, a.rebuild)
    print(json.dumps({**{k: v for k, v in meta.items() if k != "files"}, **shape(dest)}, indent=2))
