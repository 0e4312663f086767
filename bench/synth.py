"""A seeded, deterministic synthetic registry shaped like the Hugging Face model tree.

Shape (fractions of N assets):
  - ~6% datasets: mostly roots; ~15% curated from 1-2 earlier datasets (depth <= 2);
  - ~1% applications, each deployed from one model;
  - the rest models: ~40% base models (roots, or trained on 1-3 datasets) and ~60%
    derived models (fine-tunes, quantizations, adapters, merges, distillations).
    Derived models join a *family* with heavy-tailed sizes: six giant families take
    25%, 10%, 6%, 4%, 3%, 2% of all derived models (the largest, a llama2 base, has
    >= 100,000 descendants at N = 1,000,000); the remaining half is spread over all
    other bases with Pareto(1.2) weights, so most bases have no or few children.
    Inside a family the parent is the base half of the time, otherwise a random
    earlier member, so chains grow; depth (longest path from a root) is capped at 10.
  - licence mix (models): apache-2.0 30%, none 28%, llama2 12%, mit 10%,
    openrail-m 10%, cc-by-nc-4.0 8%, gemma 2%; derived models inherit the parent's
    licence 60% of the time. Datasets: cc-by-4.0, cc-by-sa-4.0, mit, apache-2.0,
    cc-by-nc-4.0, odc-by, none.
  - ~2% of models and ~3% of datasets carry their own deny lists (biometric-identification,
    face-recognition, surveillance, military+law-enforcement, emotion-recognition ...);
    ~0.5% of models and ~2% of datasets carry an allow list in the context facet
    (research, non-commercial, academic-research).
  - ~5% of derived models also have a non-propagating ``evaluated-on`` edge to a dataset.

Assets are yielded parents-first (every parent precedes its children), so any
prefix batch can be registered with ``Store.add``.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from charter.core.assets import Asset, Edge

MAX_DEPTH = 10
GIANT_SHARES = (0.25, 0.10, 0.06, 0.04, 0.03, 0.02)
GIANT_LICENSES = ("llama2", "apache-2.0", "openrail-m", "mit", "llama2", "cc-by-nc-4.0")

MODEL_LICENSES = (("apache-2.0", 30), ("", 28), ("llama2", 12), ("mit", 10), ("openrail-m", 10), ("cc-by-nc-4.0", 8), ("gemma", 2))
DATASET_LICENSES = (("cc-by-4.0", 25), ("", 25), ("cc-by-nc-4.0", 15), ("cc-by-sa-4.0", 10), ("mit", 10), ("apache-2.0", 10), ("odc-by", 5))
DENY_LISTS = (
    ("biometric-identification",),
    ("face-recognition",),
    ("surveillance",),
    ("military", "law-enforcement"),
    ("emotion-recognition",),
    ("biometric-identification", "surveillance"),
    ("medical-advice",),
)
ALLOW_LISTS = (("research",), ("non-commercial",), ("academic-research",))
DERIVED_RELATIONS = (("fine-tuned-from", 45), ("quantized-from", 25), ("adapter-of", 18), ("merged-from", 6), ("distilled-from", 6))
ORGS = 5000

# request generator vocabulary
ACTIVITIES = ("fine-tuning", "inference", "training", "evaluation", "distillation", "redistribution", "pretraining", "synthetic-data-generation")
PURPOSES = ("machine-translation", "text-generation", "code-generation", "summarization", "question-answering", "conversational-agent",
            "classification", "face-recognition", "biometric-identification", "surveillance", "military", "medical-advice",
            "scientific-research", "marketing", "law-enforcement", "emotion-recognition", "credit-scoring", "content-generation",
            "competing-model-development", "purpose")
CONTEXTS = ("commercial", "commercial", "commercial", "research", "non-commercial", "academic-research", "personal", "government")


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([x for x, _ in table], [w for _, w in table])[0]


@dataclass
class Plan:
    """Counts and the facts the benchmarks need (filled while generating)."""

    n: int
    seed: int
    n_datasets: int = 0
    n_apps: int = 0
    n_bases: int = 0
    n_derived: int = 0
    giant_roots: list[str] = field(default_factory=list)
    max_depth: int = 0
    edges: int = 0


def plan(n: int, seed: int = 20240601) -> Plan:
    p = Plan(n=n, seed=seed)
    p.n_datasets = max(2, n * 6 // 100)
    p.n_apps = n // 100
    models = n - p.n_datasets - p.n_apps
    p.n_bases = max(len(GIANT_SHARES) + 1, models * 40 // 100)
    p.n_derived = models - p.n_bases
    return p


def generate(n: int, seed: int = 20240601, info: Plan | None = None) -> Iterator[Asset]:
    """Yield ``n`` assets, parents first. Pass ``info`` (from :func:`plan`) to read back facts."""
    p = info or plan(n, seed)
    rng = random.Random(seed)
    ids: list[str] = []
    depth = bytearray()
    lic: list[str] = []

    def mk(kind: str, name: str, licence: str, edges: list[tuple[int, str]], deny=(), allow=(), desc: str = "", notes=None) -> Asset:
        aid = f"{kind}/{name}@1"
        d = 0
        for parent, rel in edges:
            if rel != "evaluated-on":
                d = max(d, depth[parent] + 1)
        ids.append(aid)
        depth.append(d)
        lic.append(licence)
        p.max_depth = max(p.max_depth, d)
        p.edges += len(edges)
        return Asset(
            id=aid, kind=kind, name=name, version="1", description=desc,
            licenses=(licence,) if licence else (), allow=tuple(allow), deny=tuple(deny),
            derived_from=tuple(Edge(aid, ids[parent], rel) for parent, rel in edges),
            notes=notes or {},
        )

    # --- datasets ---------------------------------------------------------------------
    for i in range(p.n_datasets):
        edges = []
        if i > 10 and rng.random() < 0.15:
            for parent in {rng.randrange(i) for _ in range(rng.choice((1, 1, 2)))}:
                if depth[parent] < 2:
                    edges.append((parent, "curated-from"))
        r = rng.random()
        deny = rng.choice(DENY_LISTS) if r < 0.03 else ()
        allow = rng.choice(ALLOW_LISTS) if 0.03 <= r < 0.05 else ()
        yield mk("dataset", f"org{rng.randrange(ORGS)}/corpus-{i}", _weighted(rng, DATASET_LICENSES), edges, deny, allow,
                 desc=f"synthetic corpus {i}" if rng.random() < 0.5 else "")
    n_ds = len(ids)

    # --- base models ----------------------------------------------------------------------
    bases: list[int] = []
    for b in range(p.n_bases):
        edges = []
        if rng.random() < 0.6:
            for parent in sorted({rng.randrange(n_ds) for _ in range(rng.randint(1, 3))}):
                edges.append((parent, "trained-on"))
        giant = b < len(GIANT_SHARES)
        licence = GIANT_LICENSES[b] if giant else _weighted(rng, MODEL_LICENSES)
        r = rng.random()
        deny = rng.choice(DENY_LISTS) if (r < 0.02 and not giant) else ()
        allow = rng.choice(ALLOW_LISTS) if (0.02 <= r < 0.025 and not giant) else ()
        name = f"base-org{b}/giant-{b}" if giant else f"org{rng.randrange(ORGS)}/base-{b}"
        bases.append(len(ids))
        yield mk("model", name, licence, edges, deny, allow, desc=f"base model {b}" if rng.random() < 0.5 else "",
                 notes={"downloads": int(rng.paretovariate(1.1) * 10)})
    p.giant_roots = [ids[bases[k]] for k in range(len(GIANT_SHARES))]

    # family weights: giants take fixed shares, the rest is Pareto over the other bases
    rest = 1.0 - sum(GIANT_SHARES)
    pareto = [rng.paretovariate(1.2) for _ in range(len(bases) - len(GIANT_SHARES))]
    scale = rest / sum(pareto)
    weights = list(GIANT_SHARES) + [w * scale for w in pareto]
    cum = list(accumulate(weights))
    total = cum[-1]
    members: list[list[int]] = [[] for _ in bases]
    rels = [r for r, _ in DERIVED_RELATIONS]
    rel_w = list(accumulate(w for _, w in DERIVED_RELATIONS))

    # --- derived models --------------------------------------------------------------------
    for j in range(p.n_derived):
        fam = min(bisect.bisect_left(cum, rng.random() * total), len(bases) - 1)
        fam_members = members[fam]
        parent = bases[fam]
        if fam_members and rng.random() < 0.5:
            cand = rng.choice(fam_members)
            if depth[cand] < MAX_DEPTH:
                parent = cand
        rel = rels[bisect.bisect_left(rel_w, rng.random() * rel_w[-1])]
        edges = [(parent, rel)]
        if rel == "merged-from":
            other = rng.randrange(n_ds, len(ids))
            if other != parent and depth[other] < MAX_DEPTH:
                edges.append((other, "merged-from"))
        elif rel == "fine-tuned-from" and rng.random() < 0.15:
            edges.append((rng.randrange(n_ds), "trained-on"))
        if rng.random() < 0.05:
            edges.append((rng.randrange(n_ds), "evaluated-on"))
        licence = lic[parent] if rng.random() < 0.6 else _weighted(rng, MODEL_LICENSES)
        r = rng.random()
        deny = rng.choice(DENY_LISTS) if r < 0.02 else ()
        allow = rng.choice(ALLOW_LISTS) if 0.02 <= r < 0.025 else ()
        fam_members.append(len(ids))
        yield mk("model", f"org{rng.randrange(ORGS)}/{rel.split('-')[0]}-{j}", licence, edges, deny, allow,
                 desc=f"{rel} {ids[parent]}" if rng.random() < 0.5 else "")

    # --- applications ------------------------------------------------------------------------
    n_models_end = len(ids)
    for k in range(p.n_apps):
        parent = rng.randrange(n_ds, n_models_end)
        while depth[parent] >= MAX_DEPTH:
            parent = rng.randrange(n_ds, n_models_end)
        yield mk("application", f"team{rng.randrange(500)}/app-{k}", "", [(parent, "deployed-from")],
                 deny=rng.choice(DENY_LISTS) if rng.random() < 0.1 else ())


def requests(ids: list[str], count: int, seed: int = 7) -> list[tuple[str, tuple[str, ...]]]:
    """Random multi-use requests, e.g. (asset, (fine-tuning, machine-translation, commercial))."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        uses = [rng.choice(ACTIVITIES)]
        uses += rng.sample(PURPOSES, rng.choice((0, 1, 1, 1, 2)))
        if rng.random() < 0.85:
            uses.append(rng.choice(CONTEXTS))
        out.append((rng.choice(ids), tuple(dict.fromkeys(uses))))
    return out


if __name__ == "__main__":  # quick look at the shape
    import argparse
    from collections import Counter

    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    info = plan(args.assets, args.seed)
    kinds, rels, lics, nparents = Counter(), Counter(), Counter(), Counter()
    for a in generate(args.assets, args.seed, info):
        kinds[a.kind] += 1
        lics[a.licenses[0] if a.licenses else "(none)"] += 1
        nparents[len(a.parents)] += 1
        for e in a.derived_from:
            rels[e.relation] += 1
    print(info)
    print(kinds, rels, lics, nparents, sep="\n")
