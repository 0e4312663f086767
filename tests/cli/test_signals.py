"""`charter signals import|show|report` and `charter curate --signals`: exit codes, JSON, text output."""

from __future__ import annotations

import json

import pytest

from charter.cli.main import main
from clirun import run

ROBOTS = "User-agent: GPTBot\nDisallow: /news/\n\nUser-agent: *\nDisallow: /private/\n"


@pytest.fixture
def world(tmp_path):
    """A registry with a web dataset over three sites, and a crawl folder of their signals."""
    crawl = tmp_path / "crawl"
    for domain, files in {"news.example": {"robots.txt": ROBOTS},
                          "papers.example": {"tdmrep.json": json.dumps([{"location": "/", "tdm-reservation": 1}]), "headers.txt": "X: y\nbroken\n"},
                          "open.example": {"robots.txt": "User-agent: *\nAllow: /\n"}}.items():
        (crawl / domain).mkdir(parents=True)
        for name, body in files.items():
            (crawl / domain / name).write_text(body)
    data = tmp_path / "web"
    data.mkdir()
    rows = [{"text": f"text {i} one two", "url": f"https://{d}{p}"} for i, (d, p) in
            enumerate([(d, p) for d in ("news.example", "papers.example", "open.example", "other.example") for p in ("/", "/news/x", "/private/y")])]
    (data / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "web.yaml").write_text("id: dataset/web@1\nlicense: CC0-1.0\ndata: [r.jsonl]\n")
    db = str(tmp_path / "r.db")
    assert main(["add", str(data / "web.yaml"), "--registry", db]) == 0
    return db, crawl, tmp_path


def test_import_show_and_curate(world, capsys):
    db, crawl, tmp = world
    code, d, err = run(capsys, "signals", "import", str(crawl), "--fetched-at", "2026-05-01", "--json", "--registry", db)
    assert code == 0, err
    assert d["snapshots"] == 4 and d["new"] == 4 and d["domains"] == 3
    assert [(p["kind"], p["where"].endswith("headers.txt:2")) for p in d["problems"]] == [("malformed", True)]
    code, d, _ = run(capsys, "signals", "import", str(crawl), "--fetched-at", "2026-05-01", "--json", "--registry", db)
    assert d["new"] == 0  # the same snapshots again: nothing new
    code, out, _ = run(capsys, "signals", "show", "news.example", "--registry", db)
    assert code == 0 and "GPTBot" in out and "/news/" in out
    code, d, _ = run(capsys, "signals", "show", "www.news.example", "--for", "fine-tuning", "--json", "--registry", db)
    assert {g["kind"] for g in d["groups"]} == {"robots"} and d["domain"] == "news.example"
    code, out, _ = run(capsys, "signals", "show", "nothing.example", "--registry", db)
    assert "no signals stored" in out
    code, d, err = run(capsys, "curate", "dataset/web@1", "--for", "fine-tuning", "--out", str(tmp / "cur"), "--signals", "--json", "--registry", db)
    assert code == 0, err
    assert d["excluded"] == {"optout:tdmrep": 3, "optout:robots:*:/private/": 1, "optout:robots:GPTBot:/news/": 1}
    code, out, _ = run(capsys, "curate", "dataset/web@1", "--for", "fine-tuning", "--out", str(tmp / "cur2"), "--signals", "--registry", db)
    assert "optout:tdmrep" in out and "web signals (now): 2 of 3 domains" in out and "1 malformed" in out


def test_report_shares_and_change(world, capsys):
    db, crawl, tmp = world
    assert main(["signals", "import", str(crawl / "news.example"), "--registry", db]) == 2  # a domain folder is not a crawl folder
    capsys.readouterr()
    assert main(["signals", "import", str(crawl), "--fetched-at", "2026-05-01", "--registry", db]) == 0
    t = tmp / "later.jsonl"
    t.write_text(json.dumps({"domain": "open.example", "fetched_at": "2026-09-01", "kind": "robots", "body": "User-agent: CCBot\nDisallow: /\n"}) + "\n")
    assert main(["signals", "import", str(t), "--registry", db]) == 0
    code, d, err = run(capsys, "signals", "report", "dataset/web@1", "--vs", "2026-06-01", "--json", "--registry", db)
    assert code == 0, err
    r = d["report"]
    assert r["records"] == 12 and r["tokens"] == 12 * 4
    assert r["kinds"]["tdmrep"]["records"] == 3 and r["labels"]["robots|CCBot"]["records"] == 3
    assert r["labels"]["robots|*"]["records"] == 1 and r["labels"]["robots|GPTBot"]["records"] == 1
    assert d["vs"]["labels"].get("robots|CCBot") is None and d["change_pp"]["labels"]["robots|CCBot"] == 25.0
    code, out, _ = run(capsys, "signals", "report", "dataset/web@1", "--vs", "2026-06-01", "--registry", db)
    assert "refused by any signal" in out and "+25.00 points" in out


def test_bad_input_exit_codes(world, capsys):
    db, crawl, tmp = world
    t = tmp / "bad.jsonl"
    t.write_text('{"domain": "a.org", "fetched_at": "2026-01-01", "kind": "robotz", "body": ""}\n')
    code, _, err = run(capsys, "signals", "import", str(t), "--registry", db)
    assert code == 1 and f"{t}:1" in err and "did you mean 'robots'" in err
    code, _, err = run(capsys, "signals", "import", str(tmp / "missing"), "--registry", db)
    assert code == 2
    with pytest.raises(SystemExit) as e:
        main(["curate", "dataset/web@1", "--for", "training", "--out", str(tmp / "o"), "--signals", "--signals-as-of", "later", "--registry", db])
    assert e.value.code == 2
    code, _, err = run(capsys, "curate", "dataset/web@1", "--for", "training", "--out", str(tmp / "o"), "--signals", "--url-field", "link", "--registry", db)
    assert code == 1 and "URL column 'link'" in err and "--url-field" in err
