"""Sign and verify a bundle of a 10,001-charter lineage (issue 17 §3/§5): target under 5 s for signing every
charter, writing the bundle, and verifying it offline.

The lineage: ``--chains`` chains of ``--length`` assets (a dataset, then a base model trained on it and
fine-tunes of fine-tunes, each with a weights digest, a licence and ~1 in 7 with a deny list), and one
application deployed from a model merged from every chain's last model: its lineage holds every charter.

    .venv/bin/python bench/bench_sign.py                 # 100 chains x 100 = 10,001 charters
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine, memory_line, write_result  # noqa: E402

from charter.core.assets import Asset, Edge  # noqa: E402
from charter.registry import Registry  # noqa: E402
from charter.store.sqlite import SQLiteStore  # noqa: E402
from charter.trust import keys  # noqa: E402
from charter.trust.bundle import BUNDLE_FORMAT, bundle_text, import_bundle, read_json, sign_charters, verify_bundle, write_json  # noqa: E402
from charter.trust.keys import TrustStore  # noqa: E402

DENY = (("military",), ("biometric-identification",), ("surveillance", "face-recognition"))
LICENSES = ("apache-2.0", "mit", "llama2", "CC-BY-4.0", "openrail-m")


def lineage(chains: int, length: int) -> list[Asset]:
    out: list[Asset] = []
    tails = []
    for c in range(chains):
        d = f"dataset/corpus-{c:04d}@1"
        out.append(Asset(d, "dataset", f"corpus-{c:04d}", "1", licenses=("CC-BY-4.0",), deny=DENY[c % 3] if c % 7 == 0 else (),
                         data={"digests": [{"path": f"/data/{c}.parquet", "sha256": hashlib.sha256(d.encode()).hexdigest(), "bytes": 1 << 20}]}))
        prev, rel = d, "trained-on"
        for k in range(length - 1):
            name = f"acme-m{c:04d}-{k:03d}"
            m = f"model/{name}@1"
            w = {"sha256": hashlib.sha256(m.encode()).hexdigest(), "digest": "folder-v2", "files": [{"path": "model.safetensors", "sha256": "0" * 64}]}
            out.append(Asset(m, "model", name, "1", description=f"fine-tune {k} of chain {c}", licenses=(LICENSES[(c + k) % 5],),
                             deny=DENY[k % 3] if (c * length + k) % 7 == 3 else (), derived_from=(Edge(m, prev, rel),), notes={"weights": w}))
            prev, rel = m, "fine-tuned-from"
        tails.append(prev)
    merged = "model/acme-merged@1"
    out.append(Asset(merged, "model", "acme-merged", "1", licenses=("apache-2.0",), derived_from=tuple(Edge(merged, t, "merged-from") for t in tails)))
    app = "application/acme-assistant@1"
    out.append(Asset(app, "application", "acme-assistant", "1", derived_from=(Edge(app, merged, "deployed-from"),)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--target", type=float, default=5.0, help="seconds for sign + bundle + verify (default 5)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sign-"))
    try:
        assets = lineage(a.chains, a.length)
        t = time.perf_counter()
        reg = Registry(SQLiteStore(work / "up.db"))
        for i in range(0, len(assets), 5000):
            reg.add(assets[i:i + 5000])
        t_reg = time.perf_counter() - t
        keys.new_key("acme", work / "keys")
        key = keys.load("acme", work / "keys")
        trust = TrustStore.load(work / "trust.json")
        trust.add(key.public, ["*"], "acme")
        root = assets[-1].id

        t, c = time.perf_counter(), time.process_time()
        new, _ = sign_charters(reg, root, key, upstream=True)
        t_sign, c_sign = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        write_json(bundle_text(reg, root, key), work / "bundle.json")
        t_bundle, c_bundle = time.perf_counter() - t, time.process_time() - c
        size = (work / "bundle.json").stat().st_size
        t, c = time.perf_counter(), time.process_time()
        got, _ = read_json(work / "bundle.json", BUNDLE_FORMAT, "bundle")
        v = verify_bundle(got, TrustStore.load(work / "trust.json"))
        t_verify, c_verify = time.perf_counter() - t, time.process_time() - c
        assert len(v.assets) == len(assets) and all(v.signers.values()) and not v.warnings
        t = time.perf_counter()
        down = Registry(SQLiteStore(work / "down.db"))
        imp = import_bundle(down, work / "bundle.json", trust)
        t_import = time.perf_counter() - t
        assert len(imp["added"]) == len(assets)
        total, cpu = t_sign + t_bundle + t_verify, c_sign + c_bundle + c_verify
        rows = [(f"sign {len(new):,} charters (Merkle lineage digests + DSSE)", t_sign, c_sign),
                (f"bundle: read, write {size / 1e6:.1f} MB", t_bundle, c_bundle), ("verify offline (parse, digests, every signature, manifest)", t_verify, c_verify),
                ("sign + bundle + verify", total, cpu)]
        print(f"{len(assets):,} charters in one lineage ({a.chains} chains x {a.length}, merged), load average {os.getloadavg()[0]:.1f}, {memory_line()}")
        print(f"  {'':<64} {'wall':>8} {'cpu':>8}")
        for label, s, cs in rows:
            print(f"  {label:<64} {s:7.2f}s {cs:7.2f}s")
        print(f"  {'(register the lineage: Store.add)':<64} {t_reg:7.2f}s\n  {'(import into a fresh registry: verify, register, signatures)':<64} {t_import:7.2f}s")
        ok = total < a.target
        result = {"assets": len(assets), "charters": len(assets), "bundle_bytes": size, "register_s": t_reg, "sign_s": t_sign, "bundle_s": t_bundle,
                  "verify_s": t_verify, "total_s": total, "cpu_s": cpu, "load": os.getloadavg()[0], "import_s": t_import, "target_s": a.target, "pass": ok, "machine": machine()}
        write_result("sign", result)
        print(f"RESULT sign+bundle+verify {total:.2f} s for {len(assets):,} charters (target < {a.target:g} s) {'PASS' if ok else 'FAIL'}")
        down.close()
        reg.close()
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
