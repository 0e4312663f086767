"""The web view at size, in Chromium (Playwright driving Debian's chromium): on the synthetic registry
(bench/synth.py), search results as you type, the asset page of the largest family's base (>= 100,000 descendants at
1M assets), its lineage drawn with 500 nodes, the lineage of a family of about 10,000 (the smallest giant's base at 1M)
drawn with 2,000 nodes (the most one response carries; the rest stay collapsed, counted per node, expandable) and
the largest base's impact page; with --ecosystem DIR, the same pages on the CRFM Ecosystem Graphs' assets imported
(`charter import ecosystem-graphs DIR`). Each page is loaded --repeat times; the time is from navigation until the
page shows its data (the graph drawn). Also the bytes of the graph's JSON: the page never receives the whole family.

Needs playwright (the `test` extra) and Debian's chromium on the PATH."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import threading
import time
from pathlib import Path

import common

from charter.registry import Registry

GRAPH = "() => document.querySelector('#graph') && +document.querySelector('#graph').dataset.nodes > 1"
LISTED = "() => document.querySelector('#count').textContent.includes('match')"


def serve(reg: Registry):
    """The view over ``reg`` on a free loopback port, in a thread; returns (server, url)."""
    import uvicorn

    from charter.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(reg), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    return srv, f"http://127.0.0.1:{port}"


def measure(browser, url: str, cases: list[tuple[str, str, str]], repeat: int) -> tuple[list, dict]:
    page = browser.new_page(base_url=url)
    rows, out = [], {}
    for name, path_q, done in cases:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            page.goto(path_q)
            page.wait_for_function(done, timeout=300_000)
            times.append(time.perf_counter() - t)
        nodes = page.evaluate("() => document.querySelector('#graph') ? +document.querySelector('#graph').dataset.nodes : null")
        out[name] = {"median_s": statistics.median(times), "times_s": times, "nodes": nodes}
        rows.append((name, f"{statistics.median(times):.2f}", f"{min(times):.2f}", nodes if nodes is not None else "-"))
    page.close()
    return rows, out


def graph_bytes(url: str, ref: str, limit: int) -> tuple[tuple, dict]:
    import httpx

    r = httpx.get(f"{url}/api/graph", params={"ref": ref, "up": 2, "down": 1000, "limit": limit}, timeout=300)
    g = r.json()
    return ((f"/api/graph of {ref} limit {limit}: bytes (of {g['total']['down']:,} downstream)", f"{len(r.content):,}", "", len(g["nodes"])),
            {"bytes": len(r.content), "nodes": len(g["nodes"]), "downstream": g["total"]["down"]})


def synthetic_cases(reg: Registry, meta: dict) -> tuple[list, str, str]:
    roots = meta.get("giant_roots") or []
    if roots:
        big, ten = roots[0], roots[-1]
    else:  # an older cached registry: the base with the most children, twice
        big, = reg.store.db.execute("SELECT a.id FROM edges e JOIN assets a ON a.rid=e.parent GROUP BY e.parent ORDER BY count(*) DESC LIMIT 1").fetchone()
        ten = big
    name = big.split("/")[-1].split("@")[0]
    return [
        (f"search '{name}' (results listed)", f"/?q={name}", LISTED),
        ("asset page of the largest base (150 nodes)", f"/asset?ref={big}", GRAPH),
        ("its lineage, 500 nodes", f"/asset?ref={big}&up=2&down=1000&limit=500", GRAPH),
        (f"lineage of {ten} (2,000 nodes drawn)", f"/asset?ref={ten}&up=2&down=1000&limit=2000", GRAPH),
        ("impact page of the largest base", f"/impact?ref={big}", GRAPH),
    ], big, ten


def ecosystem(folder: Path) -> tuple[Registry, str]:
    """The Ecosystem Graphs' assets imported into a fresh registry under bench/out; its most depended-on asset."""
    from charter.cli.main import main as cli

    db = common.OUT / "ecosystem-graphs.db"
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    t = time.perf_counter()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # its --json report: thousands of lines
        code = cli(["import", "ecosystem-graphs", str(folder), "--registry", str(db), "--json"])
    assert code == 0, "the Ecosystem Graphs import failed"
    print(f"imported Ecosystem Graphs in {time.perf_counter() - t:.1f} s", flush=True)
    reg = Registry.open(str(db), create=False)
    top = max((a.id for a in reg.store.find()), key=lambda i: len(reg.store.downstream(i)))
    return reg, top


def main() -> None:
    def extra(ap):
        ap.add_argument("--repeat", type=int, default=3)
        ap.add_argument("--ecosystem", type=Path, metavar="DIR", help="the assets/ folder of stanford-crfm/ecosystem-graphs")

    a = common.args(__doc__.splitlines()[0], extra)
    from playwright.sync_api import sync_playwright

    path, meta = common.ensure(a.assets, a.seed, a.rebuild)
    reg = Registry.open(str(path), create=False)
    cases, big, ten = synthetic_cases(reg, meta)
    srv, url = serve(reg)
    result = {"assets": a.assets, "base": big, "ten_thousand": ten, "cases": {}}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        rows, result["cases"] = measure(b, url, cases, a.repeat)
        for ref, limit in ((big, 500), (ten, 2000)):
            row, result[f"graph_{limit}"] = graph_bytes(url, ref, limit)
            rows.append(row)
        srv.should_exit = True
        if a.ecosystem:
            ereg, top = ecosystem(a.ecosystem)
            esrv, eurl = serve(ereg)
            n = ereg.store.count()
            erows, result["ecosystem"] = measure(b, eurl, [
                ("Ecosystem Graphs: search 'gpt' (results listed)", "/?q=gpt", LISTED),
                (f"Ecosystem Graphs: asset page of {top}", f"/asset?ref={top}", GRAPH),
                (f"Ecosystem Graphs: lineage of {top}, every hop", f"/asset?ref={top}&up=1000&down=1000&limit=2000", GRAPH),
            ], a.repeat)
            result["ecosystem_assets"] = n
            rows += [(f"{r[0]} [{n} assets]", *r[1:]) for r in erows]
            esrv.should_exit = True
        b.close()
    print(common.table(rows, ("case", "median s", "min s", "nodes")))
    print(common.memory_line())
    common.write_result("ui", result)


if __name__ == "__main__":
    main()
