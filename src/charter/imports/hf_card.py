"""A Hugging Face model card (README.md with YAML front matter) -> a model and its upstream.

Front matter fields read (https://huggingface.co/docs/hub/model-cards)::

    license: apache-2.0 | other        # a licence id, or a list of them
    license_name: my-licence           # with license: other
    license_link: https://...
    base_model: org/model | [a, b]     # upstream models
    base_model_relation: adapter | merge | quantized | finetune
    datasets: [org/dataset, ...]       # training data
    model_name: ...                    # or model-index[0].name: the asset name if --name is not given
    model-index: [{name, results: [{task, dataset: {type, name, config, split, revision}, metrics: [{type, name, value}]}]}]

The asset name is, in order: ``--name``; ``model_name``; ``model-index[0].name``; the repo id
given with ``--repo ORG/NAME`` (cards carry no repo id of their own); the card's first
Markdown ``# Title``; the file name unless it is ``README``. The folder a card sits in is
never used: a ``README.md`` naming nothing is an error asking for --name or --repo.

The model becomes ``model/<name>@<version>``; each base model is linked by the relation
its ``base_model_relation`` names (:data:`RELATIONS`; default fine-tuned-from) and each
dataset by ``trained-on``. Upstream assets are looked up in the registry by name (latest
version); those not registered yet are created as placeholders (licence unspecified,
``notes.placeholder: true``) and listed in the report.

``license: other`` with ``license_name`` records that name as the licence (mapped through the
licence table when it knows it, otherwise reported once as unmapped); ``license_link`` is kept
in notes. Each ``model-index`` result metric with a numeric value becomes a
:class:`~charter.core.assets.Property` of the model (``CardImport.properties``, attached by
``charter import hf-card`` after registering); other values are skipped and reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from charter.core.assets import Asset, Edge, Property
from charter.core.files import LineDict, parse_text
from charter.core.ids import make_id, slug, valid_name, valid_version
from charter.errors import InvalidInput
from charter.imports import Import, Report, Resolver, plain
from charter.policy.licenses import UNSPECIFIED, LicenseTable

VERSION = "hf"
PLACEHOLDER_VERSION = "hf"
RELATIONS = {"adapter": "adapter-of", "merge": "merged-from", "quantized": "quantized-from", "finetune": "fine-tuned-from"}
REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
KEEP = ("license", "license_name", "license_link", "base_model", "base_model_relation", "datasets", "model_name",
        "language", "pipeline_tag", "library_name", "tags", "extra_gated_prompt")


@dataclass(frozen=True)
class CardImport(Import):
    """An :class:`Import` plus the evaluated properties the card's model-index reports: attach
    them (``Registry.attach``) once the model is registered."""

    properties: list[Property] = field(default_factory=list)


def load(path: Path, licenses: LicenseTable, *, name: str | None = None, version: str = VERSION,
         resolve: Resolver | None = None, repo: str | None = None) -> CardImport:
    path = Path(path)
    if not valid_version(version):
        raise InvalidInput(f"invalid version {version!r}", hint="use letters, digits and . _ + -", field="--version")
    if repo is not None:
        repo = repo.strip().strip("/")
        if repo.startswith("https://huggingface.co/"):
            repo = repo[len("https://huggingface.co/"):]
        if not REPO_RE.fullmatch(repo):
            raise InvalidInput(f"invalid repo id {repo!r}", hint="pass --repo ORG/NAME, the model's Hugging Face id (e.g. meta-llama/Llama-3.2-1B)", field="--repo")
    if path.is_dir():
        path = path / "README.md"
    meta, body = read_card(path)
    report = Report("hf-card", str(path), files=1)

    def at(key: str) -> str:
        return f"{path}:{meta.line_of(key)}" if isinstance(meta, LineDict) else str(path)

    # the front matter is checked before the name, so a malformed field is named even when the name is missing too
    rel_word = _one_str(meta, "base_model_relation", at)
    inferred = ""
    if rel_word is None:
        rel_word = "finetune"
        if str(meta.get("library_name") or "").lower() == "peft":
            rel_word, inferred = "adapter", "library_name: peft"
    if rel_word not in RELATIONS:
        raise InvalidInput(f"unknown base_model_relation {rel_word!r}", hint=f"use one of {', '.join(RELATIONS)}", where=at("base_model_relation"), field="base_model_relation")
    upstream = [("model", b, RELATIONS[rel_word], "base_model") for b in _str_list(meta, "base_model", at)]
    upstream += [("dataset", d, "trained-on", "datasets") for d in _str_list(meta, "datasets", at)]

    own, name_from = _name(meta, body, path, name, repo, at)
    aid = make_id("model", own, version)
    lics, lic_note = _licenses(meta, licenses, report, aid, at)

    assets: list[Asset] = []
    sources: dict[str, str] = {aid: str(path)}
    edges: list[Edge] = []
    for kind, ref, relation, key in upstream:
        uname = slug(ref)
        if kind == "model" and (uname == own or (repo and ref.lower() == repo.lower())):
            report.skip(ref, at(key), "refers to the card's own model")
            continue
        parent = resolve(kind, uname) if resolve else None
        if parent is None:
            parent = make_id(kind, uname, PLACEHOLDER_VERSION)
            if parent not in sources:
                assets.append(placeholder(kind, ref, uname))
                sources[parent] = at(key)
                report.placeholders.append({"asset": parent, "reason": f"{key} {ref!r} is not registered: created with an unspecified licence; register its real charter as a new version and re-link"})
        if all(e.parent != parent for e in edges):
            edges.append(Edge(aid, parent, relation))

    source = f"hf-card:{repo or path.name}"
    props = _properties(meta, aid, source, report, path, at)

    front = {k: plain(meta[k]) for k in KEEP if k in meta}
    notes = {"importer": "hf-card", "file": path.name, "name_from": name_from, "front_matter": front, "license_mapped": lic_note}
    if repo:
        notes |= {"hf_id": repo, "url": f"https://huggingface.co/{repo}"}
    if inferred:
        notes["base_model_relation_inferred_from"] = inferred
    assets.append(Asset(
        id=aid, kind="model", name=own, version=version, description=_description(body),
        licenses=lics, derived_from=tuple(edges), notes=notes,
    ))
    report.stats = {"model": aid, "name_from": name_from, "base_model_relation": rel_word, "upstream": [e.parent for e in edges],
                    "properties": [_prop_json(p) for p in props],
                    "results_skipped": sum(1 for x in report.skipped if x["item"].startswith("model-index"))}
    return CardImport(assets, sources, report, props)


def _prop_json(p: Property) -> dict:
    return {"benchmark": p.benchmark, "metric": p.metric, "value": p.value, "version": p.version}


def property_key(p: Property) -> tuple:
    """What makes two card properties the same measurement (re-importing attaches nothing new)."""
    return (p.asset, p.benchmark, p.version, p.metric, p.value, p.run)


def placeholder(kind: str, ref: str, name: str) -> Asset:
    """An upstream asset known only by its Hugging Face id. Its content depends only on that id,
    so every card that names it produces the same asset."""
    return Asset(
        id=make_id(kind, name, PLACEHOLDER_VERSION), kind=kind, name=name, version=PLACEHOLDER_VERSION,
        description=f"Placeholder for the Hugging Face {kind} {ref!r}: its terms are not registered (unspecified licence).",
        notes={"importer": "hf-card", "placeholder": True, "hf_id": ref},
    )


def read_card(path: Path) -> tuple[dict, str]:
    """(front matter, markdown body). Line numbers in errors count from the top of the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput("file not found", hint="pass a model card (README.md) or the folder holding one", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read file: {e}", hint="pass a readable UTF-8 README.md", where=str(path)) from None
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise InvalidInput("no YAML front matter", hint="a model card starts with a '---' line, the metadata, and another '---' line", where=f"{path}:1")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise InvalidInput("the YAML front matter is not closed", hint="end the metadata with a '---' line", where=f"{path}:1")
    meta = parse_text("\n" + "\n".join(lines[1:end]), str(path))  # leading newline keeps line numbers
    if meta is None:
        meta = LineDict()
        meta.line, meta.key_lines = 1, {}
    if not isinstance(meta, dict):
        raise InvalidInput("the front matter must be a mapping", hint="write metadata as key: value lines", where=f"{path}:2")
    return meta, "\n".join(lines[end + 1:])


def _name(meta: dict, body: str, path: Path, given: str | None, repo: str | None, at) -> tuple[str, str]:
    """(asset name, where it came from). Never the folder the card sits in (issue 14)."""
    idx = meta.get("model-index")
    first = idx[0] if isinstance(idx, list) and idx and isinstance(idx[0], dict) else {}
    stated = [("--name", given, "", "--name"),
              ("model_name", meta.get("model_name"), at("model_name"), "model_name"),
              ("model-index", first.get("name"), f"{path}:{first.line_of('name')}" if isinstance(first, LineDict) else at("model-index"), "model-index[0].name"),
              ("--repo", repo, "", "--repo")]
    for origin, raw, where, fld in stated:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise InvalidInput(f"'{fld}' must be a string", hint="write the model's name as a plain string (name: My Model)",
                               where=where, field=fld)
        n = slug(str(raw))
        if not valid_name(n) or n == "unnamed":
            raise InvalidInput(f"cannot make an asset name from {raw!r}", hint="pass --name NAME", where=where, field=fld)
        return n, origin
    title = _title(body)
    if title is not None:
        n = slug(title)
        if valid_name(n) and n != "unnamed":
            return n, "title"
    if path.stem.lower() != "readme":
        n = slug(path.stem)
        if valid_name(n) and n != "unnamed":
            return n, "file name"
    raise InvalidInput("the card names no model", where=f"{path}:1",
                       hint="pass --repo ORG/NAME (its Hugging Face id) or --name NAME: the card has no model_name, model-index name or '# Title'")


def _title(body: str) -> str | None:
    """The first Markdown H1 (``# Title``) outside code fences, with links and emphasis unwrapped."""
    fence = ""
    for line in body.splitlines():
        s = line.strip()
        if s.startswith(("```", "~~~")):
            mark = s[:3]
            fence = "" if fence == mark else (fence or mark)
            continue
        if fence:
            continue
        m = re.match(r"#\s+(.+?)\s*#*\s*$", s)
        if m:
            t = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))  # [text](url) -> text
            t = re.sub(r"<[^>]*>", "", t).replace("`", "").replace("*", "").strip()
            if t:
                return t
    return None


