"""What the Evaluations, Curation and Gateway pages read: evaluated properties per metric and model (with their
history and per-group breakdown), the comparison of two models (charter.report.compare, as `charter eval --compare
--json`), a curated dataset's manifest, and the gateway's audit log over time (requests, denials, tokens), its latest
denials with their reasons worded by charter.policy.explain, and its verification (`charter audit verify --json`)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

from charter.errors import InvalidInput
from charter.policy.explain import reason_head, reason_path
from charter.registry import Registry
from charter.serve import audit

BUCKETS = {"minute": 16, "hour": 13, "day": 10, "month": 7}  # ISO time prefixes: 2026-12-04T16:05
MAX_BUCKETS = 60  # the automatic bucket is the finest whose axis (first to last request) has at most this many
DENIALS = 20


# --- evaluations ------------------------------------------------------------------------------
def evals(reg: Registry, refs: list[str]) -> dict:
    """Each (benchmark, metric) evaluated for any of ``refs``: every model's latest value (with its version, 95%
    CI, n, time, run and per-group breakdown) and its earlier evaluations, and which way the metric is better."""
    from charter.core.charterfile import benchmark_metrics

    ids = list(dict.fromkeys(reg.resolve(r) for r in refs))
    if not ids:
        raise InvalidInput("which models?", field="ref", hint="pass ref=MODEL (repeat it to put models side by side)")
    rules = benchmark_metrics()
    metrics: dict[tuple[str, str], dict] = {}
    for asset in ids:
        latest = reg.properties(asset)
        for p in sorted(reg.store.properties(asset), key=lambda p: p.time):
            m = metrics.setdefault((p.benchmark, p.metric), {"benchmark": p.benchmark, "metric": p.metric,
                                                             "better": _better(rules.get(p.benchmark, {}).get(p.metric, {})),
                                                             "values": [], "history": []})
            row = {"asset": asset, "version": p.version, "value": p.value, "ci": list(p.ci) if p.ci else None, "n": p.n, "time": p.time}
            m["history"].append(row)
            if latest.get((p.benchmark, p.metric)) == p and not any(v["asset"] == asset for v in m["values"]):
                m["values"].append({**row, "run": p.run, "groups": dict(p.detail.get("groups") or {})})
    return {"assets": ids, "metrics": [metrics[k] for k in sorted(metrics)]}


def evaluated(reg: Registry) -> list[dict]:
    """The models (and other assets) with evaluated properties: the evaluations page's index."""
    return [{"asset": a, "properties": n, "benchmarks": b} for a, n, b in reg.store.evaluated()]


def _better(rule: dict) -> str:
    if "ideal" in rule:
        return f"closest to {rule['ideal']:g}"
    return "lower" if rule.get("better") == "lower" else "higher"


def compare(reg: Registry, a: str, b: str, allow_mismatch: bool = False) -> dict:
    """`charter eval --compare A B --json` without ``charts`` (the page draws its own), plus ``summary``: its line."""
    from charter.report.compare import compare as run, summary

    cmp = run(reg, a, b, allow_mismatch=allow_mismatch)
    return cmp.to_json() | {"summary": summary(cmp.changes)}


# --- curation ---------------------------------------------------------------------------------
def curation(reg: Registry, ref: str) -> dict:
    """A curated dataset's manifest (its ``manifest.json``, read from where curation wrote it) when the file still has
    the sha256 recorded at registration, else ``problem`` says why and only the summary registered with the dataset
    is given: a path in an asset's notes never makes the view serve whatever file lies there."""
    a = reg.get(ref)
    cur = a.notes.get("curation")
    if not cur:
        raise InvalidInput(f"{a.id} was not curated by charter", field="ref", hint="pass a dataset made by `charter curate`")
    path = Path(cur["manifest"])
    manifest, problem = None, ""
    try:
        raw = path.read_bytes()
    except OSError as e:
        problem = f"the manifest cannot be read: {e.strerror or e}"
    else:
        if hashlib.sha256(raw).hexdigest() != cur.get("manifest_sha256"):
            problem = "the manifest file has changed since registration (its sha256 differs)"
        else:
            try:
                manifest = json.loads(raw)
            except ValueError:
                problem = "the manifest is not JSON"
    return {"asset": a.id, "manifest_path": str(path), "manifest_sha256": cur.get("manifest_sha256"),
            "intact": manifest is not None, "problem": problem, "summary": cur, "manifest": manifest}


