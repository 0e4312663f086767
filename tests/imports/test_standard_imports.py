"""charter import cyclonedx | spdx3 | croissant | odrl: what each reads, what it reports instead of
guessing, and untrusted input (every malformed file is one InvalidInput naming the file, never a crash)."""

from __future__ import annotations

import json
import random
from importlib import import_module

import pytest

from charter.core import vocab
from charter.errors import InvalidInput
from charter.imports import cyclonedx, odrl, spdx3

FORMATS = ("cyclonedx", "spdx3", "croissant", "odrl")


def _load(mod, path, memreg):
    return mod.load(path, memreg.licenses, memreg.taxonomy, lambda i: False)


def _skipped(res) -> dict[str, str]:
    return {x["item"]: x["reason"] for x in res.report.skipped}


def test_cyclonedx_foreign_bom_is_read_without_guessing(tmp_path, memreg):
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "metadata": {"component": {"type": "machine-learning-model", "name": "acme-lm", "version": "2.1", "bom-ref": "acme",
                                      "licenses": [{"expression": "MIT OR Apache-2.0"}],
                                      "properties": [{"name": "charter:uses:deny", "value": "military"},
                                                     {"name": "charter:uses:deny", "value": "world-domination"},
                                                     {"name": "charter:duty", "value": "tithing"},
                                                     {"name": "charter:colour", "value": "blue"},
                                                     {"name": "acme:internal", "value": "x"}],
                                      "pedigree": {"ancestors": [{"type": "data", "name": "web", "version": "1"},
                                                                 {"type": "data", "name": "books", "version": "1",
                                                                  "properties": [{"name": "charter:relation", "value": "trained-on"}]}]}}},
           "components": [{"type": "library", "name": "torch", "version": "2.0"}]}
    p = tmp_path / "bom.json"
    p.write_text(json.dumps(bom))
    res = _load(cyclonedx, p, memreg)
    by = {a.id: a for a in res.assets}
    m = by["model/acme-lm@2.1"]
    assert m.licenses == ("MIT OR Apache-2.0",) and m.deny == ("military",) and m.duties == ()
    assert [(e.parent, e.relation) for e in m.derived_from] == [("dataset/books@1", "trained-on")]
    assert by["dataset/books@1"].notes["placeholder"] is True
    sk = _skipped(res)
    assert "not a use id of the taxonomy; not guessed" in sk["world-domination"]
    assert "unknown duty" in sk["tithing"] and "unknown charter: property" in sk["charter:colour"]
    assert "acme:internal" not in sk and "library" in sk["torch"]
    (d,) = res.report.dangling
    assert d["dependency"] == "dataset/web@1" and "not guessed" in d["reason"]


def test_odrl_foreign_policy_with_odrl_context_and_purpose_constraint(tmp_path, memreg):
    pol = {"@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set", "uid": "http://example.com/policy/1",
           "permission": [{"target": vocab.asset_iri("dataset/shared@3"), "action": "use",
                           "constraint": [{"leftOperand": "purpose", "operator": "isAnyOf",
                                           "rightOperand": [{"@id": vocab.use_iri("research")}, {"@id": vocab.use_iri("evaluation")}]}],
                           "duty": [{"action": "attribute"}]}],
           "prohibition": [{"target": vocab.asset_iri("dataset/shared@3"), "action": "distribute"},
                           {"target": vocab.asset_iri("dataset/shared@3"), "action": {"@id": vocab.use_iri("commercial")}}],
           "inheritFrom": vocab.policy_iri("dataset/raw@1")}
    p = tmp_path / "p.jsonld"
    p.write_text(json.dumps(pol))
    res = _load(odrl, p, memreg)
    (a,) = [x for x in res.assets if x.id == "dataset/shared@3"]
    assert set(a.allow) == {"research", "evaluation"} and a.deny == ("commercial",) and a.duties == ("attribution",)
    assert a.derived_from == ()  # inheritFrom names a parent, not how it derives
    assert "not guessed" in _skipped(res)["http://www.w3.org/ns/odrl/2/distribute"]
    assert res.report.dangling[0]["dependency"] == "dataset/raw@1"


def test_spdx3_descendant_without_relation_is_reported(demo_spdx, tmp_path, memreg):
    doc = json.loads(demo_spdx)
    for o in doc["@graph"]:
        if o.get("type") == "Relationship" and o["relationshipType"] == "descendantOf":
            o.pop("extension")
    p = tmp_path / "s.json"
    p.write_text(json.dumps(doc))
    res = _load(spdx3, p, memreg)
    assert any("does not say which" in d["reason"] for d in res.report.dangling)
    tagger = next(a for a in res.assets if a.id == "model/photo-tagger@1")
    assert [(e.parent, e.relation) for e in tagger.derived_from] == [("dataset/face-photos@1", "evaluated-on")]  # testedOn alone


