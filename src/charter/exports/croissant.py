"""Croissant 1.1 + RAI for a dataset, built with mlcroissant (``Metadata``, ``FileObject``,
``RecordSet``), with what mlcroissant has no field for added to its JSON-LD.

- ``name``, ``version``, ``description``, ``license`` (each licence), ``url`` (``charter:asset/ID``),
  ``citeAs`` the asset id, ``conformsTo`` Croissant 1.1;
- ``distribution``: one ``cr:FileObject`` per registered data file (its path, format, sha256), and
  ``recordSet``: one record set per file with its text field (``data.fields.text``), so the records load;
- ``usageInfo`` (schema.org): the asset's ODRL policy (exports/odrl.py: permissions, prohibitions,
  duties, ``inheritFrom``), which Croissant leaves to ODRL and no Croissant tool evaluates;
- ``prov:wasDerivedFrom``: each parent (``charter:asset/ID``) with its ``charter:relation``;
- RAI: ``rai:dataUseCases`` the allowed uses, ``rai:dataLimitations`` the denied ones (own and
  inherited, with their sources), ``rai:dataPreprocessingProtocol`` the curation manifest's
  exclusions (records excluded by reason) and ``rai:dataCollection`` the description.

Datasets only: Croissant describes data. ``--lineage`` adds nothing (the parents are named by IRI).
"""

from __future__ import annotations

import json
from pathlib import Path

from charter.core import vocab
from charter.errors import UsageError
from charter.exports import Export, effective_lines
from charter.exports.odrl import CONTEXT as ODRL_CONTEXT
from charter.exports.odrl import policy

CROISSANT_1_1 = "http://mlcommons.org/croissant/1.1"
FORMATS = {".parquet": "application/x-parquet", ".jsonl": "application/jsonlines", ".json": "application/json", ".csv": "text/csv"}


def metadata(ex: Export):
    import mlcroissant as mlc

    a = ex.root.asset
    files, sets = [], []
    text = ((a.data or {}).get("fields") or {}).get("text", "text")
    for i, d in enumerate((a.data or {}).get("digests") or ()):
        p = Path(d["path"])
        fid = f"file-{i}"
        files.append(mlc.FileObject(id=fid, name=p.name, content_url=p.as_posix(), encoding_formats=[FORMATS.get(p.suffix, "application/octet-stream")],
                                    sha256=d["sha256"], content_size=f"{d['bytes']} B"))
        sets.append(mlc.RecordSet(id=f"records-{i}", name=f"records-{i}", fields=[
            mlc.Field(id=f"records-{i}/text", name="text", data_types=[mlc.DataType.TEXT],
                      source=mlc.Source(file_object=fid, extract=mlc.Extract(column=text)))]))
    excluded = ((a.notes or {}).get("curation") or {}).get("excluded") or {}
    item = ex.root
    limits = [f"denied: {x}" for x in effective_lines(item, "deny")]
    return mlc.Metadata(
        name=a.name, description=a.description or a.id, version=_semver(a.version), url=vocab.asset_iri(a.id), cite_as=a.id,
        license=list(a.licenses) or None, conforms_to=CROISSANT_1_1, distribution=files, record_sets=sets,
        data_collection=a.description or None, data_use_cases=[f"allowed: {u}" for u in a.allow] or None, data_limitations=limits or None,
        data_preprocessing_protocol=[f"excluded {n} records: {r}" for r, n in sorted(_flat(excluded).items())] or None)


def _flat(excluded) -> dict[str, int]:
    """The manifest's exclusions as reason -> count (a nested mapping is flattened with ':')."""
    out: dict[str, int] = {}
    if isinstance(excluded, dict):
        for k, v in excluded.items():
            if isinstance(v, dict):
                out |= {f"{k}:{kk}": vv for kk, vv in _flat(v).items()}
            elif isinstance(v, int):
                out[str(k)] = v
    return out


def _semver(version: str) -> str:
    """Croissant wants MAJOR.MINOR.PATCH: a Charter version of digits ``1`` -> ``1.0.0``; anything else kept."""
    parts = version.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts))) if version.replace(".", "").isdigit() and len(parts) <= 3 else version


def build(ex: Export, reg=None) -> str:
    a = ex.root.asset
    if a.kind != "dataset":
        raise UsageError(f"{a.id} is a {a.kind}: Croissant describes datasets", hint="export it with --format cyclonedx, spdx3 or odrl", field="--format")
    doc = metadata(ex).to_json()
    doc["@context"] = {**doc["@context"], **ODRL_CONTEXT, "prov": "http://www.w3.org/ns/prov#", "usageInfo": "sc:usageInfo"}
    doc["conformsTo"] = CROISSANT_1_1
    # mlcroissant's JSON-LD expansion fails on a node reached twice (it edits nodes in place): the embedded
    # policy is a blank node named by odrl:uid, and its lineage is prov:wasDerivedFrom's alone
    doc["usageInfo"] = {k: v for k, v in policy(ex.root).items() if k not in ("@id", "charter:derivedFrom")}
    if a.derived_from:
        doc["prov:wasDerivedFrom"] = [{"@id": vocab.asset_iri(e.parent), "charter:relation": e.relation} for e in a.derived_from]
    doc["charter:id"] = a.id
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def load(path: Path):
    """The document loaded with mlcroissant (``mlcroissant.Dataset``): raises on what it cannot read."""
    import mlcroissant as mlc

    return mlc.Dataset(jsonld=str(path))
