"""Export a 10,002-asset lineage to each standard format and import it into a fresh registry (issue 17 §5).

The lineage is bench_sign's (``--chains`` chains of ``--length`` assets merged into one model, deployed by one
application): the application is exported with ``--lineage`` (itself and everything upstream) to CycloneDX, SPDX 3,
ODRL and PROV, and each document that carries lineage and uses is imported back (`charter import FMT`) into a fresh
registry, which must then hold every asset. Signing and verifying the same lineage's bundle: bench_sign.py.

    .venv/bin/python bench/bench_export.py                        # 100 chains x 100 = 10,002 assets
    .venv/bin/python bench/bench_export.py --chains 10 --length 100  # 1,002 assets, quick
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench_sign import lineage
from common import machine, memory_line, write_result

from charter.cli.main import main as charter
from charter.exports import SUFFIX, export
from charter.registry import Registry
from charter.store.sqlite import SQLiteStore

FORMATS = ("cyclonedx", "spdx3", "odrl", "prov")
IMPORTED = ("cyclonedx", "spdx3", "odrl")  # PROV carries no uses: not imported (docs/exports.md)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--length", type=int, default=100)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        assets = lineage(a.chains, a.length)
        reg = Registry(SQLiteStore(work / "up.db"))
        for i in range(0, len(assets), 5000):
            reg.add(assets[i:i + 5000])
        root = assets[-1].id
        rows, result = [], {"assets": len(assets), "formats": {}}
        for fmt in FORMATS:
            t = time.perf_counter()
            text = export(reg, root, fmt, lineage=True)
            t_export = time.perf_counter() - t
            path = work / f"root{SUFFIX[fmt]}"
            path.write_text(text, encoding="utf-8")
            got = {"export_s": round(t_export, 2), "bytes": len(text.encode())}
            if fmt in IMPORTED:
                db = work / f"down-{fmt}.db"
                t = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    code = charter(["import", fmt, str(path), "--registry", str(db), "--json"])
                got["import_s"] = round(time.perf_counter() - t, 2)
                down = SQLiteStore(db)
                got["imported"] = down.count()
                down.close()
                assert code == 0 and got["imported"] == len(assets), (fmt, code, got)
            result["formats"][fmt] = got
            rows.append((fmt, got))
            print(f"  {fmt:<10} export {got['export_s']:7.2f}s  {got['bytes'] / 1e6:6.1f} MB"
                  + (f"   import into a fresh registry {got['import_s']:7.2f}s ({got['imported']:,} assets)" if "import_s" in got else ""), flush=True)
        print(f"{len(assets):,} assets in one lineage ({a.chains} chains x {a.length}, merged), load average {os.getloadavg()[0]:.1f}, {memory_line()}")
        result.update(load=os.getloadavg()[0], machine=machine())
        write_result("export", result)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