def _one_str(meta: dict, key: str, at) -> str | None:
    v = meta.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise InvalidInput(f"'{key}' must be a string", hint=f"write {key}: value", where=at(key), field=key)
    return v.strip().lower()


def _str_list(meta: dict, key: str, at) -> list[str]:
    v = meta.get(key)
    if v is None:
        return []
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidInput(f"'{key}' must be a string or a list of strings", hint=f"write {key}: org/name or {key}: [org/a, org/b]", where=at(key), field=key)
    return list(dict.fromkeys(x.strip() for x in v if x.strip()))


def _licenses(meta: dict, table: LicenseTable, report: Report, aid: str, at) -> tuple[tuple[str, ...], dict]:
    names = _str_list(meta, "license", at)
    lic_name = meta.get("license_name")
    if lic_name is not None and not isinstance(lic_name, str):
        raise InvalidInput("'license_name' must be a string", hint="write license_name: my-licence", where=at("license_name"), field="license_name")
    lic_name = (lic_name or "").strip()
    link = meta.get("license_link")
    out: list[str] = []
    note = {"license": names, "license_name": lic_name}
    if isinstance(link, str) and link.strip():
        note["license_link"] = link.strip()
    if not names and lic_name:
        names = [lic_name]  # license_name without license: the name is all there is
    for n in names or [""]:
        if n.lower() == "other" and lic_name:
            n = lic_name
        lic = table.lookup(n)
        for u in table.unknown(n) if lic.known else ():  # an expression's unknown parts ("MIT OR acme") are named too
            if u not in report.unmapped_licenses:
                report.unmapped(u, aid)
        if lic.known:
            if lic.id != UNSPECIFIED and lic.id not in out:
                out.append(lic.id)
        elif n not in out:  # reported once, however many times the card names it
            report.unmapped(n, aid)
            out.append(n)
    note["as"] = out
    return tuple(out), note


