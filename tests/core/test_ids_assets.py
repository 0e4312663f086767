"""Asset ids and the Asset value type."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.core.assets import DUTIES, PROPAGATING, RELATIONS, Asset, Edge, Requirement
from charter.core.ids import make_id, parse_id, slug, valid_name, valid_version
from charter.errors import InvalidInput


@pytest.mark.parametrize("text, parts", [
    ("model/smollm2-135m@1", ("model", "smollm2-135m", "1")),
    ("model/org/llm-7b@v1.0+q4", ("model", "org/llm-7b", "v1.0+q4")),
    ("dataset/a.b_c@2024-01-01", ("dataset", "a.b_c", "2024-01-01")),
    ("compute/alice-workstation@1", ("compute", "alice-workstation", "1")),
    ("application/x@1@2", None),
])
def test_parse_id(text, parts):
    if parts is None:
        with pytest.raises(InvalidInput):
            parse_id(text)
        return
    assert parse_id(text) == parts
    assert make_id(*parts) == text


@pytest.mark.parametrize("bad", ["", "model", "model/x", "model/@1", "/x@1", "Model/x@1", "robot/x@1", "model/x@1\n", "model/x@1 ", None, 3])
def test_parse_id_rejects(bad):
    with pytest.raises(InvalidInput) as e:
        parse_id(bad, where="f.yaml:2", field="derived_from[0].asset")
    assert (e.value.where, e.value.field) == ("f.yaml:2", "derived_from[0].asset")
    assert e.value.hint


def test_valid_name_and_version():
    assert valid_name("org/model-1.5") and not valid_name("-x") and not valid_name("x\n") and not valid_name("a b")
    assert valid_version("1.0+rc1") and not valid_version("1/0") and not valid_version("1\n")


@pytest.mark.parametrize("text, out", [("Flan 2021 (CoT)", "flan-2021-cot"), ("  ", "unnamed"), ("a--b", "a-b"), ("Org/Name", "org/name")])
def test_slug(text, out):
    assert slug(text) == out


def test_relations_and_duties():
    assert "evaluated-on" in RELATIONS and "evaluated-on" not in PROPAGATING
    assert set(RELATIONS) == set(PROPAGATING) | {"evaluated-on"} and len(PROPAGATING) == 10
    assert "trained-with" in PROPAGATING and Edge("model/m@1", "compute/c@1", "trained-with").propagates
    assert DUTIES == ("attribution", "share-alike", "pass-on-restrictions", "naming", "notice")
    assert Edge("a", "b", "trained-on").propagates and not Edge("a", "b", "evaluated-on").propagates


def test_asset_json_round_trip_and_hash():
    a = Asset(id="model/m@1", kind="model", name="m", version="1", description="d", licenses=("MIT",),
              allow=("inference",), deny=("military",), duties=("attribution",),
              derived_from=(Edge("model/m@1", "dataset/d@1", "trained-on"), Edge("model/m@1", "dataset/b@1", "evaluated-on")),
              notes={"z": 1, "a": ["x"]})
    b = Asset.from_json(a.to_json())
    assert b == a and b.content_hash == a.content_hash and b.notes == a.notes
    assert a.parents == ("dataset/d@1",)
    assert a.content_hash.startswith("sha256:") and len(a.content_hash) == 7 + 64
    assert Asset.from_json({**a.to_json(), "notes": {"a": ["x"], "z": 1}}).canonical() == a.canonical()
    changed = Asset.from_json({**a.to_json(), "licenses": ["GPL-3.0"]})
    assert changed.content_hash != a.content_hash
    # pinned: the hash of this asset as every release since the first wrote it (a changed serialiser would break it)
    assert a.content_hash == "sha256:70325e4f4e6359f6491e2f6ef348b1240cfe903abb56720c557228876b2ea44e"


_text = st.text(max_size=12)  # any code point: quotes, backslashes, control characters, non-ASCII
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3), max_leaves=8)
_names = st.lists(_text, max_size=3).map(tuple)


@settings(max_examples=400, deadline=None)
@given(st.builds(Asset, id=_text, kind=_text, name=_text, version=_text, description=_text, licenses=_names,
                 allow=_names, deny=_names, duties=_names, attest=_names, public_key=_text,
                 derived_from=st.lists(st.builds(Edge, _text, _text, _text), max_size=3).map(tuple),
                 requires=st.lists(st.builds(Requirement, _text, _text, _text, st.none() | st.floats(allow_nan=False),
                                             st.none() | st.integers()), max_size=2).map(tuple),
                 notes=st.dictionaries(_text, _json, max_size=3), data=st.dictionaries(_text, _json, max_size=3)))
def test_canonical_is_the_sorted_compact_json_of_to_json(a):
    """Asset.canonical writes its fields one by one (fast); what it writes is exactly json.dumps's sorted text."""
    assert a.canonical() == json.dumps(a.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert a.canonical() == a.canonical()  # the second time from its memo of lists


def test_canonical_of_an_asset_built_with_lists():
    """Built in Python with lists where tuples belong: the same text as with tuples (lists are not memoised)."""
    a = Asset(id="model/m@1", kind="model", name="m", version="1", licenses=["MIT"], allow=["inference"], deny=[], duties=["notice"])
    b = Asset(id="model/m@1", kind="model", name="m", version="1", licenses=("MIT",), allow=("inference",), duties=("notice",))
    assert a.canonical() == b.canonical() == json.dumps(b.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_compute_kind_and_licence_free():
    from charter.core.assets import UNLICENSED_KINDS, licence_free
    from charter.core.ids import KINDS

    assert KINDS == ("dataset", "model", "application", "compute") and UNLICENSED_KINDS == ("compute",)
    assert licence_free("compute/c@1") and not licence_free("compute/c@1", ("MIT",))
    assert not licence_free("model/m@1") and not licence_free("dataset/computed@1")


def test_public_key_round_trips_and_is_absent_when_empty():
    key = "ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    c = Asset(id="compute/c@1", kind="compute", name="c", version="1", deny=("military",), public_key=key)
    assert c.to_json()["public_key"] == key and Asset.from_json(c.to_json()) == c
    m = Asset(id="model/m@1", kind="model", name="m", version="1")
    assert "public_key" not in m.to_json()  # older assets hash as before
    assert Asset.from_json(m.to_json()).public_key == ""
