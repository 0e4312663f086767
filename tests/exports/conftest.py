"""The registry the export tests read: the demo's assets and an imported Ecosystem Graphs sample.

Built once per session (a SQLite registry in a temporary folder), read-only for the tests:
- the demo's charters (ecosystem.yaml, compute-alice.yaml, llama-upstream.yaml, community-models.yaml),
  the community corpus curated for commercial machine translation (community-mt@1, with files),
  and the vendored Llama 3.2 fine-tune card imported as `charter demo` imports it;
- what the demo reaches with SmolLM2 and a real evaluation, without them: a model trained-with
  Alice's workstation, applications that require a BBQ bias bound (met, unmet by its interval,
  and with no evaluation), and one evaluation attached to the model;
- the real Ecosystem Graphs entries vendored in tests/imports/fixtures/ecosystem-graphs-real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.core.assets import Property
from charter.core.files import resource

ROOT = Path(__file__).resolve().parents[2]
EG_REAL = ROOT / "tests" / "imports" / "fixtures" / "ecosystem-graphs-real"
MT = ("fine-tuning", "machine-translation", "commercial")

EXTRA = """\
assets:
  - id: model/volunteer-lm@1
    description: A model trained on Alice's workstation and public parallel data.
    license: Apache-2.0
    duties: [attribution]
    derived_from:
      - {asset: compute/alice-workstation@1, relation: trained-with}
      - {asset: dataset/parallel-corpus@1, relation: trained-on}
      - {asset: dataset/face-photos@1, relation: evaluated-on}
  - id: application/cv-ranker@1
    description: Ranks CVs; demands a small BBQ bias, point estimate only.
    license: proprietary
    uses: {allow: [employment-decisions, commercial]}
    requires:
      - {use: employment-decisions, benchmark: bbq, metric: amb_bias_score, abs_max: 0.05, min_n: 100}
    derived_from:
      - {asset: model/volunteer-lm@1, relation: deployed-from}
  - id: application/cv-ranker-strict@1
    description: The same with the whole 95% interval within bounds.
    license: proprietary
    uses: {allow: [employment-decisions, commercial]}
    requires:
      - {use: employment-decisions, benchmark: bbq, metric: amb_bias_score, ci_within: [-0.05, 0.05]}
    derived_from:
      - {asset: model/volunteer-lm@1, relation: deployed-from}
  - id: application/cv-ranker-unevaluated@1
    description: Requires a metric nobody measured.
    license: proprietary
    uses: {allow: [employment-decisions]}
    requires:
      - {use: employment-decisions, benchmark: winobias, metric: gap, abs_max: 0.05}
    derived_from:
      - {asset: model/volunteer-lm@1, relation: deployed-from}
  - id: application/llama-helper@1
    description: An assistant on Llama 3.2 whose owner attests the 700M MAU condition.
    license: proprietary
    attest: [llama32-700m-mau]
    derived_from:
      - {asset: model/meta-llama/llama-3.2-1b-instruct@1, relation: deployed-from}
"""


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> str:
    return build_demo(tmp_path_factory.mktemp("exports"))


def build_demo(d: Path) -> str:
    from charter.data.curate import CurateConfig, curate
    from charter.data.synth import write_community_corpus
    from charter.imports import ecosystem_graphs, hf_card
    from charter.registry import Registry

    db = str(d / "demo.db")
    reg = Registry.open(db)
    ex = resource("examples")
    reg.add_files([ex / "ecosystem.yaml", ex / "compute-alice.yaml", ex / "llama-upstream.yaml"])
    reg.add_files([write_community_corpus(d / "corpus", messages=120)])
    curate(reg, CurateConfig(("dataset/community-messages@1", "dataset/public-domain-books@2"), MT, d / "curated", name="community-mt", version="1"))
    reg.add_files([ex / "community-models.yaml"])
    (d / "extra.yaml").write_text(EXTRA)
    reg.add_files([d / "extra.yaml"])
    reg.attach([Property("model/volunteer-lm@1", "bbq", "bbq/1.0", "amb_bias_score", 0.02, (-0.01, 0.06), 200, "2026-11-30T00:00:00+00:00")])

    def resolve(kind: str, name: str):
        found = list(reg.store.find(kind=kind, name=name))
        return found[-1].id if found else None

    card = hf_card.load(ex / "cards" / "llama-3.2-1b-delaysentinel.md", reg.licenses, resolve=resolve, repo="Yuchiwang02/Llama-3.2-1B-DelaySentinel")
    reg.add(card.assets, card.sources)
    reg.attach(card.properties)
    eg = ecosystem_graphs.load(EG_REAL, reg.licenses, reg.taxonomy, resolve=resolve)
    reg.add(eg.assets, eg.sources)
    reg.close()
    return db


@pytest.fixture
def demo(demo_db):
    from charter.registry import Registry

    reg = Registry.open(demo_db, create=False)
    yield reg
    reg.close()