# --- the gateway's audit log ------------------------------------------------------------------
def gateway(reg: Registry, application: str | None = None, bucket: str | None = None) -> dict:
    """Requests and tokens per application, use and decision in each time bucket (``bucket``: minute, hour, day,
    month; by default the finest that gives at most MAX_BUCKETS), from one pass over the audit log, counted as
    `charter audit summary` counts them (a stream once by its start, its tokens from its end; an aggregate of
    keyless 429s as the requests it stands for). A request counts under each of its uses, and once under use "*"."""
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidInput(f"unknown bucket {bucket!r}", field="bucket", hint=f"one of {', '.join(BUCKETS)}")
    rows = list(_counted(reg.store, application))
    stamps = sorted(r[0] for r in rows if r[0])
    if bucket is None:
        bucket = next((b for b in BUCKETS if len(_buckets(stamps, b)) <= MAX_BUCKETS), "month")
    times = _buckets(stamps, bucket)
    at = {t: i for i, t in enumerate(times)}
    cut = BUCKETS[bucket]
    series: dict[tuple, dict] = {}
    for time, app, use, dec, n, tokens in rows:
        if not time:
            continue
        s = series.setdefault((app, use, dec), {"application": app, "use": use, "decision": dec,
                                                "requests": [0] * len(times), "tokens": [0] * len(times)})
        s["requests"][at[time[:cut]]] += n
        s["tokens"][at[time[:cut]]] += tokens
    return {"bucket": bucket, "buckets": times, "series": [series[k] for k in sorted(series)]}


def _buckets(stamps: list[str], bucket: str) -> list[str]:
    """Every bucket from the first time stamp's to the last's, empty ones included (a chart's time axis)."""
    if not stamps:
        return []
    cut = BUCKETS[bucket]
    first, last = stamps[0][:cut], stamps[-1][:cut]
    if bucket == "month":
        y, m = int(first[:4]), int(first[5:7])
        out = []
        while f"{y:04d}-{m:02d}" <= last:
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
    fmt = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}[bucket]
    step = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}[bucket]
    t, end, out = datetime.strptime(first, fmt), datetime.strptime(last, fmt), []
    while t <= end and len(out) <= 100_000:  # bounded: a bucket asked for explicitly over years of minutes stops here
        out.append(t.strftime(fmt))
        t += step
    return out


def _counted(store, application: str | None):
    """(time, application, use, decision, requests, tokens) per use of each audit record."""
    open_streams: dict[str, str] = {}
    for e in audit.entries(store):
        r = e.data
        app = r.get("application") or "-"
        if application is not None and app != application:
            continue
        phase = r.get("phase")
        dec = r.get("decision") or "-"
        if phase == "start":
            open_streams[r.get("request_id")] = dec
        elif phase == "end":
            dec = open_streams.pop(r.get("request_id"), dec)
        n = 0 if phase == "end" else r.get("count") or 1
        tokens = (r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0)
        for use in ["*", *(r.get("uses") or ["-"])]:  # "*": each request once, whatever its uses
            yield r.get("time") or "", app, use, dec, n, tokens


def denials(reg: Registry, limit: int = DENIALS, page: int = 2_000) -> list[dict]:
    """The latest ``limit`` requests refused by the charter (denied or withdrawn), newest first, each reason worded
    as `charter can` words it (charter.policy.explain). Read from the end of the log, ``page`` entries at a time:
    the page does not read a log of millions to show its last twenty."""
    from charter.policy.decide import Reason

    out: list[dict] = []
    hi = reg.store.audit_head()[0]
    while hi > 0 and len(out) < limit:
        lo = max(0, hi - page)
        for e in reversed([e for e in reg.store.audit_entries(after=lo, limit=hi - lo) if e.seq <= hi]):
            r = e.data
            if r.get("decision") not in ("denied", "withdrawn"):
                continue
            reasons = [Reason.from_json(x) for x in r.get("reasons") or ()]
            out.append({"seq": e.seq, "time": r.get("time"), "application": r.get("application"), "model": r.get("model"),
                        "uses": r.get("uses") or [], "decision": r["decision"], "status": r.get("status"), "code": r.get("code"),
                        "message": r.get("error"), "reasons": [{"text": reason_head(x), "path": reason_path(x)} for x in reasons]})
            if len(out) == limit:
                break
        hi = lo
    return out


def summary(reg: Registry, application: str | None = None) -> dict:
    """`charter audit summary --json`."""
    return audit.summarize(reg.store, application).to_json()


def verify(reg: Registry) -> dict:
    """`charter audit verify --json`: the hash chain walked from the first entry."""
    return audit.verify(reg.store).to_json()