def _properties(meta: dict, aid: str, source: str, report: Report, path: Path, at) -> list[Property]:
    """model-index results -> properties. Anything not usable is skipped with a reason in the report."""
    idx = meta.get("model-index")
    if idx is None:
        return []

    def where(node, fallback: str) -> str:
        return f"{path}:{node.line}" if isinstance(node, LineDict) and node.line else fallback

    top = at("model-index")
    if not isinstance(idx, list):
        report.skip("model-index", top, "not a list of models: no results read")
        return []
    found: list[dict] = []
    for i, model in enumerate(idx):
        item = f"model-index[{i}]"
        if not isinstance(model, dict):
            report.skip(item, top, "not a mapping: no results read")
            continue
        results = model.get("results")
        if results is None or results == []:
            continue
        if not isinstance(results, list):
            report.skip(f"{item}.results", where(model, top), "not a list: no results read")
            continue
        for j, res in enumerate(results):
            ritem = f"{item}.results[{j}]"
            if not isinstance(res, dict):
                report.skip(ritem, where(model, top), "not a mapping: skipped")
                continue
            ds = res.get("dataset")
            ds = ds if isinstance(ds, dict) else {}
            task = res.get("task") if isinstance(res.get("task"), dict) else {}
            bench = _text(ds.get("type")) or _text(ds.get("name"))
            metrics = res.get("metrics")
            if not isinstance(metrics, list):
                report.skip(ritem, where(res, top), "no metrics list: skipped")
                continue
            if not bench:
                report.skip(ritem, where(res, top), f"no dataset type or name: {len(metrics)} metric(s) skipped")
                continue
            version = _text(ds.get("revision")) or "/".join(x for x in (_text(ds.get("config")), _text(ds.get("split"))) if x)
            for k, m in enumerate(metrics):
                mitem = f"{ritem}.metrics[{k}]"
                w = where(m, where(res, top))
                if not isinstance(m, dict):
                    report.skip(mitem, w, "not a mapping: skipped")
                    continue
                mtype, mname = _text(m.get("type")), _text(m.get("name"))
                if not (mtype or mname):
                    report.skip(mitem, w, "no metric type or name: skipped")
                    continue
                value, why = _number(m.get("value"))
                if value is None:
                    report.skip(mitem, w, f"{bench} {mtype or mname}: {why}: skipped")
                    continue
                detail = {"source": source, "file": path.name, "where": w.rsplit(":", 1)[-1] if w != str(path) else "",
                          "task": plain(task.get("type")), "dataset": plain(ds.get("name")), "metric_name": mname,
                          "verified": plain(m.get("verified")), "args": plain(m.get("args") if m.get("args") is not None else ds.get("args"))}
                found.append({"item": mitem, "where": w, "bench": bench, "type": mtype, "name": mname, "value": value,
                              "version": version, "detail": {k2: v for k2, v in detail.items() if v not in (None, "")}})
    # a metric type repeated on one benchmark (eval loss per epoch, ...) is told apart by its name
    counts: dict[tuple, int] = {}
    for f in found:
        counts[(f["bench"], f["type"])] = counts.get((f["bench"], f["type"]), 0) + 1
    props: list[Property] = []
    seen: dict[tuple[str, str], str] = {}
    for f in found:
        metric = f["type"] or f["name"]
        if counts[(f["bench"], f["type"])] > 1 and f["name"]:
            metric = f["name"]
        key = (f["bench"], metric)
        if key in seen:
            report.skip(f["item"], f["where"], f"{f['bench']} {metric} repeats {seen[key]} (the registry keeps one value per benchmark and metric): skipped")
            continue
        seen[key] = f["item"]
        props.append(Property(aid, f["bench"], f["version"], metric, f["value"], run=source, detail=f["detail"]))
    return props


