"""``charter curate``: keep exactly the records usable for the declared uses, write them as
Parquet, account for every exclusion in a manifest, and register the result.

Phases (each shard's work is committed by a rename, so an interrupted run resumes):
  0. decide each source (its charter and everything upstream); hash the input files; the
     config (uses, sources and their file hashes, options, withdrawn owners) gets a hash;
     an output folder holding another config is refused;
  1. per shard of a permitted source: one SQL pass (while validating, before any output is
     written) checks the tags and counts the exclusion reasons, one COPY writes the kept rows
     to ``.charter/stage/`` — both use the compiled predicate (data/predicate.py), so no record
     goes through Python;
  2. dedup (exact in SQL, near with MinHash LSH) and ``--max-records`` over the staged rows,
     in curation order; final shards ``part-NNNNN.parquet`` (one per input shard);
  3. ``manifest.json`` (counts per source and reason, hashes, config) and registration of the
     curated dataset (``curated-from`` each contributing source; allowed uses = the declared ones).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from charter.core.assets import Asset, Edge
from charter.core.charterfile import DATA_DEFAULTS
from charter.core.digests import hash_file, verify_data
from charter.core.runs import RunFolder, atomic_write
from charter.core.sql import literal
from charter.core.ids import make_id, slug, valid_version
from charter.data import dedup as dedup_mod
from charter.data.predicate import compile_predicate
from charter.data.source import (FORMATS, Shard, check_schemas, check_tags, fields_of, files_of, literal_path, open_shard, reading,
                                  unknown_tags_sql)
from charter.errors import InvalidInput, UsageError
from charter.policy.decide import Decision
from charter.registry import Registry

MANIFEST = "manifest.json"
STATE = ".charter"
COLUMNS = "text, charter_allow, charter_deny, charter_owner, source, source_file, source_row"
DEDUP = ("none", "exact", "near")


@dataclass(frozen=True)
class CurateConfig:
    sources: tuple[str, ...]
    uses: tuple[str, ...]
    out: Path
    dedup: str = "none"
    text_field: str | None = None
    min_chars: int = 0
    max_records: int | None = None
    on_error: str = "stop"
    name: str | None = None
    version: str | None = None
    near_threshold: float = 0.8
    signals: bool = False  # honour the sites' web signals (data/signals.py), matched by each record's URL
    signals_as_of: str = "now"  # now: the latest snapshot; crawl: the one in force when the record was fetched
    url_field: str = "url"
    fetched_at_field: str = "fetched_at"
    signals_map: Path | None = None


@dataclass
class Progress:
    """Callbacks for long work (the CLI draws them with rich): start(label, total) -> tick(n)."""

    start: Callable[..., Callable[[int], None]] = lambda label, total, unit="rec": (lambda n: None)


@dataclass
class Result:
    asset: Asset
    manifest: dict
    manifest_path: Path
    resumed_shards: int = 0
    already_done: bool = False
    sources: list[dict] = field(default_factory=list)


def curate(reg: Registry, cfg: CurateConfig, progress: Progress | None = None) -> Result:
    progress = progress or Progress()
    uses = reg.check_uses(cfg.uses)
    _check_options(cfg)
    out = Path(cfg.out)
    sources = [reg.resolve(s) for s in dict.fromkeys(cfg.sources)]
    assets = [reg.get(s) for s in sources]
    for a in assets:
        if a.kind != "dataset" or not a.data:
            raise InvalidInput(f"{a.id} is not a dataset with data files", hint="curate datasets whose charter has data: [files]", field="SOURCE")
    owners = reg.store.owner_withdrawals()
    plan = [_plan_source(reg, a, uses, cfg) for a in assets]
    con = duckdb.connect()
    sig = _signals(con, reg, cfg, uses) if cfg.signals else None
    predicate = compile_predicate(uses, reg.taxonomy, sorted(owners), cfg.min_chars, unknown=cfg.on_error == "skip", signals=sig is not None)
    shards = _open_all(con, reg, plan, cfg, predicate)  # validates everything before any output is written
    for p in plan:
        for f in p["files"]:
            f["sha256"] = f["sha256"].result()
    config = {
        "uses": list(uses),
        "sources": [{"asset": p["asset"], "files": [{"path": f["path"], "sha256": f["sha256"], "bytes": f["bytes"]} for f in p["files"]]} for p in plan],
        "dedup": cfg.dedup, "text_field": cfg.text_field, "min_chars": cfg.min_chars, "max_records": cfg.max_records,
        "on_error": cfg.on_error, "near_threshold": cfg.near_threshold if cfg.dedup == "near" else None,
        "withdrawn_owners": sorted(owners),
    }
    if sig is not None:
        config["signals"] = sig["config"]
    # the state file sits under .charter/ with the staged shards: the folder holds only the dataset
    run = RunFolder(out, config, state=f"{STATE}/config.json")
    config_hash = run.hash
    name = cfg.name or slug(out.resolve().name)
    version = cfg.version or config_hash[:12]
    asset_id = make_id("dataset", name, version)
    if run.claim() and (out / MANIFEST).exists():  # this exact curation finished: register it if needed, nothing else
        done = json.loads((out / MANIFEST).read_text())
        return Result(reg.get(asset_id) if reg.store.get(asset_id) else _register(reg, done, uses, out), done, out / MANIFEST, already_done=True)
    run.stake()
    stage = out / STATE / "stage"
    stage.mkdir(parents=True, exist_ok=True)
    resumed = 0
    staged_hashes: dict[Path, Future] = {}
    for i, (p, shard, excluded) in enumerate(shards):
        target = stage / f"part-{i:05d}.parquet"
        marker = stage / f"part-{i:05d}.json"
        if marker.exists():  # finished before an interruption
            p["shard_counts"].append(json.loads(marker.read_text()))
            resumed += 1
            continue
        tick = progress.start(shard.path.name, shard.rows)
        counts = _select(con, shard, predicate, p["asset"], target, excluded)
        staged_hashes[target] = _HASHER.submit(_sha256, target)  # overlaps the next shard's COPY
        tick(shard.rows)
        counts["skipped"] = shard.skipped
        atomic_write(marker, json.dumps(counts))
        p["shard_counts"].append(counts)
    dropped, outputs = _finish(con, out, len(shards), cfg, progress, staged_hashes)
    manifest = _manifest(asset_id, config, config_hash, plan, dropped, outputs)
    if sig is not None:
        manifest["signals"] = sig["summary"]
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
    shutil.rmtree(stage, ignore_errors=True)
    asset = _register(reg, manifest, uses, out)
    return Result(asset, manifest, out / MANIFEST, resumed_shards=resumed, sources=plan)


def _check_options(cfg: CurateConfig) -> None:
    if cfg.dedup not in DEDUP:
        raise UsageError(f"--dedup must be one of {', '.join(DEDUP)}, not {cfg.dedup!r}", hint="pass --dedup none|exact|near")
    if cfg.on_error not in ("stop", "skip"):
        raise UsageError(f"--on-error must be stop or skip, not {cfg.on_error!r}", hint="pass --on-error stop|skip")
    if cfg.min_chars < 0 or (cfg.max_records is not None and cfg.max_records < 0):
        raise UsageError("--min-chars and --max-records must not be negative", hint="pass 0 or more")
    if cfg.signals_as_of not in ("now", "crawl"):
        raise UsageError(f"--signals-as-of must be now or crawl, not {cfg.signals_as_of!r}", hint="pass --signals-as-of now|crawl")
    if cfg.version is not None and not valid_version(cfg.version):
        raise UsageError(f"invalid --version {cfg.version!r}", hint="use letters, digits and . _ + -")


def _plan_source(reg: Registry, a: Asset, uses: tuple[str, ...], cfg: CurateConfig) -> dict:
    decision = reg.can(a.id, uses)  # recorded in the event log, like every decision
    verify_data(a)  # an edited or swapped shard is refused before anything is read (digests cached: core/digests.py)
    paths = files_of(a)
    registered = {d["path"]: d["sha256"] for d in (a.data or {}).get("digests") or ()}
    # older registrations carry no digests: hashed in background threads while DuckDB validates and counts
    files = [{"path": str(f), "sha256": _known(registered[f.as_posix()]) if f.as_posix() in registered else _HASHER.submit(_sha256, f),
              "bytes": f.stat().st_size, "format": FORMATS[f.suffix]} for f in paths]
    return {"asset": a.id, "fields": fields_of(a, cfg.text_field), "decision": decision, "files": files, "shard_counts": []}


def _known(value: str) -> Future:
    f: Future = Future()
    f.set_result(value)
    return f


_sha256 = hash_file  # uncached: outputs are hashed as they are written


_HASHER = ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 4), thread_name_prefix="charter-sha256")


def _signals(con, reg: Registry, cfg: CurateConfig, uses: tuple[str, ...]) -> dict:
    """The sites' signals in force (stored snapshots, read under the signals map), compiled for ``uses`` into
    the table each shard's records join by domain (data/signals.py); what the config and manifest record."""
    from charter.data import signals as sg

    smap = sg.load_map(reg.taxonomy, cfg.signals_map)
    snaps = [sg.Snapshot(r.domain, r.kind, r.fetched_at, r.body, r.source) for r in reg.store.signals()]
    sts, problems = sg.states(snaps, smap, cfg.signals_as_of)
    rows, provenance = sg.compile_rules(sts, uses, reg.taxonomy, keep_empty=cfg.signals_as_of == "crawl")
    sg.register_rules(con, rows, cfg.signals_as_of)
    config = {"as_of": cfg.signals_as_of, "url_field": cfg.url_field, "snapshots": sg.digest(snaps), "map": smap.digest,
              **({"fetched_at_field": cfg.fetched_at_field} if cfg.signals_as_of == "crawl" else {})}
    by_kind: dict[str, int] = {}
    for p in problems:
        by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
    summary = {**config, "domains": len({s.domain for s in snaps}), "domains_restricting": len({r["domain"] for r in rows if r["groups"]}),
               "terms": provenance, "problems": by_kind, "problem_list": [p.to_json() for p in problems[:100]]}
    return {"config": config, "summary": summary}


