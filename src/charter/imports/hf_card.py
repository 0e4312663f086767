"""A Hugging Face model card (README.md with YAML front matter) -> a model and its upstream.

Front matter fields read (https://huggingface.co/docs/hub/model-cards)::

    license: apache-2.0 | other        # a licence id, or a list of them
    license_name: my-licence           # with license: other
    license_link: https://...
    base_model: org/model | [a, b]     # upstream models
    base_model_relation: adapter | merge | quantized | finetune
    datasets: [org/dataset, ...]       # training data
    model_name: ...                    # or model-index[0].name: the asset name if --name is not given

The model becomes ``model/<name>@<version>``; each base model is linked by the relation
its ``base_model_relation`` names (:data:`RELATIONS`; default fine-tuned-from) and each
dataset by ``trained-on``. Upstream assets are looked up in the registry by name (latest
version); those not registered yet are created as placeholders (licence unspecified,
``notes.placeholder: true``) and listed in the report.
"""

from __future__ import annotations

import re
from pathlib import Path

from charter.core.assets import Asset, Edge
from charter.core.files import LineDict, parse_text
from charter.core.ids import make_id, slug, valid_name, valid_version
from charter.errors import InvalidInput
from charter.imports import Import, Report, Resolver, plain
from charter.policy.licenses import UNSPECIFIED, LicenseTable

VERSION = "hf"
PLACEHOLDER_VERSION = "hf"
RELATIONS = {"adapter": "adapter-of", "merge": "merged-from", "quantized": "quantized-from", "finetune": "fine-tuned-from"}
KEEP = ("license", "license_name", "license_link", "base_model", "base_model_relation", "datasets", "model_name",
        "language", "pipeline_tag", "library_name", "tags", "extra_gated_prompt")


def load(path: Path, licenses: LicenseTable, *, name: str | None = None, version: str = VERSION,
         resolve: Resolver | None = None) -> Import:
    path = Path(path)
    if not valid_version(version):
        raise InvalidInput(f"invalid version {version!r}", hint="use letters, digits and . _ + -", field="--version")
    if path.is_dir():
        path = path / "README.md"
    meta, body = read_card(path)
    report = Report("hf-card", str(path), files=1)

    def at(key: str) -> str:
        return f"{path}:{meta.line_of(key)}" if isinstance(meta, LineDict) else str(path)

    own = _name(meta, path, name, at)
    aid = make_id("model", own, version)
    lics, lic_note = _licenses(meta, licenses, report, aid, at)

    rel_word = _one_str(meta, "base_model_relation", at)
    inferred = ""
    if rel_word is None:
        rel_word = "finetune"
        if str(meta.get("library_name") or "").lower() == "peft":
            rel_word, inferred = "adapter", "library_name: peft"
    if rel_word not in RELATIONS:
        raise InvalidInput(f"unknown base_model_relation {rel_word!r}", hint=f"use one of {', '.join(RELATIONS)}", where=at("base_model_relation"), field="base_model_relation")

    assets: list[Asset] = []
    sources: dict[str, str] = {aid: str(path)}
    edges: list[Edge] = []
    upstream = [("model", b, RELATIONS[rel_word], "base_model") for b in _str_list(meta, "base_model", at)]
    upstream += [("dataset", d, "trained-on", "datasets") for d in _str_list(meta, "datasets", at)]
    for kind, ref, relation, key in upstream:
        uname = slug(ref)
        if kind == "model" and uname == own:
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

    front = {k: plain(meta[k]) for k in KEEP if k in meta}
    notes = {"importer": "hf-card", "file": path.name, "front_matter": front, "license_mapped": lic_note}
    if inferred:
        notes["base_model_relation_inferred_from"] = inferred
    assets.append(Asset(
        id=aid, kind="model", name=own, version=version, description=_description(body),
        licenses=lics, derived_from=tuple(edges), notes=notes,
    ))
    report.stats = {"model": aid, "base_model_relation": rel_word, "upstream": [e.parent for e in edges]}
    return Import(assets, sources, report)


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


def _name(meta: dict, path: Path, given: str | None, at) -> str:
    if given:
        n = slug(given)
        where, field = "", "--name"
    else:
        idx = meta.get("model-index")
        from_index = idx[0].get("name") if isinstance(idx, list) and idx and isinstance(idx[0], dict) else None
        raw = meta.get("model_name") or from_index or path.resolve().parent.name
        n = slug(str(raw))
        where, field = (at("model_name"), "model_name") if meta.get("model_name") else (str(path), "")
    if not valid_name(n) or n == "unnamed":
        raise InvalidInput(f"cannot make an asset name from {given or n!r}", hint="pass --name NAME", where=where, field=field)
    return n


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
    out: list[str] = []
    note = {"license": names, "license_name": lic_name or ""}
    for n in names or [""]:
        if n.lower() == "other" and lic_name:
            n = lic_name.strip()
        lic = table.lookup(n)
        if lic.known:
            if lic.id != UNSPECIFIED and lic.id not in out:
                out.append(lic.id)
        else:
            report.unmapped(n, aid)
            out.append(n)
    note["as"] = out
    return tuple(out), note


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