def _text(v) -> str:
    if isinstance(v, bool) or v is None:
        return ""
    if isinstance(v, (int, float)):
        return str(v)
    return v.strip() if isinstance(v, str) else ""


def _number(v) -> tuple[float | None, str]:
    if v is None:
        return None, "no value"
    if isinstance(v, bool):
        return None, f"value {v!r} is not a number"
    if isinstance(v, (int, float)) or (isinstance(v, str) and NUMBER_RE.fullmatch(v.strip())):
        try:
            f = float(v.strip() if isinstance(v, str) else v)
        except OverflowError:
            f = math.inf
        return (f, "") if math.isfinite(f) else (None, f"value {str(v)[:40]} is not finite")
    shown = repr(v) if isinstance(v, str) else f"a {type(v).__name__}"
    return None, f"value {shown[:60]} is not a number"


def _description(body: str) -> str:
    """The first prose paragraph of the card (headings, badges, HTML and tables skipped)."""
    para: list[str] = []
    for line in body.splitlines():
        s = line.strip()
        if not s:
            if para:
                break
            continue
        if s.startswith(("#", "<", "|", "!", "[!", "```", "---", ">")):
            if para:
                break
            continue
        para.append(s)
    text = re.sub(r"\s+", " ", " ".join(para)).strip()
    return text[:500]
