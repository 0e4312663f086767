"""Web consent signals (data/signals.py): each signal kind from hand-written files, the SQL matching
checked against protego itself, malformed input reported (never a crash), and curation honouring them."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3

import duckdb
import psycopg
import pytest
from protego import Protego

from charter.core.uses import load
from charter.data import signals as sg
from charter.errors import InvalidInput, UnknownUse
from charter.store.base import SignalSnapshot

TAX = load()
SMAP = sg.load_map(TAX)
FT = ("fine-tuning", "commercial")
T0, T1 = "2025-01-01T00:00:00Z", "2026-06-01T00:00:00Z"


def snap(body: str, kind: str = "robots", domain: str = "example.com", at: str = T1) -> sg.Snapshot:
    return sg.Snapshot(domain, kind, at, body, f"{domain}/{kind}")


def sql_verdicts(snaps, urls, uses=FT, as_of="now", fetched=None):
    """The reason for each URL, computed by the SQL curate runs (the join and the LIKE matching)."""
    sts, _ = sg.states(snaps, SMAP, as_of)
    rows, _ = sg.compile_rules(sts, uses, TAX, keep_empty=as_of == "crawl")
    con = duckdb.connect()
    sg.register_rules(con, rows, as_of)
    fetched = fetched or [None] * len(urls)
    con.execute("CREATE TABLE recs AS SELECT unnest(?) AS charter_url, unnest(?) AS charter_fetched_at, unnest(range(?)) AS source_row",
                [list(urls), list(fetched), len(urls)])
    view = sg.wrap_view(con, "recs", as_of)
    return [r for (r,) in con.execute(f"SELECT charter_signal FROM {view} ORDER BY source_row").fetchall()]


def verdicts(snaps, urls, uses=FT):
    return dict(zip(urls, sql_verdicts(snaps, urls, uses)))


# --- the map -----------------------------------------------------------------------------------
def test_every_listed_crawler_is_mapped_and_every_use_exists():
    agents = sg.ai_agents()
    assert len(agents) == 166 and set(agents) == set(SMAP.agents)
    assert SMAP.agents["GPTBot"] == "training" and SMAP.agents["CCBot"] == "data-provider"
    assert SMAP.agents["ChatGPT-User"] == "assistant" and SMAP.agents["OAI-SearchBot"] == "ai-search"
    for uses in SMAP.functions.values():
        assert all(u in TAX for u in uses)


def test_a_typo_in_a_user_map_names_file_line_and_the_use(tmp_path):
    from charter.core.files import resource

    text = resource("optout/signals.yaml").read_text()
    bad = tmp_path / "map.yaml"
    bad.write_text(text.replace("training: {deny: [training]", "training: {deny: [trainng]"))
    with pytest.raises(UnknownUse) as e:
        sg.load_map(TAX, bad)
    assert "did you mean 'training'" in e.value.oneline() and f"{bad}:" in e.value.oneline()
    bad.write_text(text.replace('"GPTBot": training', '"GPTBot": trainin'))
    with pytest.raises(InvalidInput, match="did you mean 'training'"):
        sg.load_map(TAX, bad)


# --- robots.txt -------------------------------------------------------------------------------
ROBOTS = """# hand-written
User-agent: *
Disallow: /private/
Allow: /private/press$