@pytest.fixture(scope="module")
def demo_spdx():
    from charter.core.files import resource
    from charter.exports import export
    from charter.registry import Registry

    reg = Registry.open("memory:")
    reg.add_files([resource("examples") / "ecosystem.yaml"])
    return export(reg, "model/photo-tagger@1", "spdx3", lineage=True)


@pytest.fixture(scope="module")
def documents():
    from charter.core.files import resource
    from charter.exports import export
    from charter.registry import Registry

    reg = Registry.open("memory:")
    reg.add_files([resource("examples") / "ecosystem.yaml", resource("examples") / "compute-alice.yaml"])
    out = {f: export(reg, "application/photo-search@1", f, lineage=True) for f in ("cyclonedx", "spdx3", "odrl")}
    out["croissant"] = export(reg, "dataset/face-photos@1", "croissant")
    return out


GARBAGE = ["", "null", "[]", "{}", "3", '"x"', "{\"a\": NaN}", "[" * 5000 + "]" * 5000, "\xff\xfe", "{\"@context\": 7}",
           '{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": "x"}',
           '{"bomFormat": "CycloneDX", "specVersion": "9.9"}',
           '{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": [{"type": "ai_AIPackage", "spdxId": 5}]}',
           '{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": "x"}',
           '{"@context": ["http://attacker.example/ctx.jsonld"], "@type": "odrl:Set"}',
           '{"@context": {"@import": "http://attacker.example/ctx.jsonld"}, "@type": "x"}',
           '{"@context": {"odrl": "http://www.w3.org/ns/odrl/2/"}, "@type": "odrl:Set", "odrl:target": {"@id": "https://w3id.org/charter/asset/model/x@1"}}',
           '{"@context": {"sc": "https://schema.org/"}, "@type": "sc:Dataset"}']


@pytest.mark.parametrize("fmt", FORMATS)
def test_malformed_files_are_one_line_errors(fmt, tmp_path, memreg):
    mod = import_module(f"charter.imports.{fmt}")
    for i, text in enumerate(GARBAGE):
        p = tmp_path / f"bad-{i}.json"
        p.write_bytes(text.encode("utf-8", "surrogateescape") if text != "\xff\xfe" else b"\xff\xfe")
        try:
            _load(mod, p, memreg)
        except InvalidInput as e:
            line = e.oneline()
            assert str(p) in line and "\n" not in line and e.hint, (fmt, i, line)
    with pytest.raises(InvalidInput, match="file not found"):
        _load(mod, tmp_path / "missing.json", memreg)


def _mutate(node, rnd: random.Random):
    """One random edit somewhere in a JSON document: a value replaced, a key dropped, a list emptied."""
    junk = [None, 0, -1, 1e308, "", "x" * 300, "model/x@1", [], {}, [1, 2], {"@id": "https://w3id.org/charter/asset/model/x@1"}, True]
    path = []
    while isinstance(node, (dict, list)) and node and rnd.random() < 0.85:
        key = rnd.choice(list(node)) if isinstance(node, dict) else rnd.randrange(len(node))
        path.append((node, key))
        node = node[key]
    if not path:
        return
    parent, key = path[-1]
    op = rnd.random()
    if op < 0.3 and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = rnd.choice(junk)


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_exports_give_a_result_or_one_error(fmt, documents, tmp_path, memreg):
    mod = import_module(f"charter.imports.{fmt}")
    rnd = random.Random(fmt)
    outcomes = {"ok": 0, "error": 0}
    for i in range(40):
        doc = json.loads(documents[fmt])
        for _ in range(rnd.randint(1, 3)):
            _mutate(doc, rnd)
        p = tmp_path / f"m-{i}.json"
        p.write_text(json.dumps(doc))
        try:
            _load(mod, p, memreg)
            outcomes["ok"] += 1
        except InvalidInput as e:
            assert str(p) in e.oneline()
            outcomes["error"] += 1
    assert outcomes["ok"] and outcomes["error"], outcomes


def test_cyclonedx_repeated_items_are_refused_and_distinct_ones_pass(documents, tmp_path, memreg):
    bom = json.loads(documents["cyclonedx"])
    bom["components"].append(dict(bom["components"][0]))  # components must be unique (uniqueItems)
    p = tmp_path / "dup.json"
    p.write_text(json.dumps(bom))
    with pytest.raises(InvalidInput, match="repeated items"):
        _load(cyclonedx, p, memreg)
    # distinct components pass (the check is linear: bench/bench_export.py imports a 10,002-component BOM)
    bom = json.loads(documents["cyclonedx"])
    bom["components"] = [{"type": "library", "name": f"lib{i}", "version": "1", "bom-ref": f"lib{i}"} for i in range(300)]
    p.write_text(json.dumps(bom))
    cyclonedx._validate(bom, p)
