"""The web view at size, in Chromium (Playwright driving Debian's chromium): search results as you type, an asset
page, and the lineage of the largest synthetic family's base (>= 100,000 descendants at 1M assets) drawn with 500
and with 2,000 nodes (the most one response carries; the rest stay collapsed, counted per node), and its impact
page. Each page is loaded --repeat times; the time is from navigation until the page shows its data (the graph
drawn). Also the bytes of the graph's JSON: the page never receives the whole family.

Needs playwright (the `test` extra) and Debian's chromium on the PATH."""

from __future__ import annotations

import shutil
import socket
import statistics
import threading
import time

import common

from charter.registry import Registry


def main() -> None:
    a = common.args(__doc__.splitlines()[0], lambda ap: ap.add_argument("--repeat", type=int, default=3))
    path, meta = common.ensure(a.assets, a.seed, a.rebuild)
    import httpx
    import uvicorn
    from playwright.sync_api import sync_playwright

    from charter.web.app import create_app

    reg = Registry.open(str(path), create=False)
    base, = reg.store.db.execute("SELECT a.id FROM edges e JOIN assets a ON a.rid=e.parent GROUP BY e.parent ORDER BY count(*) DESC LIMIT 1").fetchone()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(reg), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    graph = "() => document.querySelector('#graph') && +document.querySelector('#graph').dataset.nodes > 1"
    cases = [
        ("search 'giant-0' (results listed)", "/?q=giant-0", "() => document.querySelector('#count').textContent.includes('match')"),
        ("asset page of the base (150 nodes)", f"/asset?ref={base}", graph),
        ("lineage, 500 nodes", f"/asset?ref={base}&up=2&down=1000&limit=500", graph),
        ("lineage, 2,000 nodes", f"/asset?ref={base}&up=2&down=1000&limit=2000", graph),
        ("impact page of the base", f"/impact?ref={base}", graph),
    ]
    rows, result = [], {"assets": a.assets, "base": base, "cases": {}}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = b.new_page(base_url=url)
        for name, path_q, done in cases:
            times = []
            for _ in range(a.repeat):
                t = time.perf_counter()
                page.goto(path_q)
                page.wait_for_function(done, timeout=120_000)
                times.append(time.perf_counter() - t)
            nodes = page.evaluate("() => document.querySelector('#graph') ? +document.querySelector('#graph').dataset.nodes : null")
            result["cases"][name] = {"median_s": statistics.median(times), "times_s": times, "nodes": nodes}
            rows.append((name, f"{statistics.median(times):.2f}", f"{min(times):.2f}", nodes if nodes is not None else "-"))
        b.close()
    for limit in (500, 2000):
        r = httpx.get(f"{url}/api/graph", params={"ref": base, "up": 2, "down": 1000, "limit": limit}, timeout=120)
        g = r.json()
        result[f"graph_{limit}"] = {"bytes": len(r.content), "nodes": len(g["nodes"]), "downstream": g["total"]["down"]}
        rows.append((f"/api/graph limit {limit}: bytes (of {g['total']['down']:,} downstream)", f"{len(r.content):,}", "", len(g["nodes"])))
    srv.should_exit = True
    print(common.table(rows, ("case", "median s", "min s", "nodes")))
    print(common.memory_line())
    common.write_result("ui", result)


if __name__ == "__main__":
    main()