def _open_all(con, reg: Registry, plan: list[dict], cfg: CurateConfig, predicate) -> list[tuple[dict, Shard, dict]]:
    """Every shard opened and validated; for those of permitted sources, their exclusions by reason."""
    from charter.data.predicate import Signal

    shards: list[tuple[dict, Shard, dict]] = []
    signals = any(isinstance(b.when, Signal) for b in predicate.branches)
    extra = None
    if signals:
        extra = {"charter_url": (cfg.url_field, "--url-field")}
        if cfg.signals_as_of == "crawl":
            extra["charter_fetched_at"] = (cfg.fetched_at_field, "--fetched-at-field")
    with_urls = 0
    for p in plan:
        declared = (reg.get(p["asset"]).data or {}).get("source") or {}  # a crawl's charter names its URL column
        mine_extra = extra and {**extra, **{k: (declared[f], f"source.{f} in {p['asset']}'s charter") for k, f in
                                            (("charter_url", "url_field"), ("charter_fetched_at", "fetched_at_field")) if k in extra and f in declared}}
        try:
            mine = [open_shard(con, Shard(p["asset"], Path(f["path"]), f["format"]), p["fields"], cfg.on_error, mine_extra) for f in p["files"]]
        except InvalidInput as e:
            if not (signals and not declared and e.field in (cfg.url_field, cfg.fetched_at_field) and e.where == p["files"][0]["path"]):
                raise
            # a source without URLs (its first file has no such column) has no sites: signals do not apply to it
            mine = [open_shard(con, Shard(p["asset"], Path(f["path"]), f["format"]), p["fields"], cfg.on_error) for f in p["files"]]
            p["signals"] = f"not applied: no column {e.field!r}"
        if signals:
            from charter.data.signals import SIGNAL, wrap_view

            for s in mine:
                if "signals" in p:
                    con.execute(f"CREATE OR REPLACE TEMP VIEW {s.view}_nosignals AS SELECT *, CAST(NULL AS VARCHAR) AS {SIGNAL} FROM {s.view}")
                    s.view = f"{s.view}_nosignals"
                else:
                    with reading(s):
                        s.view = wrap_view(con, s.view, cfg.signals_as_of)
            if "signals" not in p:
                p["signals"] = "applied"
                with_urls += 1
        check_schemas(mine)
        for f, s in zip(p["files"], mine):
            f["records"], f["skipped_lines"] = s.rows, s.skipped
        if p["decision"].allowed:
            shards += [(p, s, _count(con, s, predicate, reg)) for s in mine]
    if signals and not with_urls:
        raise InvalidInput(f"--signals: no source has a URL column {cfg.url_field!r}", hint="name the records' URL column with --url-field",
                           field=cfg.url_field)
    return shards


