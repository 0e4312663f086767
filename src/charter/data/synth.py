"""A realistic community corpus, generated (seeded, deterministic) for the demo and the tests.

Three sources, as a community data project would have them:
  community-messages  JSON Lines; each message has an owner (its contributor) whose consent
                      choices are tags: some forbid machine translation, some commercial use,
                      some allow research only; some messages repeat or nearly repeat others
  web-text            Parquet, released under CC-BY-NC-4.0 (no commercial use); each page has its ``url``
                      and ``fetched_at``, over a few sites whose consent signals are in ``web-signals/``
  public-domain-books CSV, public domain; tags as ';'-separated strings
plus ``sources.yaml``, their charters, and ``web-signals/DOMAIN/...``: what the web-text sites serve
(robots.txt, tdmrep.json, response headers), for ``charter signals import``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = ("the river community garden market school library bridge festival winter summer harvest "
         "village city music story bread coffee train station morning evening neighbour project "
         "volunteer recipe letter language translation friend family museum forest mountain sea "
         "bicycle workshop concert meeting weather news holiday journey photograph kitchen").split()

# consent profiles of contributors: (share of owners, allow tags, deny tags)
PROFILES = (
    (0.40, [], []),
    (0.20, [], ["machine-translation"]),
    (0.15, [], ["commercial"]),
    (0.10, ["research"], []),
    (0.10, [], ["profiling", "surveillance"]),
    (0.05, ["non-commercial"], ["military"]),
)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _text(rng: random.Random) -> str:
    return " ".join(_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(1, 4)))


def owners(n: int, seed: int = 7) -> dict[str, tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    out = {}
    for i in range(n):
        x, acc = rng.random(), 0.0
        for share, allow, deny in PROFILES:
            acc += share
            if x <= acc:
                break
        out[f"member-{i:03d}"] = (allow, deny)
    return out


# the web-text sites and what each serves: no signal; AI training crawlers refused a section; Cloudflare's
# Content-Signal refusing AI training; a TDMRep reservation; only an AI assistant refused (not training)
WEB_SIGNALS = {
    "harbour-news.example": {"robots.txt": "User-agent: GPTBot\nUser-agent: CCBot\nDisallow: /news/\n\nUser-agent: *\nDisallow: /admin/\n"},
    "recipes.example": {"robots.txt": "User-agent: *\nContent-Signal: search=yes, ai-train=no, ai-input=no\nAllow: /\n"},
    "journal.example": {"tdmrep.json": '[{"location": "/articles/", "tdm-reservation": 1, "tdm-policy": "https://journal.example/tdm-policy"}]'},
    "village-wiki.example": {"robots.txt": "User-agent: ChatGPT-User\nDisallow: /\n", "headers.txt": "Content-Type: text/html\n"},
    "open-library.example": {},
}
WEB_PATHS = ("/", "/news/today", "/articles/1", "/about", "/admin/x")


def write_community_corpus(folder: Path, messages: int = 2000, seed: int = 7, shards: int = 2) -> Path:
    """Write the three sources and their charters into ``folder``; returns the charter file."""
    import pyarrow as pa  # here, not at the top: `charter demo` imports this module when the CLI starts
    import pyarrow.parquet as pq

    folder = Path(folder)
    rng = random.Random(seed)
    people = owners(60, seed)
    names = sorted(people)
    msg_dir = folder / "community-messages"
    msg_dir.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    per_shard = -(-messages // shards)
    for s in range(shards):
        with open(msg_dir / f"messages-{s:02d}.jsonl", "w") as f:
            for _ in range(min(per_shard, messages - s * per_shard)):
                owner = rng.choice(names)
                allow, deny = people[owner]
                r = rng.random()
                if texts and r < 0.05:
                    text = rng.choice(texts)  # an exact repeat (a forwarded message)
                elif texts and r < 0.08:
                    text = rng.choice(texts) + " " + rng.choice(WORDS)  # a near repeat
                elif r < 0.11:
                    text = rng.choice(["ok", "thanks!", "see you"])  # too short to be useful
                else:
                    text = _text(rng)
                texts.append(text)
                f.write(json.dumps({"text": text, "charter_owner": owner, "charter_allow": allow, "charter_deny": deny}) + "\n")
    web = folder / "web-text"
    web.mkdir(exist_ok=True)
    pages = [_text(rng) for _ in range(messages // 2)]
    urls = random.Random(seed + 1)  # its own stream: the texts stay what they were before pages had URLs
    sites = sorted(WEB_SIGNALS)
    links = [f"https://{'www.' if urls.random() < 0.3 else ''}{urls.choice(sites)}{urls.choice(WEB_PATHS)}" for _ in pages]
    pq.write_table(pa.table({"text": pages, "url": links, "fetched_at": ["2026-03-01T00:00:00Z"] * len(pages)}), web / "web-00.parquet")
    for site, files in WEB_SIGNALS.items():
        (folder / "web-signals" / site).mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (folder / "web-signals" / site / name).write_text(body)
    books = folder / "public-domain-books"
    books.mkdir(exist_ok=True)
    with open(books / "books.csv", "w") as f:
        f.write("passage,charter_deny\n")
        for i in range(messages // 4):
            f.write(f"\"{_text(rng)}\",{'military' if i % 10 == 0 else ''}\n")
    charters = folder / "sources.yaml"
    charters.write_text("""# Charters of the community corpus (generated by charter.data.synth)
assets:
  - id: dataset/community-messages@1
    description: Messages donated by community members; each carries its contributor's consent choices.
    license: proprietary
    duties: [attribution]
    data: {glob: community-messages/*.jsonl}
  - id: dataset/web-text@1
    description: Web pages collected for non-commercial use.
    license: CC-BY-NC-4.0
    data: [web-text]
  - id: dataset/public-domain-books@2
    description: Passages from public-domain books.
    license: public-domain
    data:
      files: [public-domain-books/books.csv]
      fields: {text: passage}
""")
    return charters
