"""`charter curate` end to end on the generated community corpus (data/synth.py).

Counts are checked against independent Python computations (policy/decide.py per record,
plain-Python dedup), not against the SQL that produced them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from charter.core.assets import Asset, Edge
from charter.core.lineage import Terms, Upstream
from charter.data import curate as curate_mod
from charter.data.curate import CurateConfig, curate
from charter.data.dedup import shingles
from charter.data.owners import holdings, withdraw_records
from charter.data.predicate import compile_predicate
from charter.data.synth import write_community_corpus
from charter.errors import Conflict
from charter.policy.decide import Request, decide
from charter.registry import Registry

MESSAGES, WEB, BOOKS = "dataset/community-messages@1", "dataset/web-text@1", "dataset/public-domain-books@2"
ALL = (MESSAGES, WEB, BOOKS)
MT = ("fine-tuning", "machine-translation", "commercial")
N = 400  # messages; web-text has N/2 records, the books N/4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The corpus files (read-only for the tests): written once per module."""
    return write_community_corpus(tmp_path_factory.mktemp("corpus"), messages=N)


def open_reg(path: Path, charters: Path) -> Registry:
    r = Registry.open(str(path))
    r.add_files([charters])
    return r


@pytest.fixture
def reg(tmp_path, corpus):
    r = open_reg(tmp_path / "registry.db", corpus)
    yield r
    r.close()


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def records(corpus: Path, source: str) -> list[dict]:
    """The source's records in curation order, read with plain Python."""
    base = corpus.parent
    if source == MESSAGES:
        out = []
        for f in sorted((base / "community-messages").glob("*.jsonl")):
            out += [{**json.loads(line), "file": str(f), "row": i} for i, line in enumerate(f.read_text().splitlines(), 1)]
        return out
    if source == BOOKS:
        f = base / "public-domain-books" / "books.csv"
        with open(f, newline="") as fh:
            return [{"text": r["passage"], "charter_deny": [t for t in (r["charter_deny"] or "").split(";") if t], "file": str(f), "row": i}
                    for i, r in enumerate(csv.DictReader(fh), 1)]
    f = base / "web-text" / "web-00.parquet"
    return [{"text": t, "file": str(f), "row": i} for i, t in enumerate(pq.read_table(f)["text"].to_pylist(), 1)]


def allowed(reg: Registry, rec: dict, uses, min_chars=0, withdrawn=()) -> bool:
    """The record's own decision, made by policy/decide.py (the source's is checked separately)."""
    if rec.get("charter_owner") in withdrawn or len(rec["text"] or "") < min_chars:
        return False
    t = Terms("record/x", ("proprietary",), tuple(rec.get("charter_allow") or ()), tuple(rec.get("charter_deny") or ()))
    return decide(Request("record/x", tuple(uses)), [Upstream(t, ("record/x",))], reg.taxonomy, reg.licenses).allowed


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", (text or "").strip()).lower()


def output_rows(manifest_path: Path) -> list[dict]:
    folder = manifest_path.parent
    m = json.loads(manifest_path.read_text())
    rows = []
    for o in m["outputs"]:
        rows += pq.read_table(folder / o["path"]).to_pylist()
    return rows


def strip(m: dict) -> dict:
    return {k: v for k, v in m.items() if k != "created"}


# === the manifest ===================================================================================

