"""Registration throughput: the synthetic registry through Store.add, in parents-first batches.

Builds (or rebuilds) the cached registry under bench/out/ that the other benchmarks use.
Only the time inside Store.add counts; generating the assets is reported separately.
There is no target in the issue for this one: the script reports assets/s.
"""

from __future__ import annotations

import common


def main() -> None:
    a = common.args(__doc__.splitlines()[0], lambda ap: ap.add_argument("--batch", type=int, default=common.BATCH))
    meta = common.build(a.assets, a.seed, a.batch)
    rows = [
        ("assets", f"{meta['assets']:,}"),
        ("batch size", f"{meta['batch']:,}"),
        ("Store.add time", f"{meta['register_s']:.1f} s"),
        ("assets/s", f"{meta['assets_per_s']:,.0f}"),
        ("generator time (not counted)", f"{meta['generate_s']:.1f} s"),
        ("lineage edges", f"{meta['edges']:,}"),
        ("closure rows", f"{meta['closure_rows']:,}"),
        ("max depth", meta["max_depth"]),
        ("database size", f"{meta['db_bytes'] / 2**20:,.0f} MiB"),
        ("peak RSS", f"{meta['peak_rss_mb']:,.0f} MB"),
        ("  of which anonymous / mapped db pages (at end)", f"{meta.get('rss_anon_mb', 0):,.0f} / {meta.get('rss_file_mb', 0):,.0f} MB"),
    ]
    print(f"\nRegistration of {meta['assets']:,} synthetic assets ({meta['datasets']:,} datasets, {meta['bases']:,} base models, "
          f"{meta['derived']:,} derived models, {meta['applications']:,} applications)")
    print(common.table(rows, ("what", "value")))
    common.write_result("register", {**meta, "pass": None})
    print(f"RESULT register: {meta['assets']:,} assets in {meta['register_s']:.1f} s = {meta['assets_per_s']:,.0f} assets/s "
          f"(no target in the issue; reported only)")


if __name__ == "__main__":
    main()