def _count(con, shard: Shard, predicate, reg: Registry) -> dict[str, int]:
    """The shard's exclusions by reason, and whether any of its tags is unknown, in one pass
    (the reason and the tag check are computed per group of records: Predicate.counts). Under
    ``--on-error stop`` an unknown tag stops the run (``check_tags`` names it); under ``skip`` the
    predicate excludes its record as ``record-unknown-use``."""
    with reading(shard):
        rows = con.execute(predicate.counts(shard.view, [unknown_tags_sql(reg.taxonomy)])).fetchall()
        if any(u for r, _, u in rows if r != "record-unknown-use"):
            check_tags(con, shard, reg.taxonomy)
    return {r: n for r, n, _ in rows if r is not None}


def _select(con, shard: Shard, predicate, asset: str, target: Path, excluded: dict[str, int]) -> dict:
    """Write the kept rows (their exclusions by reason were counted while validating: ``_count``)."""
    tmp = target.with_suffix(".tmp")
    with reading(shard):
        _copy_kept(con, shard, predicate, asset, tmp)
    os.replace(tmp, target)
    kept = shard.rows - sum(excluded.values())
    return {"file": str(shard.path), "records": shard.rows, "kept": kept, "excluded": excluded}


def _copy_kept(con, shard: Shard, predicate, asset: str, tmp: Path) -> None:
    con.execute(f"""COPY (SELECT text, charter_allow, charter_deny, charter_owner, {literal(asset)} AS source,
                 {literal(str(shard.path))} AS source_file, source_row FROM {shard.view} WHERE {predicate.keep()})
                 TO {literal(str(tmp))} (FORMAT parquet)""")