def test_manifest_accounts_for_every_record(reg, corpus, tmp_path):
    out = tmp_path / "mt"
    r = curate(reg, CurateConfig(ALL, MT, out, dedup="exact", min_chars=20))
    m = r.manifest
    assert json.loads((out / "manifest.json").read_text()) == m
    assert not r.already_done and r.resumed_shards == 0
    # every input record is kept or excluded, with a reason
    assert m["input"] == N + N // 2 + N // 4
    assert m["input"] == m["output"] + sum(m["excluded"].values())
    by_src = {s["asset"]: s for s in m["sources"]}
    for s in m["sources"]:
        assert s["input"] == s["selected"] + sum(s["excluded"].values())
        assert s["input"] == sum(f["records"] for f in s["files"])
    assert sum(s["selected"] for s in m["sources"]) == m["output"] + sum(m["dedup"]["dropped"].values())
    # the CC-BY-NC source is out entirely, for one reason
    assert by_src[WEB]["excluded"] == {"source-deny:commercial:license:CC-BY-NC-4.0": N // 2} and by_src[WEB]["selected"] == 0
    assert by_src[WEB]["decision"]["allowed"] is False
    # per-record decisions match policy/decide.py applied record by record
    for src in (MESSAGES, BOOKS):
        recs = records(corpus, src)
        assert by_src[src]["input"] == len(recs)
        assert by_src[src]["selected"] == sum(allowed(reg, x, MT, 20) for x in recs), src
    msgs = records(corpus, MESSAGES)
    assert by_src[MESSAGES]["excluded"]["too-short"] == sum(len(x["text"]) < 20 and allowed(reg, x, MT) for x in msgs)
    assert m["excluded"]["record-deny:machine-translation"] > 0 and m["excluded"]["record-allow-only:commercial"] > 0
    # hashes: inputs and outputs are the sha256 of the files
    for s in m["sources"]:
        for f in s["files"]:
            assert f["sha256"] == sha256(f["path"])
    assert [o["path"] for o in m["outputs"]] == [f"part-{i:05d}.parquet" for i in range(3)]  # 2 message shards + books
    for o in m["outputs"]:
        assert o["sha256"] == sha256(out / o["path"]) and o["records"] == pq.read_metadata(out / o["path"]).num_rows
    assert m["output_sha256"] == hashlib.sha256("".join(o["sha256"] for o in m["outputs"]).encode()).hexdigest()
    assert m["config_hash"] == hashlib.sha256(json.dumps(m["config"], sort_keys=True).encode()).hexdigest()
    assert sorted(p.name for p in out.iterdir()) == [".charter", "manifest.json", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    # the same config curated elsewhere has the same hash and the same outputs
    again = curate(reg, CurateConfig(ALL, MT, tmp_path / "mt2", dedup="exact", min_chars=20)).manifest
    assert again["config_hash"] == m["config_hash"] and again["output_sha256"] == m["output_sha256"]
    assert again["dataset"] != m["dataset"]  # named after its folder
    # the output holds exactly the records the predicate keeps
    keep = compile_predicate(MT, reg.taxonomy, min_chars=20).keep()
    files = [str(out / o["path"]) for o in m["outputs"]]
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_parquet({files}) WHERE NOT ({keep})").fetchall() == [(0,)]
    assert con.execute(f"SELECT count(*) FROM read_parquet({files})").fetchall() == [(m["output"],)]
    assert set(con.execute(f"SELECT DISTINCT source FROM read_parquet({files})").fetchall()) == {(MESSAGES,), (BOOKS,)}


def test_curated_dataset_registered_with_its_lineage(reg, tmp_path):
    r = curate(reg, CurateConfig(ALL, MT, tmp_path / "mt"))
    a = reg.get(r.asset.id)
    assert a.id == r.manifest["dataset"] and a.kind == "dataset" and a.name == "mt" and a.version == r.manifest["config_hash"][:12]
    assert a.licenses == ("derived",)
    # allowed: the declared purposes and contexts (the activity it was curated for does not bind what is trained on it)
    assert a.allow == tuple(u for u in MT if reg.taxonomy.facet[u] != "activity") == ("machine-translation", "commercial")
    assert {(e.parent, e.relation) for e in a.derived_from} == {(MESSAGES, "curated-from"), (BOOKS, "curated-from")}  # not web-text
    assert a.data["files"] == [(tmp_path / "mt" / o["path"]).resolve().as_posix() for o in r.manifest["outputs"]]
    cur = a.notes["curation"]
    assert cur["manifest_sha256"] == sha256(tmp_path / "mt" / "manifest.json")
    assert cur["input"] == r.manifest["input"] and cur["output"] == r.manifest["output"] and cur["uses"] == list(MT)
    # allowed exactly for the declared uses, and it inherits its sources' terms
    assert reg.check(a.id, MT).allowed
    d = reg.check(a.id, ["fine-tuning", "summarization", "commercial"])
    assert not d.allowed and [(x.rule, x.use, x.asset) for x in d.reasons] == [("allow-only", "summarization", a.id)]
    d = reg.check(a.id, ["fine-tuning", "machine-translation", "military"])
    assert {(x.rule, x.use) for x in d.reasons} >= {("allow-only", "military")}
    assert sorted(reg.trace(a.id, down=False)) == sorted([(MESSAGES, 1), (BOOKS, 1)])


def test_non_commercial_source_included_for_research(reg, corpus, tmp_path):
    r = curate(reg, CurateConfig((WEB,), ("training", "research"), tmp_path / "research"))
    assert r.manifest["output"] == N // 2 and r.manifest["excluded"] == {}
    a = reg.get(r.asset.id)
    assert [e.parent for e in a.derived_from] == [WEB]
    d = reg.check(a.id, ["training", "research", "commercial"])  # the licence's deny is inherited
    assert ("deny", "commercial", "license:CC-BY-NC-4.0") in {(x.rule, x.use, x.source) for x in d.reasons}
    r = curate(reg, CurateConfig((WEB,), ("training", "commercial"), tmp_path / "commercial"))
    assert r.manifest["output"] == 0 and r.manifest["excluded"] == {"source-deny:commercial:license:CC-BY-NC-4.0": N // 2}
    assert r.manifest["outputs"] == [] and r.asset.derived_from == ()


# === dedup and caps ======================================================================================

def test_exact_dedup_matches_python(reg, corpus, tmp_path):
    uses = ("training", "research")
    r = curate(reg, CurateConfig((MESSAGES,), uses, tmp_path / "exact", dedup="exact"))
    kept = [x for x in records(corpus, MESSAGES) if allowed(reg, x, uses)]
    seen, first = set(), []
    for x in kept:  # the first occurrence in curation order stays
        if norm(x["text"]) not in seen:
            seen.add(norm(x["text"]))
            first.append((x["file"], x["row"]))
    assert r.manifest["dedup"] == {"method": "exact", "dropped": {"exact-duplicate": len(kept) - len(first)}}
    assert len(kept) - len(first) > 5
    assert [(x["source_file"], x["source_row"]) for x in output_rows(r.manifest_path)] == first


def test_near_dedup_drops_near_repeats(reg, corpus, tmp_path):
    uses = ("training", "research")
    exact = output_rows(curate(reg, CurateConfig((MESSAGES,), uses, tmp_path / "exact", dedup="exact")).manifest_path)
    r = curate(reg, CurateConfig((MESSAGES,), uses, tmp_path / "near", dedup="near"))
    near = {(x["source_file"], x["source_row"]) for x in output_rows(r.manifest_path)}
    dropped = r.manifest["dedup"]["dropped"]
    assert dropped["near-duplicate"] == len(exact) - len(near) > 0
    assert r.manifest["excluded"]["near-duplicate"] == dropped["near-duplicate"]
    # every near-duplicate resembles an earlier kept record; no kept record is a near copy of one
    kept_sh: list[set] = []
    for x in exact:  # curation order
        sh = shingles(x["text"])
        best = max((len(sh & k) / len(sh | k) for k in kept_sh), default=0.0)
        if (x["source_file"], x["source_row"]) in near:
            assert best < 0.95, x["text"]
            kept_sh.append(sh)
        else:
            assert best >= 0.5, x["text"]


def test_max_records_keeps_the_first(reg, tmp_path):
    full = output_rows(curate(reg, CurateConfig(ALL, ("training", "research"), tmp_path / "all")).manifest_path)
    r = curate(reg, CurateConfig(ALL, ("training", "research"), tmp_path / "cap", max_records=50))
    assert r.manifest["output"] == 50 and r.manifest["excluded"]["max-records"] == len(full) - 50
    got = output_rows(r.manifest_path)
    assert [(x["source_file"], x["source_row"]) for x in got] == [(x["source_file"], x["source_row"]) for x in full[:50]]
    assert curate(reg, CurateConfig(ALL, ("training", "research"), tmp_path / "zero", max_records=0)).manifest["output"] == 0


# === resume, idempotence, refusals =========================================================================

def _interrupt_select_after(monkeypatch, n: int):
    real, calls = curate_mod._select, []

    def flaky(*a, **kw):
        if len(calls) == n:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(1)
        return real(*a, **kw)
    monkeypatch.setattr(curate_mod, "_select", flaky)


@pytest.mark.parametrize("dedup", ["exact", "none"])
def test_resume_after_interruption_equals_an_uninterrupted_run(reg, corpus, tmp_path, monkeypatch, dedup):
    cfg = CurateConfig(ALL, ("training", "research"), tmp_path / "a" / "out", dedup=dedup)
    with monkeypatch.context() as mp:
        _interrupt_select_after(mp, 1)
        with pytest.raises(KeyboardInterrupt):
            curate(reg, cfg)
    assert not (tmp_path / "a" / "out" / "manifest.json").exists()
    r = curate(reg, cfg)
    assert r.resumed_shards == 1 and not r.already_done
    ref_reg = open_reg(tmp_path / "ref.db", corpus)
    ref = curate(ref_reg, CurateConfig(ALL, ("training", "research"), tmp_path / "b" / "out", dedup=dedup))
    assert strip(r.manifest) == strip(ref.manifest)
    for o in r.manifest["outputs"]:
        assert (tmp_path / "a" / "out" / o["path"]).read_bytes() == (tmp_path / "b" / "out" / o["path"]).read_bytes()
    assert not (tmp_path / "a" / "out" / ".charter" / "stage").exists()
    ref_reg.close()


def test_resume_after_interruption_while_writing_the_outputs(reg, corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = CurateConfig(ALL, ("training", "research"), out)
    real = curate_mod._sha256

    def flaky(path):
        # the output shards are hashed as they are staged (in a background thread) or finalised
        if Path(path).parent in (out, out / ".charter" / "stage") and Path(path).name == "part-00001.parquet":
            raise KeyboardInterrupt("simulated interruption")
        return real(path)
    with monkeypatch.context() as mp:
        mp.setattr(curate_mod, "_sha256", flaky)
        with pytest.raises(KeyboardInterrupt):
            curate(reg, cfg)
    r = curate(reg, cfg)
    assert r.resumed_shards == 4  # every shard was selected before the interruption
    ref = curate(open_reg(tmp_path / "ref.db", corpus), CurateConfig(ALL, ("training", "research"), tmp_path / "ref"))
    assert r.manifest["output_sha256"] == ref.manifest["output_sha256"] and r.manifest["output"] == ref.manifest["output"]


def test_same_curation_twice_is_already_done(reg, tmp_path):
    cfg = CurateConfig(ALL, MT, tmp_path / "out", dedup="exact")
    first = curate(reg, cfg)
    events = len(reg.store.events(type="register"))
    again = curate(reg, cfg)
    assert again.already_done and again.resumed_shards == 0
    assert again.manifest == first.manifest and again.asset == first.asset
    assert len(reg.store.events(type="register")) == events


def test_changed_config_into_the_same_out_is_refused(reg, tmp_path, monkeypatch):
    out = tmp_path / "out"
    curate(reg, CurateConfig(ALL, MT, out))
    before = sorted(p.name for p in out.iterdir())
    for cfg in (CurateConfig(ALL, ("training", "research"), out), CurateConfig(ALL, MT, out, dedup="exact"),
                CurateConfig(ALL, MT, out, min_chars=3)):
        with pytest.raises(Conflict) as e:
            curate(reg, cfg)
        assert "another config" in e.value.message and e.value.where == str(out)
    assert sorted(p.name for p in out.iterdir()) == before
    # an interrupted run's folder is refused to another config as well
    with monkeypatch.context() as mp:
        _interrupt_select_after(mp, 0)
        with pytest.raises(KeyboardInterrupt):
            curate(reg, CurateConfig(ALL, MT, tmp_path / "half"))
    with pytest.raises(Conflict):
        curate(reg, CurateConfig(ALL, ("training",), tmp_path / "half"))


def test_out_folder_with_other_files_is_refused(reg, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(Conflict) as e:
        curate(reg, CurateConfig(ALL, MT, out))
    assert "other files" in e.value.message
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert curate(reg, CurateConfig(ALL, MT, tmp_path / "empty")).manifest["output"] > 0


# === owners who withdraw consent ==============================================================================

def test_owner_withdrawal_reaches_sources_curated_data_and_what_was_built_on_it(reg, corpus, tmp_path):
    uses = ("training", "research")
    msgs = records(corpus, MESSAGES)
    owner = max({x["charter_owner"] for x in msgs}, key=lambda o: sum(x["charter_owner"] == o for x in msgs))
    theirs = sum(x["charter_owner"] == owner for x in msgs)
    cur = curate(reg, CurateConfig(ALL, uses, tmp_path / "before"))
    in_curated = sum(x["charter_owner"] == owner for x in output_rows(cur.manifest_path))
    assert in_curated == sum(x["charter_owner"] == owner and allowed(reg, x, uses) for x in msgs) > 0
    model = Asset(id="model/m@1", kind="model", name="m", version="1", licenses=("MIT",), derived_from=(Edge("model/m@1", cur.asset.id, "trained-on"),))
    app = Asset(id="application/a@1", kind="application", name="a", version="1", derived_from=(Edge("application/a@1", "model/m@1", "deployed-from"),))
    reg.add([model, app])

    out = withdraw_records(reg, [owner, "member-999", owner], "  asked to be forgotten ")
    assert out == {
        "owners": [owner, "member-999"], "already_withdrawn": [], "reason": "asked to be forgotten",
        "sources": [{"asset": MESSAGES, "records": theirs}],
        "curated": [{"asset": cur.asset.id, "records": in_curated}],
        "affected": [{"id": "model/m@1", "depth": 1}, {"id": "application/a@1", "depth": 2}],
        "unreadable": [],
    }
    assert set(reg.store.owner_withdrawals()) == {owner, "member-999"}
    again = withdraw_records(reg, [owner], "again")
    assert again["owners"] == [] and again["already_withdrawn"] == [owner] and again["curated"] == out["curated"]
    assert holdings(reg, ["member-999"]) == []

    # the next curation leaves their records out, each counted
    after = curate(reg, CurateConfig(ALL, uses, tmp_path / "after"))
    assert after.manifest["excluded"]["owner-withdrew-consent"] == theirs
    assert after.manifest["config"]["withdrawn_owners"] == sorted([owner, "member-999"])
    assert after.manifest["config_hash"] != cur.manifest["config_hash"]
    assert after.manifest["output"] == cur.manifest["output"] - in_curated
    assert all(x["charter_owner"] != owner for x in output_rows(after.manifest_path))


def test_many_withdrawn_owners_are_counted_and_excluded(reg, corpus, tmp_path):
    """More withdrawn owners than a plain IN list holds (predicate.SMALL_IN): the SQL probes them with a
    join, in the counting pass and in the COPY alike; the counts match a record-by-record count."""
    from charter.data.predicate import SMALL_IN

    uses = ("training", "research")
    msgs = records(corpus, MESSAGES)
    owners = sorted({x["charter_owner"] for x in msgs if x.get("charter_owner")})[: SMALL_IN + 4] + [f"nobody-{i}" for i in range(5)]
    withdraw_records(reg, owners, "withdrew")
    gone = set(owners)
    r = curate(reg, CurateConfig((MESSAGES,), uses, tmp_path / "out"))
    assert r.manifest["excluded"]["owner-withdrew-consent"] == sum(x.get("charter_owner") in gone for x in msgs) > 0
    assert r.manifest["output"] == sum(allowed(reg, x, uses, withdrawn=gone) for x in msgs)
    assert not any(x["charter_owner"] in gone for x in output_rows(r.manifest_path))


# === record tags: one validator for every format (issue 12, section 1) ===========================

def _write_records(folder: Path, fmt: str, rows: list[tuple]) -> str:
    """rows of (text, allow, deny): lists (None: NULL) for Parquet/JSONL, ';'-joined for CSV."""
    import pyarrow as pa

    f = folder / f"r.{fmt}"
    if fmt == "parquet":
        lst = pa.list_(pa.string())
        pq.write_table(pa.table({"text": [r[0] for r in rows], "charter_allow": pa.array([r[1] for r in rows], lst),
                                 "charter_deny": pa.array([r[2] for r in rows], lst)}), f)
    elif fmt == "jsonl":
        f.write_text("".join(json.dumps({"text": t, "charter_allow": a, "charter_deny": d}) + "\n" for t, a, d in rows))
    else:
        with open(f, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "charter_allow", "charter_deny"])
            w.writerows([t, ";".join(a) if a else "", ";".join(d) if d else ""] for t, a, d in rows)
    (folder / "c.yaml").write_text(f"id: dataset/tagged@1\nlicense: CC0-1.0\ndata: [r.{fmt}]\n")
    return "dataset/tagged@1"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_a_typo_in_one_tag_column_stops_curation_when_the_other_is_null(tmp_path, fmt):
    """Issue 12: a Parquet record with deny ['comercial'] and allow NULL was kept (the unknown-tag check
    read `allow || deny`, NULL when one side is NULL)."""
    from charter.errors import UnknownUse

    r = Registry.open(str(tmp_path / "reg.db"))
    _write_records(tmp_path, fmt, [("first record", None, ["comercial"]), ("second record", None, None)])
    r.add_files([tmp_path / "c.yaml"])
    with pytest.raises(UnknownUse) as e:
        curate(r, CurateConfig(("dataset/tagged@1",), ("fine-tuning", "commercial"), tmp_path / "out"))
    assert "'comercial'" in str(e.value) and "did you mean 'commercial'" in str(e.value) and f"r.{fmt}" in str(e.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_unknown_tags_under_skip_are_excluded_and_counted(tmp_path, fmt):
    r = Registry.open(str(tmp_path / "reg.db"))
    _write_records(tmp_path, fmt, [("first record", None, ["comercial"]), ("second record", None, None),
                                   ("third record", ["Research"], None), ("fourth record", ["research"], ["military"])])
    r.add_files([tmp_path / "c.yaml"])
    res = curate(r, CurateConfig(("dataset/tagged@1",), ("fine-tuning", "research"), tmp_path / "out", on_error="skip"))
    assert res.manifest["excluded"] == {"record-unknown-use": 2}  # the typo, and 'Research' (ids are lower-case)
    assert res.manifest["output"] == 2


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_known = ["research", "commercial", "fine-tuning", "military", "machine-translation", "purpose"]
_tag = st.one_of(st.sampled_from(_known), st.sampled_from(["comercial", "Commercial", " research", "research ", "resarch"]))
_tags = st.one_of(st.none(), st.lists(_tag, max_size=3))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["parquet", "csv", "jsonl"]), st.lists(st.tuples(_tags, _tags), min_size=1, max_size=8),
       st.lists(st.sampled_from(["fine-tuning", "research", "commercial", "machine-translation"]), min_size=1, max_size=3, unique=True))
def test_every_format_agrees_with_the_pure_decision_per_record(tmp_path_factory, fmt, tags, uses):
    """Tag columns with NULLs, empties, typos, mixed case and whitespace in Parquet, CSV and JSON Lines:
    under --on-error skip each record is kept exactly when decide() allows it and all its tags are ids."""
    from charter.core.uses import load

    tax = load()
    folder = tmp_path_factory.mktemp("fmt")
    rows = [(f"record number {i}", a, d) for i, (a, d) in enumerate(tags)]
    r = Registry.open(str(folder / "reg.db"))
    _write_records(folder, fmt, rows)
    r.add_files([folder / "c.yaml"])
    res = curate(r, CurateConfig(("dataset/tagged@1",), tuple(uses), folder / "out", on_error="skip"))
    kept = {t for (t,) in duckdb.sql(f"SELECT text FROM read_parquet('{folder / 'out'}/*.parquet')").fetchall()}

    def clean(ts):  # what the file holds after its format: CSV trims around ';'
        return [t.strip() for t in ts] if fmt == "csv" and ts else ts

    expected, unknown = set(), 0
    for text, a, d in rows:
        a, d = clean(a), clean(d)
        if any(t not in tax for t in (a or []) + (d or [])):
            unknown += 1
            continue
        terms = Terms("record/x", licenses=("proprietary",), allow=tuple(a or ()), deny=tuple(d or ()))
        if decide(Request("record/x", r.check_uses(uses)), [Upstream(terms, ("record/x",))], tax, r.licenses).allowed:
            expected.add(text)
    assert kept == expected
    assert res.manifest["excluded"].get("record-unknown-use", 0) == unknown
    r.close()


# === curate reads exactly the registered files (issue 12, section 2) ===============================

def test_an_edited_shard_is_refused_naming_the_file_and_both_hashes(tmp_path):
    from charter.errors import IntegrityError

    r = Registry.open(str(tmp_path / "reg.db"))
    _write_records(tmp_path, "jsonl", [("first record", None, None), ("second record", None, ["military"])])
    r.add_files([tmp_path / "c.yaml"])
    registered = r.get("dataset/tagged@1").data["digests"][0]["sha256"]
    (tmp_path / "r.jsonl").write_text(json.dumps({"text": "first record", "charter_deny": None}) + "\n")  # the deny tag dropped
    with pytest.raises(IntegrityError) as e:
        curate(r, CurateConfig(("dataset/tagged@1",), ("fine-tuning", "military"), tmp_path / "out"))
    assert e.value.where == str(tmp_path / "r.jsonl") and registered[:16] in e.value.message and sha256(tmp_path / "r.jsonl")[:16] in e.value.message
    assert not (tmp_path / "out").exists()


def test_the_manifest_lists_exactly_the_file_named_with_its_bytes(tmp_path):
    r = Registry.open(str(tmp_path / "reg.db"))
    (tmp_path / "b1.jsonl").write_text(json.dumps({"text": "the wrong file"}) + "\n")
    (tmp_path / "b[1].jsonl").write_text(json.dumps({"text": "the named file"}) + "\n")
    (tmp_path / "c.yaml").write_text('id: dataset/b@1\nlicense: CC0-1.0\ndata: ["b[1].jsonl"]\n')
    r.add_files([tmp_path / "c.yaml"])
    m = curate(r, CurateConfig(("dataset/b@1",), ("research",), tmp_path / "out")).manifest
    f = m["sources"][0]["files"]
    assert [(x["path"], x["sha256"], x["bytes"]) for x in f] == [(str(tmp_path / "b[1].jsonl"), sha256(tmp_path / "b[1].jsonl"), 27)]
    kept = duckdb.sql(f"SELECT text FROM read_parquet('{tmp_path / 'out'}/*.parquet')").fetchall()
    assert kept == [("the named file",)]


def test_a_bracketed_parquet_file_is_read_literally(tmp_path):
    """DuckDB's read_parquet expands brackets too: b[1].parquet read b1.parquet."""
    import pyarrow as pa

    r = Registry.open(str(tmp_path / "reg.db"))
    pq.write_table(pa.table({"text": ["the wrong file"]}), tmp_path / "b1.parquet")
    pq.write_table(pa.table({"text": ["the named file"]}), tmp_path / "b[1].parquet")
    (tmp_path / "c.yaml").write_text('id: dataset/b@1\nlicense: CC0-1.0\ndata: ["b[1].parquet"]\n')
    r.add_files([tmp_path / "c.yaml"])
    curate(r, CurateConfig(("dataset/b@1",), ("research",), tmp_path / "out"))
    assert duckdb.sql(f"SELECT text FROM read_parquet('{tmp_path / 'out'}/*.parquet')").fetchall() == [("the named file",)]


def test_an_out_folder_with_brackets_dedups_and_counts_its_own_shards(tmp_path):
    """The staged shards under `run[1]/` are read literally (DuckDB would glob them to `run1/`), and
    dedup's drop list joins on the very names it was built from."""
    r = Registry.open(str(tmp_path / "reg.db"))
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in ("same", "same", "other")))
    (tmp_path / "d.yaml").write_text('id: dataset/d@1\nlicense: CC0-1.0\ndata: [d.jsonl]\n')
    r.add_files([tmp_path / "d.yaml"])
    import pyarrow as pa

    decoy = pa.table({"text": ["decoy"] * 5, "source_row": pa.array([1, 2, 3, 4, 5], pa.int64())})
    (tmp_path / "run1" / ".charter" / "stage").mkdir(parents=True)  # what a glob would have read instead
    pq.write_table(decoy, tmp_path / "run1" / ".charter" / "stage" / "part-00000.parquet")
    pq.write_table(decoy, tmp_path / "run1" / "part-00000.parquet")
    m = curate(r, CurateConfig(("dataset/d@1",), ("research",), tmp_path / "run[1]", dedup="exact")).manifest
    assert m["excluded"] == {"exact-duplicate": 1} and [o["records"] for o in m["outputs"]] == [2]
    kept = pq.read_table(tmp_path / "run[1]" / "part-00000.parquet").column("text").to_pylist()
    assert kept == ["same", "other"]


def test_a_curated_dataset_is_registered_with_its_outputs_digests(tmp_path):
    """curate registers what it wrote (absolute paths of its own output, outside any charter file's root) with
    sha256 and bytes, so the next stage refuses an output shard edited after curation."""
    from charter.errors import IntegrityError

    r = Registry.open(str(tmp_path / "reg.db"))
    _write_records(tmp_path, "jsonl", [("first record", None, None), ("second record", None, None)])
    r.add_files([tmp_path / "c.yaml"])
    res = curate(r, CurateConfig(("dataset/tagged@1",), ("research",), tmp_path / "out", name="cur", version="1"))
    a = r.get("dataset/cur@1")
    shard = (tmp_path / "out" / "part-00000.parquet").resolve()
    assert a.data["files"] == [shard.as_posix()]
    assert a.data["digests"] == [{"path": shard.as_posix(), "sha256": sha256(shard), "bytes": shard.stat().st_size}]
    assert [o["sha256"] for o in res.manifest["outputs"]] == [sha256(shard)]
    import pyarrow as pa

    pq.write_table(pa.table({"text": ["an added record"]}), shard)
    with pytest.raises(IntegrityError) as e:
        curate(r, CurateConfig(("dataset/cur@1",), ("research",), tmp_path / "again"))
    assert e.value.where == str(shard) and "changed since registration" in e.value.message