User-agent: GPTBot
User-agent: CCBot
Disallow: /news/
Allow: /news/public/
Disallow: /*.pdf$

User-agent: ChatGPT-User
Disallow: /

User-agent: Googlebot
Disallow: /nogoogle/
"""


def test_robots_groups_per_crawler_function_and_path():
    v = verdicts([snap(ROBOTS)], [
        "https://example.com/news/a", "https://example.com/news/public/a", "https://example.com/report.pdf",
        "https://example.com/report.pdf?x=1", "https://example.com/private/x", "https://example.com/private/press",
        "https://example.com/nogoogle/x", "https://example.com/", "https://www.example.com/news/b", "https://other.org/news/a"])
    assert v["https://example.com/news/a"] == "optout:robots:CCBot:/news/"  # a training crawler refused: training denied
    assert v["https://example.com/news/public/a"] is None  # the longer allow wins
    assert v["https://example.com/report.pdf"] == "optout:robots:CCBot:/*.pdf$"
    assert v["https://example.com/report.pdf?x=1"] is None  # `$` anchors at the end of path and query
    assert v["https://example.com/private/x"] == "optout:robots:*:/private/"  # `User-agent: *` refused: every use denied
    assert v["https://example.com/private/press"] is None
    assert v["https://example.com/nogoogle/x"] is None  # Googlebot is not an AI crawler
    assert v["https://example.com/"] is None  # ChatGPT-User (an assistant) refused everything: not training
    assert v["https://www.example.com/news/b"] == "optout:robots:CCBot:/news/"
    assert v["https://other.org/news/a"] is None  # no signal, no restriction


def test_an_assistant_refused_denies_inference_not_training():
    v = verdicts([snap(ROBOTS)], ["https://example.com/", "https://example.com/news/a"], uses=("inference",))
    assert v["https://example.com/"] == "optout:robots:ChatGPT-User:/"
    assert v["https://example.com/news/a"] == "optout:robots:ChatGPT-User:/"


def test_an_agent_without_its_own_group_follows_the_star_group():
    body = "User-agent: *\nDisallow: /a/\n"
    assert verdicts([snap(body)], ["https://example.com/a/x"], uses=("inference",))["https://example.com/a/x"] == "optout:robots:*:/a/"
    assert verdicts([snap("User-agent: *\nAllow: /\n")], ["https://example.com/a"]) == {"https://example.com/a": None}


def test_robots_txt_itself_and_empty_files_are_never_restricted():
    assert verdicts([snap("User-agent: *\nDisallow: /\n")], ["https://example.com/robots.txt"]) == {"https://example.com/robots.txt": None}
    assert verdicts([snap("")], ["https://example.com/x"]) == {"https://example.com/x": None}
    assert verdicts([snap("garbage\x00 lines\n::::\nDisallow: /\n")], ["https://example.com/x"]) == {"https://example.com/x": None}


# the SQL against protego itself: many robots.txt files and URLs
PATTERNS = ["/", "/a", "/a/", "/a/b", "/*.pdf$", "/a*b", "/*?", "/a$", "/%7Ea", "/~a", "/a%2Fb", "/a%2fb", "/a/b=c", "/é", "/%C3%A9",
            "*", "/a?q=1", "/a*", "/$", "/a%", "/a_b", "/A", "/*/b$", "/a%25b", "/a$b", "/**b", "/a%3Db", "/ a", "/index.html", "/x/index.html"]
PATHS = ["/", "/a", "/a/", "/a/b", "/a/b.pdf", "/x.pdf?y", "/a%2fb", "/a%2Fb", "/%7Ea", "/~a", "/é", "/%C3%A9", "/a?q=1", "/a?", "/a#frag",
         "/a_b", "/aXb", "/A", "", "?q", "/a%25b", "/a%zz", "/a/b=c", "/a/b%3Dc", "//a", "/a$", "/a%24", "/a$b", "/x/", "/x/index.html",
         "/%e2%82%ac", "/a b", "/a%20b", "/q?x=%41&y=é", "/a%2", "/%", "/a/b/c/d.pdf"]
AGENTS = ["*", "GPTBot", "CCBot", "ChatGPT-User", "Google-Extended", "FooBot", "anthropic-ai", "gptbot"]


def random_robots(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 4)):
        for a in rng.sample(AGENTS, rng.randint(1, 2)):
            lines.append(f"User-agent: {a}")
        for _ in range(rng.randint(0, 5)):
            lines.append(f"{rng.choice(['Allow', 'Disallow', 'disallow'])}: {rng.choice(PATTERNS)}")
        lines.append("")
    return "\n".join(lines)


def test_sql_matching_agrees_with_protego_on_many_files_and_urls():
    rng = random.Random(16)
    uses = ("fine-tuning",)
    crawlers = ["*"] + [a for a in SMAP.agents if sg.relevant(sg.Group("robots", "", ((a, SMAP.agent_uses(a)),), ()), uses, TAX)]
    urls = [f"https://example.com{p}" for p in PATHS]
    checked = 0
    for _ in range(150):
        body = random_robots(rng)
        rp = Protego.parse(body)
        got = sql_verdicts([snap(body)], urls, uses)
        for url, reason in zip(urls, got):
            expected = any(not rp.can_fetch(url, a) for a in crawlers)
            assert (reason is not None) == expected, (body, url, reason)
            checked += 1
    assert checked == 150 * len(PATHS)


def test_the_sql_path_is_protegos_path():
    con = duckdb.connect()
    for p in PATHS:
        url = f"https://example.com{p}"
        assert con.execute(f"SELECT {sg.path_sql('u')} FROM (SELECT ? AS u)", [url]).fetchone()[0] == sg.quote_path(url), url


def test_the_sql_host_is_the_python_domain():
    con = duckdb.connect()
    for url, d in [("https://www.Example.COM:8080/a", "example.com"), ("http://user:pw@news.example.org./x", "news.example.org"),
                   ("https://example.com?x", "example.com"), ("https://example.com#f", "example.com"), ("not a url", None),
                   ("https://a@www.b.example.:1/", "b.example")]:
        host = con.execute(f"SELECT charter_domain FROM {sg.hosts_sql('(SELECT ? AS charter_url)')}", [url]).fetchall()[0][0]
        assert (sg.normalize_domain(host) if host else None) == d, url


# --- preference lines: Content-Usage (IETF), Content-Signal (Cloudflare) ------------------------
def test_content_usage_in_robots_with_paths_and_the_vocabulary_hierarchy():
    body = "User-agent: *\nAllow: /\nContent-Usage: train-ai=n\nContent-Usage: /open/ train-ai=y\n"
    v = verdicts([snap(body)], ["https://example.com/a", "https://example.com/open/a"])
    assert v == {"https://example.com/a": "optout:content-usage:train-ai=n", "https://example.com/open/a": None}
    # a label without a value takes its parent's: bots=n refuses AI training too
    v = verdicts([snap("User-agent: *\nContent-Usage: bots=n\n")], ["https://example.com/a"])
    assert v["https://example.com/a"] == "optout:content-usage:bots=n"
    # ... unless the child says otherwise
    v = verdicts([snap("User-agent: *\nContent-Usage: bots=n, train-ai=y\n")], ["https://example.com/a"])
    assert v["https://example.com/a"] is None
    assert verdicts([snap("User-agent: *\nContent-Usage: bots=n, train-ai=y\n")], ["https://example.com/a"], uses=("inference",)) == \
        {"https://example.com/a": "optout:content-usage:bots=n"}


def test_content_signal_per_category():
    body = "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n"
    assert verdicts([snap(body)], ["https://example.com/a"]) == {"https://example.com/a": "optout:content-signal:ai-train=no"}
    assert verdicts([snap(body)], ["https://example.com/a"], uses=("information-retrieval",)) == {"https://example.com/a": None}
    body = "User-agent: *\nContent-Signal: ai-input=no\n"
    assert verdicts([snap(body)], ["https://example.com/a"]) == {"https://example.com/a": None}
    assert verdicts([snap(body)], ["https://example.com/a"], uses=("inference",)) == {"https://example.com/a": "optout:content-signal:ai-input=no"}


def test_unknown_and_malformed_preferences_are_reported_not_applied():
    _, problems = sg.parse(snap("User-agent: *\nContent-Usage: train-robots=n, train-ai=maybe\nContent-Signal:\nContent-Signal: ai-train=no, ai-train=yes\n"), SMAP)
    kinds = sorted((p.kind, p.where) for p in problems)
    assert ("unknown", "example.com/robots:2") in kinds and ("malformed", "example.com/robots:2") in kinds
    assert ("malformed", "example.com/robots:3") in kinds and ("conflict", "example.com/robots:4") in kinds
    # the conflicting line is read as the most restrictive
    v = verdicts([snap("User-agent: *\nContent-Signal: ai-train=no, ai-train=yes\n")], ["https://example.com/a"])
    assert v["https://example.com/a"] == "optout:content-signal:ai-train=no"


def test_signals_that_contradict_each_other_are_reported_and_the_most_restrictive_wins():
    snaps = [snap("User-agent: *\nContent-Usage: train-ai=y\n"), snap("Content-Signal: ai-train=no\n", "headers")]
    sts, problems = sg.states(snaps, SMAP)
    assert any(p.kind == "conflict" and "training" in p.message for p in problems)
    assert verdicts(snaps, ["https://example.com/a"])["https://example.com/a"] == "optout:content-signal:ai-train=no"


# --- TDMRep ----------------------------------------------------------------------------------
def test_tdmrep_reservation_by_location_and_policy():
    body = json.dumps([{"location": "/", "tdm-reservation": 1},
                       {"location": "/open/", "tdm-reservation": 0},
                       {"location": "/licensed/*", "tdm-reservation": 1, "tdm-policy": "https://example.com/policy.json"}])
    v = verdicts([snap(body, "tdmrep")], ["https://example.com/a", "https://example.com/open/a", "https://example.com/licensed/x"])
    assert v == {"https://example.com/a": "optout:tdmrep", "https://example.com/open/a": None, "https://example.com/licensed/x": "optout:tdmrep"}
    _, problems = sg.parse(snap(body, "tdmrep"), SMAP)
    assert [p.kind for p in problems] == ["unknown"] and "policy.json" in problems[0].message
    # a mapped policy replaces the denied uses
    smap = sg.SignalMap(**{**SMAP.__dict__, "tdm_policies": {"https://example.com/policy.json": ("commercial",)}})
    sts, problems = sg.states([snap(body, "tdmrep")], smap)
    assert not problems
    assert sg.verdict(sts, "https://example.com/licensed/x", ("fine-tuning", "research"), TAX) is None
    assert sg.verdict(sts, "https://example.com/licensed/x", FT, TAX) == "optout:tdmrep"
    assert sg.verdict(sts, "https://example.com/a", ("fine-tuning", "research"), TAX) == "optout:tdmrep"


def test_malformed_tdmrep_is_reported_with_its_line():
    for body, where in [('[{"location": "/", "tdm-reservation": 1},\n  oops]', "example.com/tdmrep:2"),
                        ('{"location": "/"}', "example.com/tdmrep"), ('[{"location": "/", "tdm-reservation": "yes"}]', "example.com/tdmrep [0]"),
                        ("[NaN]", "example.com/tdmrep")]:
        groups, problems = sg.parse(snap(body, "tdmrep"), SMAP)
        assert groups == [] and [p.kind for p in problems] == ["malformed"] and problems[0].where == where, body


# --- headers and HTML -------------------------------------------------------------------------
def test_headers_apply_to_the_whole_site():
    body = "HTTP/1.1 200 OK\nContent-Type: text/html\ntdm-reservation: 1\nX-Robots-Tag: noai, noimageai\nthis is not a header\n"
    groups, problems = sg.parse(snap(body, "headers"), SMAP)
    assert sorted(g.kind for g in groups) == ["tdmrep", "x-robots-tag", "x-robots-tag"]
    assert [(p.kind, p.where) for p in problems] == [("malformed", "example.com/headers:5")]
    v = verdicts([snap(body, "headers")], ["https://example.com/any/page"])
    assert v["https://example.com/any/page"] in ("optout:tdm-reservation", "optout:x-robots-tag:noai")
    assert verdicts([snap("tdm-reservation: 0\n", "headers")], ["https://example.com/a"]) == {"https://example.com/a": None}
    _, problems = sg.parse(snap("tdm-reservation: 0\ntdm-reservation: 1\n", "headers"), SMAP)
    assert [p.kind for p in problems] == ["conflict"]
    v = verdicts([snap("Content-Usage: train-ai=n\n", "headers")], ["https://example.com/a"])
    assert v["https://example.com/a"] == "optout:content-usage:train-ai=n"


def test_noai_meta_tags():
    page = '<html><head><meta name="robots" content="noindex, noai"><meta name="viewport" content="x"></head><body><p>hi</html>'
    assert verdicts([snap(page, "html")], ["https://example.com/a"]) == {"https://example.com/a": "optout:robots-meta:noai"}
    assert verdicts([snap('<meta name="robots" content="noimageai">', "html")], ["https://example.com/a"]) == {"https://example.com/a": None}
    assert verdicts([snap('<meta name="tdm-reservation" content="1">', "html")], ["https://example.com/a"]) == \
        {"https://example.com/a": "optout:tdm-reservation"}
    assert sg.parse(snap("<<<not html at all <meta", "html"), SMAP)[0] == []


# --- snapshots over time ----------------------------------------------------------------------
def test_as_of_crawl_honours_what_the_site_said_when_the_record_was_fetched():
    snaps = [snap("User-agent: GPTBot\nDisallow: /old/\n", at=T0), snap("User-agent: GPTBot\nDisallow: /new/\n", at=T1)]
    urls = ["https://example.com/old/a", "https://example.com/new/a", "https://example.com/old/b", "https://example.com/new/b"]
    fetched = ["2025-03-01", "2025-03-01", "2026-07-01", "2024-01-01"]
    assert sql_verdicts(snaps, urls, as_of="crawl", fetched=fetched) == [
        "optout:robots:GPTBot:/old/", None, None, None]  # before the first snapshot: the earliest one
    assert sql_verdicts(snaps, urls, as_of="now") == [None, "optout:robots:GPTBot:/new/", None, "optout:robots:GPTBot:/new/"]
    # a later snapshot that lifts the refusal is honoured for records fetched after it
    snaps = [snap("User-agent: GPTBot\nDisallow: /\n", at=T0), snap("User-agent: GPTBot\nAllow: /\n", at=T1)]
    assert sql_verdicts(snaps, urls[:1] * 2, as_of="crawl", fetched=["2025-02-01", "2026-07-01"]) == ["optout:robots:GPTBot:/", None]


# --- reading snapshots: untrusted input ---------------------------------------------------------
def test_reading_a_folder_and_tables(tmp_path):
    d = tmp_path / "crawl" / "www.Example.com"
    d.mkdir(parents=True)
    (d / "robots.txt").write_text(ROBOTS)
    (d / "tdmrep.json").write_text("[]")
    (d / "headers.txt").write_text("tdm-reservation: 1\n")
    (d / "index.html").write_text("<meta name=robots content=noai>")
    (d / "notes.md").write_text("ignored")
    snaps = sg.read_snapshots(tmp_path / "crawl", "2026-01-02")
    assert sorted(s.kind for s in snaps) == ["headers", "html", "robots", "tdmrep"]
    assert {s.domain for s in snaps} == {"example.com"} and {s.fetched_at for s in snaps} == {"2026-01-02T00:00:00Z"}
    rows = [{"domain": "a.org", "fetched_at": "2026-01-01T10:00:00+02:00", "kind": "robots", "body": "User-agent: *\nDisallow: /\n"}]
    t = tmp_path / "t.jsonl"
    t.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert sg.read_snapshots(t)[0].fetched_at == "2026-01-01T08:00:00Z"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    assert sg.read_snapshots(tmp_path / "t.parquet")[0].domain == "a.org"


@pytest.mark.parametrize("line, match, where", [
    ('{"domain": "a.org", "fetched_at": "2026-01-01", "kind": "robot", "body": ""}', "did you mean 'robots'", ":2"),
    ('{"domain": "a.org", "fetched_at": "yesterday", "kind": "robots", "body": ""}', "not an ISO 8601", ":2"),
    ('{"domain": "not a domain", "fetched_at": "2026-01-01", "kind": "robots", "body": ""}', "not a domain", ":2"),
    ('{"domain": "a.org", "kind": "robots", "body": ""}', "missing fetched_at", ":2"),
    ('{"domain": "a.org", "fetched_at": "2026-01-01", "kind": "robots", "body": 3}', "body must be text", ":2"),
    ("[1, 2]", "must be an object", ":2"), ("{oops", "malformed JSON", ":2"), ('{"x": NaN}', "malformed JSON", ":2"),
])
def test_a_malformed_table_names_file_and_line(tmp_path, line, match, where):
    t = tmp_path / "t.jsonl"
    t.write_text('{"domain": "a.org", "fetched_at": "2026-01-01", "kind": "robots", "body": ""}\n' + line + "\n")
    with pytest.raises(InvalidInput, match=match) as e:
        sg.read_snapshots(t)
    assert f"{t}{where}" in e.value.oneline()


def test_unreadable_files_are_errors_naming_them(tmp_path):
    d = tmp_path / "crawl" / "a.org"
    d.mkdir(parents=True)
    (d / "robots.txt").write_bytes(b"User-agent: *\n\xff\xfe\n")
    with pytest.raises(InvalidInput, match="invalid UTF-8") as e:
        sg.read_snapshots(tmp_path / "crawl")
    assert f"{d / 'robots.txt'}:2" in e.value.oneline()
    (d / "robots.txt").unlink()
    (tmp_path / "crawl" / "not_a_domain!").mkdir()
    with pytest.raises(InvalidInput, match="not a domain"):
        sg.read_snapshots(tmp_path / "crawl")
    (tmp_path / "t.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(InvalidInput, match="Parquet"):
        sg.read_snapshots(tmp_path / "t.parquet")


def test_fuzzed_bodies_never_crash_the_parsers():
    rng = random.Random(7)
    alphabet = "User-agent: *\nDisallow: /a\nContent-Usage: train-ai=n\n{}[],:\"\x00\xff<meta name=robots content=noai>tdm-reservation: 1\n%$*"
    for kind, _ in itertools.product(sg.KINDS, range(60)):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        groups, problems = sg.parse(snap(body, kind), SMAP)
        assert all(isinstance(p, sg.Problem) for p in problems)


# --- the store ---------------------------------------------------------------------------------
def _row(domain="a.org", body="User-agent: *\nDisallow: /\n", at=T1):
    s = sg.Snapshot(domain, "robots", at, body)
    return SignalSnapshot(s.domain, s.kind, s.fetched_at, s.sha256, s.body, "test", T1)


def test_snapshots_are_stored_once_and_append_only(reg):
    assert reg.store.add_signals([_row(), _row(), _row(at=T0)]) == 2
    assert reg.store.add_signals([_row()]) == 0
    assert [r.fetched_at for r in reg.store.signals()] == [T0, T1]
    assert reg.store.signals(["b.org"]) == []
    for stmt in ("UPDATE signals SET body = ''", "DELETE FROM signals"):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):  # the backend's trigger refuses
            reg.store.db.execute(stmt)


def test_the_memory_store_keeps_snapshots_too():
    from charter.store.memory import MemoryStore

    m = MemoryStore()
    assert m.add_signals([_row(), _row()]) == 1 and m.signals()[0].domain == "a.org"


@pytest.mark.sqlite_only("a schema-6 SQLite registry made with raw sqlite3")
def test_a_schema_6_registry_upgrades_in_place(tmp_path):
    from charter.registry import Registry
    from charter.store.sqlite import SCHEMA_VERSION

    path = tmp_path / "r.db"
    Registry.open(str(path)).close()
    db = sqlite3.connect(path)
    db.executescript("DROP TRIGGER signals_append_only_u; DROP TRIGGER signals_append_only_d; DROP TABLE signals; PRAGMA user_version=6;")
    db.close()
    r = Registry.open(str(path))
    assert r.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
    assert r.store.add_signals([_row()]) == 1
    r.close()


# --- curation ----------------------------------------------------------------------------------
from charter.data.curate import CurateConfig, curate  # noqa: E402
from tests.data.conftest import register_dataset, write_jsonl  # noqa: E402

SITES = {
    "news.example": ROBOTS,
    "shop.example": "User-agent: *\nAllow: /\nContent-Signal: search=yes, ai-train=no, ai-input=no\n",
    "blog.example": "User-agent: *\nDisallow:\n",
}
TDM = json.dumps([{"location": "/papers/", "tdm-reservation": 1}])


def web_records(n: int = 300, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    domains = ["news.example", "www.news.example", "shop.example", "blog.example", "open.example", "papers.example"]
    paths = ["/", "/news/a", "/news/public/b", "/private/x", "/doc.pdf", "/papers/p1", "/a?b=1", "/%7Eme/x"]
    return [{"text": f"record {i} " + "word " * rng.randint(1, 20), "url": f"https://{rng.choice(domains)}{rng.choice(paths)}",
             "fetched_at": rng.choice(["2025-02-01T00:00:00Z", "2026-08-01T00:00:00Z", None])} for i in range(n)]


def import_sites(reg, at=T1):
    rows = [sg.Snapshot(d, "robots", at, body) for d, body in SITES.items()] + [sg.Snapshot("papers.example", "tdmrep", at, TDM)]
    reg.store.add_signals([SignalSnapshot(s.domain, s.kind, s.fetched_at, s.sha256, s.body, "test", T1) for s in rows])
    return rows


def test_curate_excludes_by_signal_and_counts_each_reason(reg, tmp_path):
    recs = web_records()
    write_jsonl(tmp_path / "web" / "a.jsonl", recs[:150])
    write_jsonl(tmp_path / "web" / "b.jsonl", recs[150:])
    src = register_dataset(reg, tmp_path / "web", "web", ["a.jsonl", "b.jsonl"])
    snaps = import_sites(reg)
    sts, _ = sg.states(snaps, SMAP)
    expected: dict[str, int] = {}
    for r in recs:
        mine = [st for st in sts if st.domain == sg.normalize_domain(r["url"].split("/")[2])]
        why = sg.verdict(mine, r["url"], FT, TAX)
        if why:
            expected[why] = expected.get(why, 0) + 1
    assert len(expected) >= 4  # robots by crawler and by `*`, content-signal, tdmrep
    res = curate(reg, CurateConfig((src,), FT, tmp_path / "out", signals=True))
    m = res.manifest
    assert {k: v for k, v in m["excluded"].items() if k.startswith("optout:")} == expected
    assert m["output"] == len(recs) - sum(expected.values())
    assert m["signals"]["domains"] == 4 and m["signals"]["terms"]["optout:tdmrep"]["fetched_at"] == [T1, T1]
    assert m["config"]["signals"]["as_of"] == "now"
    # without --signals nothing is excluded, and the config differs
    plain = curate(reg, CurateConfig((src,), FT, tmp_path / "plain"))
    assert plain.manifest["output"] == len(recs) and plain.manifest["config_hash"] != m["config_hash"]
    # for uses no signal refuses only `User-agent: *` counts
    inf = curate(reg, CurateConfig((src,), ("evaluation",), tmp_path / "eval", signals=True))
    assert set(k for k in inf.manifest["excluded"] if k.startswith("optout:")) == {"optout:robots:*:/private/"}


def test_curate_as_of_crawl_and_a_missing_url_column(reg, tmp_path):
    recs = [{"text": "a", "url": "https://x.example/a", "fetched_at": "2025-03-01"},
            {"text": "b", "url": "https://x.example/a", "fetched_at": "2026-07-01"},
            {"text": "c", "url": "https://x.example/a", "fetched_at": None}]
    write_jsonl(tmp_path / "d" / "r.jsonl", recs)
    src = register_dataset(reg, tmp_path / "d", "crawl", ["r.jsonl"])
    reg.store.add_signals([_row("x.example", "User-agent: CCBot\nDisallow: /\n", T0), _row("x.example", "User-agent: CCBot\nAllow: /\n", T1)])
    crawl = curate(reg, CurateConfig((src,), FT, tmp_path / "crawl", signals=True, signals_as_of="crawl"))
    assert crawl.manifest["excluded"] == {"optout:robots:CCBot:/": 1} and crawl.manifest["output"] == 2
    now = curate(reg, CurateConfig((src,), FT, tmp_path / "now", signals=True))
    assert now.manifest["output"] == 3
    with pytest.raises(InvalidInput, match="no source has a URL column 'link'") as e:
        curate(reg, CurateConfig((src,), FT, tmp_path / "x", signals=True, url_field="link"))
    assert "--url-field" in e.value.oneline()


def test_sources_without_urls_are_curated_without_signals(reg, tmp_path):
    write_jsonl(tmp_path / "m" / "m.jsonl", [{"text": "no url here"}])
    write_jsonl(tmp_path / "w" / "w.jsonl", [{"text": "t", "url": "https://x.example/a"}])
    a = register_dataset(reg, tmp_path / "m", "messages", ["m.jsonl"])
    b = register_dataset(reg, tmp_path / "w", "web", ["w.jsonl"])
    reg.store.add_signals([_row("x.example", "User-agent: *\nDisallow: /\n")])
    m = curate(reg, CurateConfig((a, b), FT, tmp_path / "out", signals=True)).manifest
    assert m["excluded"] == {"optout:robots:*:/": 1} and m["output"] == 1
    assert [s["signals"] for s in m["sources"]] == ["not applied: no column 'url'", "applied"]


def test_fetch_times_in_sql_are_read_as_in_python():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Tokyo'")  # the session's zone must not matter
    for v in ["2025-03-01T00:00:00Z", "2025-03-01T02:00:00+02:00", "2025-03-01", "2025-03-01 05:00", "2025-03-01 05:00:00+00",
              "2025-02-28T23:30:00-01:00"]:
        got = con.execute(f"SELECT {sg.fetched_sql('x')} FROM (SELECT ? AS x)", [v]).fetchall()[0][0]
        assert got.isoformat() + "Z" == sg.parse_time(v, "t"), v
    assert con.execute(f"SELECT {sg.fetched_sql('x')} FROM (SELECT 'soon' AS x)").fetchall() == [(None,)]


# --- a dataset that declares its crawl: adapt and train re-check its sites' signals -------------
def test_a_declared_crawl_is_rechecked_before_training(reg, tmp_path):
    from charter.training.data import tag_exclusions

    write_jsonl(tmp_path / "c" / "c.jsonl", [{"text": "a", "link": "https://x.example/news/1"}, {"text": "b", "link": "https://x.example/a"}])
    src = register_dataset(reg, tmp_path / "c", "crawl", ["c.jsonl"], extra="source: {crawl: test-crawl-2026, url_field: link}\n")
    assert reg.get(src).data["source"] == {"crawl": "test-crawl-2026", "url_field": "link"}
    assert tag_exclusions(reg, reg.get(src), FT) == {}
    reg.store.add_signals([_row("x.example", "User-agent: GPTBot\nDisallow: /news/\n")])
    assert tag_exclusions(reg, reg.get(src), FT) == {"optout:robots:GPTBot:/news/": 1}
    assert tag_exclusions(reg, reg.get(src), ("evaluation",)) == {}
    # curate takes the URL column from the charter
    m = curate(reg, CurateConfig((src,), FT, tmp_path / "out", signals=True)).manifest
    assert m["excluded"] == {"optout:robots:GPTBot:/news/": 1}


@pytest.mark.parametrize("source, match", [
    ("{url_field: link}", "must name its crawl"), ("{crawl: x, url_feld: link}", "did you mean 'url_field'"),
    ("{crawl: x, url_field: [a]}", "must be a column name"), ("crawl-2026", "must name its crawl"),
])
def test_a_bad_source_declaration_names_the_field(reg, tmp_path, source, match):
    write_jsonl(tmp_path / "c" / "c.jsonl", [{"text": "a"}])
    with pytest.raises(InvalidInput, match=match) as e:
        register_dataset(reg, tmp_path / "c", "crawl", ["c.jsonl"], extra=f"source: {source}\n")
    assert "crawl.yaml:" in e.value.oneline()


def test_the_card_shows_each_signal_with_its_fetch_time(reg, tmp_path):
    from charter.report.card import card

    write_jsonl(tmp_path / "w" / "w.jsonl", [{"text": "t", "url": "https://x.example/news/a"}, {"text": "u", "url": "https://x.example/b"}])
    src = register_dataset(reg, tmp_path / "w", "web", ["w.jsonl"])
    reg.store.add_signals([_row("x.example", "User-agent: CCBot\nDisallow: /news/\n")])
    res = curate(reg, CurateConfig((src,), FT, tmp_path / "out", signals=True, name="web-curated", version="1"))
    text = card(reg, res.asset.id)
    assert f"1 excluded: optout:robots:CCBot:/news/ (the site's signal as fetched {T1}; honoured as of now)" in text