def _finish(con, out: Path, n: int, cfg: CurateConfig, progress: Progress, staged_hashes: dict) -> tuple[dict, list[dict]]:
    """Dedup and cap the staged rows in curation order; write the final shards. Returns ({reason: n}, outputs)."""
    stage = out / STATE / "stage"
    staged = [stage / f"part-{i:05d}.parquet" for i in range(n)]
    # DuckDB globs what it reads (an --out folder named `run[1]` would read `run1`); the same literal
    # name serves both reads of a staged shard, because the drop list joins on its `filename`
    name = {p: literal_path(p) for p in staged}
    dropped: dict[str, int] = {}
    if staged and (cfg.dedup != "none" or cfg.max_records is not None):
        files = "[" + ", ".join(literal(name[p]) for p in staged) + "]"
        con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT filename AS f, source_row, {dedup_mod.NORMALIZED} AS norm, text "
                    f"FROM read_parquet({files}, filename=true)")
        con.execute("CREATE OR REPLACE TEMP TABLE dropped(f VARCHAR, source_row BIGINT, reason VARCHAR)")
        if cfg.dedup in ("exact", "near"):
            con.execute("""INSERT INTO dropped SELECT f, source_row, 'exact-duplicate' FROM
                (SELECT f, source_row, row_number() OVER (PARTITION BY md5(norm) ORDER BY f, source_row) AS k FROM staged) WHERE k > 1""")
        if cfg.dedup == "near":
            rows = con.execute("""SELECT f, source_row, text FROM staged ANTI JOIN dropped USING (f, source_row) ORDER BY f, source_row""").fetchall()
            tick = progress.start("near-duplicate search (MinHash LSH)", len(rows))
            dups = dedup_mod.near_duplicates(((i, r[2] or "") for i, r in enumerate(rows)), cfg.near_threshold, tick=tick)
            if dups:
                con.executemany("INSERT INTO dropped VALUES (?, ?, 'near-duplicate')", [(rows[i][0], rows[i][1]) for i in sorted(dups)])
        if cfg.max_records is not None:
            con.execute(f"""INSERT INTO dropped SELECT f, source_row, 'max-records' FROM
                (SELECT f, source_row, row_number() OVER (ORDER BY f, source_row) AS k FROM staged ANTI JOIN dropped USING (f, source_row))
                WHERE k > {int(cfg.max_records)}""")
        dropped = dict(con.execute("SELECT reason, count(*) FROM dropped GROUP BY reason").fetchall())
    outputs, hashes = [], []
    for i, src in enumerate(staged):
        final = out / f"part-{i:05d}.parquet"
        if dropped:
            tmp = final.with_suffix(".tmp")
            con.execute(f"""COPY (SELECT {COLUMNS} FROM read_parquet({literal(name[src])}, filename=true) AS s
                WHERE NOT EXISTS (SELECT 1 FROM dropped d WHERE d.f = s.filename AND d.source_row = s.source_row)
                ORDER BY source_row) TO {literal(str(tmp))} (FORMAT parquet)""")
            os.replace(tmp, final)
            hashes.append(_HASHER.submit(_sha256, final))
        else:  # nothing to drop: the staged shard is the output. Linked, not moved: if this run is
            # interrupted here, the rerun resumes from the staged shards, so they must all stay.
            tmp = final.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, final)
            hashes.append(staged_hashes.get(src) or _HASHER.submit(_sha256, final))  # same bytes as the staged shard
        records = con.execute(f"SELECT count(*) FROM read_parquet({literal(literal_path(final))})").fetchall()[0][0]
        outputs.append((final, records))
    return dropped, [{"path": f.name, "sha256": h.result(), "records": r} for (f, r), h in zip(outputs, hashes)]


