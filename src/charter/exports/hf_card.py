"""A Hugging Face model card: README.md whose YAML front matter the Hub reads, built with
huggingface_hub's ``ModelCard`` / ``ModelCardData``.

Front matter: ``license`` (the Hub's identifier when the Hub knows the single licence, else
``other`` with ``license_name``: the licences joined with AND), ``model_name``, ``base_model`` (the
parents a model was fine-tuned, adapted, merged, quantized or distilled from: by name, the Hub's
``org/name`` form), ``base_model_relation`` (finetune | adapter | merge | quantized, from the first
such edge), ``datasets`` (trained-on, curated-from and trained-on-outputs-of parents, by name),
``model-index`` (each evaluation: benchmark as dataset type and name, its version as revision, the
metric and value), ``tags``. The body is ``charter card``'s (uses with their sources, requirements,
duties, lineage). The Hub has no field for uses: ``charter import hf-card`` reads licences, lineage
and evaluations back, not uses. Models only (a dataset travels as Croissant).
"""

from __future__ import annotations

from charter.core.assets import Edge
from charter.errors import UsageError
from charter.exports import Export

RELATION_WORDS = {"fine-tuned-from": "finetune", "adapter-of": "adapter", "merged-from": "merge", "quantized-from": "quantized"}
BASE = tuple(RELATION_WORDS) + ("distilled-from",)
DATA = ("trained-on", "curated-from", "trained-on-outputs-of")


def _hub_licences() -> frozenset[str]:
    from importlib.resources import files

    text = files("charter").joinpath("resources/hf_licenses.txt").read_text()
    return frozenset(x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#"))


def _name(parent: str) -> str:
    return parent.split("/", 1)[1].rsplit("@", 1)[0]


def card_data(ex: Export):
    from huggingface_hub import EvalResult, ModelCardData

    item = ex.root
    a = item.asset
    lic: dict = {}
    if len(a.licenses) == 1 and a.licenses[0].lower() in _hub_licences():
        lic = {"license": a.licenses[0].lower()}
    elif a.licenses:
        lic = {"license": "other", "license_name": " AND ".join(a.licenses)}
    bases: list[Edge] = [e for e in a.derived_from if e.relation in BASE]
    data = [e for e in a.derived_from if e.relation in DATA]
    rel = next((RELATION_WORDS[e.relation] for e in bases if e.relation in RELATION_WORDS), None)
    evals = [EvalResult(task_type="evaluation", dataset_type=p.benchmark, dataset_name=p.benchmark, dataset_revision=p.version or None,
                        metric_type=p.metric, metric_name=p.metric, metric_value=p.value) for p in item.properties]
    return ModelCardData(model_name=a.name, **lic, base_model=[_name(e.parent) for e in bases] or None,
                         datasets=[_name(e.parent) for e in data] or None, eval_results=evals or None,
                         tags=["charter", a.kind], **({"base_model_relation": rel} if rel else {}))


def build(ex: Export, reg=None) -> str:
    from huggingface_hub import ModelCard

    from charter.report.card import card

    a = ex.root.asset
    if a.kind != "model":
        raise UsageError(f"{a.id} is a {a.kind}: a Hugging Face model card describes a model",
                         hint="export a dataset with --format croissant, or any asset with cyclonedx, spdx3 or odrl", field="--format")
    data = card_data(ex)
    body = card(reg, a.id).split("\n---\n", 1)[1].lstrip("\n")  # charter card's body, under the Hub's front matter
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))
