"""The use taxonomy: loading, extending, validation errors, covers/overlap on the shipped DAG."""

from __future__ import annotations

import dataclasses

import pytest

from charter.core import uses as uses_mod
from charter.core.uses import Use, build
from charter.errors import InvalidInput, TaxonomyError, UnknownUse

TAX = uses_mod.load()


def write(tmp_path, text: str, name: str = "ext.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --- the shipped taxonomy -------------------------------------------------------------------

def test_shipped_facets_and_facet_of_every_use():
    assert TAX.facets == ("activity", "purpose", "context")
    assert set(TAX.facet.values()) == {"activity", "purpose", "context"}
    assert TAX.facet["fine-tuning"] == "activity"
    assert TAX.facet["social-scoring"] == "purpose"
    assert TAX.facet["academic-research"] == "context"
    assert TAX.facet["context"] == "context"
    assert len(TAX.uses) >= 60 and TAX.order[0] == "activity"


def test_shipped_multi_parent_ancestors():
    assert TAX.ancestors["social-scoring"] == {"social-scoring", "eu-ai-act-prohibited", "profiling", "purpose"}
    assert TAX.ancestors["predictive-policing"] == {
        "predictive-policing", "eu-ai-act-prohibited", "law-enforcement", "eu-ai-act-high-risk", "profiling", "purpose"}
    assert TAX.ancestors["academic-research"] == {"academic-research", "research", "non-commercial", "context"}
    assert TAX.ancestors["activity"] == {"activity"}


@pytest.mark.parametrize("a, u, expected", [
    ("biometric-identification", "face-recognition", True),
    ("face-recognition", "biometric-identification", False),
    ("face-recognition", "face-recognition", True),
    ("non-commercial", "academic-research", True),
    ("research", "academic-research", True),
    ("academic-research", "research", False),
    ("profiling", "social-scoring", True),
    ("eu-ai-act-prohibited", "social-scoring", True),
    ("profiling", "credit-scoring", True),
    ("automated-decision-making", "employment-decisions", True),
    ("biometric-identification", "real-time-remote-biometric-identification", True),
    ("law-enforcement", "real-time-remote-biometric-identification", True),
    ("purpose", "machine-translation", True),
    ("training", "synthetic-data-generation", False),
    ("inference", "synthetic-data-generation", True),
    ("commercial", "personal", False),
    ("face-recognition", "speaker-identification", False),
])
def test_covers(a, u, expected):
    assert TAX.covers(a, u) is expected


@pytest.mark.parametrize("a, u, expected", [
    ("face-recognition", "biometric-identification", True),
    ("biometric-identification", "face-recognition", True),
    ("face-recognition", "machine-translation", False),
    ("face-recognition", "speaker-identification", False),
    ("social-scoring", "profiling", True),
    ("social-scoring", "eu-ai-act-prohibited", True),
    ("social-scoring", "manipulation", False),
    ("social-scoring", "personalisation", False),
    ("commercial", "non-commercial", False),
    ("context", "academic-research", True),
    ("fine-tuning", "pretraining", False),
    ("fine-tuning", "fine-tuning", True),
])
def test_overlap(a, u, expected):
    assert TAX.overlap(a, u) is expected
    assert TAX.overlap(u, a) is expected


def test_overlap_is_covers_either_way_everywhere():
    for a in TAX.uses:
        for u in TAX.uses:
            assert TAX.overlap(a, u) == (TAX.covers(a, u) or TAX.covers(u, a))
            assert (u in TAX.overlapping[a]) == TAX.overlap(a, u)
            assert (u in TAX.descendants[a]) == TAX.covers(a, u)


def test_children_in_file_order():
    assert TAX.children("research") == ("academic-research",)
    assert TAX.children("biometric-identification") == (
        "facial-image-scraping", "face-recognition", "speaker-identification", "remote-biometric-identification")
    assert TAX.children("academic-research") == ()


def test_check_known_and_unknown():
    assert TAX.check("face-recognition") == "face-recognition"
    with pytest.raises(UnknownUse) as e:
        TAX.check("face-recogniton", where="f.yaml:3", field="uses.deny[0]")
    assert isinstance(e.value, InvalidInput)
    assert "face-recogniton" in e.value.message
    assert e.value.hint == "did you mean 'face-recognition'?"
    assert (e.value.where, e.value.field) == ("f.yaml:3", "uses.deny[0]")
    with pytest.raises(UnknownUse) as e:
        TAX.check("zzzzzz")
    assert "charter uses" in e.value.hint


def test_to_json():
    rows = {r["id"]: r for r in TAX.to_json()}
    assert rows["social-scoring"] == {"id": "social-scoring", "facet": "purpose", "parents": ["eu-ai-act-prohibited", "profiling"]}
    assert rows["context"] == {"id": "context", "facet": "context", "parents": []}
    assert list(rows) == list(TAX.order)


# --- extension files ------------------------------------------------------------------------

def test_extension_adds_uses(tmp_path):
    ext = write(tmp_path, """
uses:
  - {id: voice-cloning, parents: [content-generation, speaker-identification], description: Cloning a voice}
  - id: internal-tooling
    parents: commercial
  - {id: deepfake-voice, parents: [voice-cloning]}
""")
    tax = uses_mod.load(ext)
    assert "voice-cloning" in tax and "voice-cloning" not in TAX
    assert tax.facet["voice-cloning"] == "purpose"
    assert tax.facet["internal-tooling"] == "context"
    assert tax.covers("content-generation", "deepfake-voice")
    assert tax.covers("biometric-identification", "deepfake-voice")
    assert tax.overlap("deepfake-voice", "speaker-identification")
    assert tax.uses["voice-cloning"].description == "Cloning a voice"
    assert tax.order[-1] == "deepfake-voice"
    assert len(tax.uses) == len(TAX.uses) + 3


def test_two_extension_files(tmp_path):
    a = write(tmp_path, "uses: [{id: my-purpose, parents: [purpose]}]", "a.yaml")
    b = write(tmp_path, "uses: [{id: my-sub-purpose, parents: [my-purpose]}]", "b.yaml")
    tax = uses_mod.load(a, b)
    assert tax.covers("my-purpose", "my-sub-purpose")
    with pytest.raises(TaxonomyError):
        uses_mod.load(b)  # b alone refers to an unknown parent


@pytest.mark.parametrize("text, message", [
    ("uses:\n  - {id: loop-a, parents: [loop-b]}\n  - {id: loop-b, parents: [loop-a]}\n", "cycle in taxonomy"),
    ("uses:\n  - {id: loop-a, parents: [loop-a]}\n", "cycle in taxonomy"),
    ("uses:\n  - {id: hybrid, parents: [training, commercial]}\n", "several facets"),
    ("uses:\n  - {id: hybrid, parents: [fine-tuning]}\n  - {id: worse, parents: [hybrid, personal]}\n", "several facets"),
    ("uses:\n  - {id: x-ray, parents: [trainng]}\n", "unknown parent 'trainng'"),
    ("uses:\n  - {id: Face_Rec, parents: [purpose]}\n", "not kebab-case"),
    ("uses:\n  - {id: -bad, parents: [purpose]}\n", "not kebab-case"),
    ("uses:\n  - {id: two--dashes, parents: [purpose]}\n", "not kebab-case"),
    ("uses:\n  - {id: new-one, parents: [purpose]}\n  - {id: new-one, parents: [activity]}\n", "defined twice"),
    ("uses:\n  - {id: training, parents: [activity]}\n", "defined twice"),
])
def test_bad_extension(tmp_path, text, message):
    ext = write(tmp_path, text)
    with pytest.raises(TaxonomyError) as e:
        uses_mod.load(ext)
    assert message in e.value.message
    assert str(ext) in e.value.where
    assert e.value.hint


def test_cycle_message_names_the_cycle(tmp_path):
    ext = write(tmp_path, "uses:\n  - {id: loop-a, parents: [loop-b]}\n  - {id: loop-b, parents: [loop-a]}\n")
    with pytest.raises(TaxonomyError) as e:
        uses_mod.load(ext)
    assert "loop-a -> loop-b -> loop-a" in e.value.message or "loop-b -> loop-a -> loop-b" in e.value.message


def test_unknown_parent_did_you_mean(tmp_path):
    with pytest.raises(TaxonomyError) as e:
        uses_mod.load(write(tmp_path, "uses:\n  - {id: x-ray, parents: [trainng]}\n"))
    assert e.value.hint == "did you mean 'training'?"


def test_several_facets_names_them(tmp_path):
    with pytest.raises(TaxonomyError) as e:
        uses_mod.load(write(tmp_path, "uses:\n  - {id: hybrid, parents: [training, commercial]}\n"))
    assert "'hybrid'" in e.value.message and "activity" in e.value.message and "context" in e.value.message


@pytest.mark.parametrize("text, message, where_line", [
    ("- {id: a}\n", "mapping with a 'uses' list", None),
    ("uses: {id: a}\n", "mapping with a 'uses' list", None),
    ("uses:\n  - {parents: [purpose]}\n", "needs an 'id'", None),
    ("uses:\n  - purpose\n", "needs an 'id'", None),
    ("uses:\n  - {id: a-b, parents: [purpose]}\n  - id: c-d\n    parent: [purpose]\n", "unknown field 'parent'", 3),
])
def test_malformed_extension_file(tmp_path, text, message, where_line):
    ext = write(tmp_path, text)
    with pytest.raises(TaxonomyError) as e:
        uses_mod.load(ext)
    assert message in e.value.message
    assert e.value.where.startswith(str(ext))
    if where_line:
        assert e.value.where == f"{ext}:{where_line}"
        assert e.value.field == "uses[1]"


def test_extension_with_bad_yaml(tmp_path):
    with pytest.raises(InvalidInput) as e:
        uses_mod.load(write(tmp_path, "uses:\n  - {id: a, parents: [purpose}\n"))
    assert "malformed YAML" in e.value.message and e.value.where.startswith(str(tmp_path))


def test_missing_extension_file(tmp_path):
    with pytest.raises(InvalidInput) as e:
        uses_mod.load(tmp_path / "nope.yaml")
    assert "not found" in e.value.message


# --- build() directly -------------------------------------------------------------------------

def test_build_minimal():
    tax = build([Use("f"), Use("a", ("f",)), Use("b", ("a",)), Use("c", ("a", "f"))])
    assert tax.facets == ("f",)
    assert tax.ancestors["c"] == {"c", "a", "f"}
    assert tax.descendants["a"] == {"a", "b", "c"}
    assert tax.overlapping["b"] == {"b", "a", "f"}


def test_build_cycle_without_a_root():
    with pytest.raises(TaxonomyError, match="cycle"):
        build([Use("a", ("b",)), Use("b", ("a",))])


def test_build_rejects_trailing_newline_in_id():
    with pytest.raises(TaxonomyError, match="kebab"):
        build([Use("f\n")])


def test_taxonomy_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TAX.facet = {}  # type: ignore[misc]


@pytest.mark.parametrize("body", ["uses:\n  - {id: [a, b], parents: [purpose]}\n", "uses:\n  - {id: x, parents: [[purpose]]}\n",
                                  "uses:\n  - {id: {a: 1}}\n", "uses:\n  - {id: x, parents: {a: 1}}\n"])
def test_a_list_or_mapping_as_an_id_or_parent_is_a_taxonomy_error(tmp_path, body):
    """Found by bench/fuzz.py: these raised TypeError (unhashable) instead of naming the file."""
    from charter.errors import TaxonomyError

    p = tmp_path / "t.yaml"
    p.write_text(body)
    with pytest.raises(TaxonomyError) as e:
        uses_mod.load(p)
    assert e.value.where.startswith(str(p))