def _manifest(asset_id: str, config: dict, config_hash: str, plan: list[dict], dropped: dict, outputs: list[dict]) -> dict:
    sources, total_in, excluded = [], 0, {}
    for p in plan:
        d: Decision = p["decision"]
        records = sum(f["records"] for f in p["files"])
        skipped = sum(len(f["skipped_lines"]) for f in p["files"])
        ex: dict[str, int] = {}
        if skipped:
            ex["malformed-line"] = skipped
        if not d.allowed:
            r = d.reasons[0]
            ex[f"source-{r.rule}:{r.use or '*'}:{r.source}"] = records
            kept = 0
        else:
            for c in p["shard_counts"]:
                for k, v in c["excluded"].items():
                    ex[k] = ex.get(k, 0) + v
            kept = sum(c["kept"] for c in p["shard_counts"])
        sources.append({
            "asset": p["asset"], "decision": d.to_json(), "input": records + skipped, "selected": kept, "excluded": ex,
            **({"signals": p["signals"]} if "signals" in p else {}),
            "files": [{"path": f["path"], "sha256": f["sha256"], "bytes": f["bytes"], "format": f["format"], "records": f["records"],
                       "skipped_lines": f["skipped_lines"]} for f in p["files"]],
        })
        total_in += records + skipped
        for k, v in ex.items():
            excluded[k] = excluded.get(k, 0) + v
    for k, v in dropped.items():
        excluded[k] = excluded.get(k, 0) + v
    output = sum(o["records"] for o in outputs)
    assert total_in == output + sum(excluded.values()), "every input record is either kept or excluded with a reason"
    return {
        "charter_manifest": 1,
        "dataset": asset_id,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "uses": config["uses"],
        "config": config,
        "config_hash": config_hash,
        "input": total_in,
        "output": output,
        "excluded": dict(sorted(excluded.items(), key=lambda kv: (-kv[1], kv[0]))),
        "sources": sources,
        "dedup": {"method": config["dedup"], "dropped": dropped},
        "outputs": outputs,
        "output_sha256": hashlib.sha256("".join(o["sha256"] for o in outputs).encode()).hexdigest(),
    }


def _register(reg: Registry, manifest: dict, uses: tuple[str, ...], out: Path) -> Asset:
    kind_name, version = manifest["dataset"].rsplit("@", 1)
    name = kind_name.split("/", 1)[1]
    contributing = [s["asset"] for s in manifest["sources"] if s["selected"] > 0]
    manifest_path = (out / MANIFEST).resolve()
    a = Asset(
        id=manifest["dataset"], kind="dataset", name=name, version=version,
        description=f"Curated by charter for {', '.join(uses)} from {', '.join(s['asset'] for s in manifest['sources'])}",
        # Purposes and contexts bind everything trained on the data; the activity it was curated
        # for does not (a model trained on it is then used for inference). Each record keeps its
        # tags, so `adapt`/`train` re-check the records for the activity actually requested.
        licenses=("derived",), allow=tuple(u for u in uses if reg.taxonomy.facet[u] != "activity"),
        derived_from=tuple(Edge(manifest["dataset"], s, "curated-from") for s in contributing),
        data={"files": [(out.resolve() / o["path"]).as_posix() for o in manifest["outputs"]], "fields": dict(DATA_DEFAULTS),
              "digests": [{"path": (out.resolve() / o["path"]).as_posix(), "sha256": o["sha256"], "bytes": (out / o["path"]).stat().st_size}
                          for o in manifest["outputs"]]},
        notes={"curation": {
            "manifest": manifest_path.as_posix(), "manifest_sha256": _sha256(manifest_path), "config_hash": manifest["config_hash"],
            "uses": list(uses), "input": manifest["input"], "output": manifest["output"], "excluded": manifest["excluded"],
            "output_sha256": manifest["output_sha256"],
            **({"signals": {"as_of": manifest["signals"]["as_of"],
                            "terms": {k: v for k, v in manifest["signals"]["terms"].items() if k in manifest["excluded"]}}}
               if "signals" in manifest else {}),
        }},
    )
    reg.add([a])
    return a


def as_json(r: Result) -> dict:
    return {"dataset": r.asset.id, "manifest": str(r.manifest_path), "input": r.manifest["input"], "output": r.manifest["output"],
            "excluded": r.manifest["excluded"], "resumed_shards": r.resumed_shards, "already_done": r.already_done}


__all__ = ["CurateConfig", "Progress", "Result", "curate", "as_json", "asdict"]
