"""Charter files: YAML and JSON, one asset / a list / {assets: [...]}, and precise errors."""

from __future__ import annotations

import textwrap

import pytest

from charter.core import charterfile
from charter.core import uses as uses_mod
from charter.core.assets import Edge
from charter.core.files import parse_text
from charter.errors import InvalidInput, UnknownUse

TAX = uses_mod.load()


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def load(tmp_path, name: str, text: str):
    return charterfile.load_file(write(tmp_path, name, text), TAX)


def fails(tmp_path, name: str, text: str, exc=InvalidInput):
    p = write(tmp_path, name, text)
    with pytest.raises(exc) as e:
        charterfile.load_file(p, TAX)
    return p, e.value


# --- accepted shapes -----------------------------------------------------------------------

FULL_YAML = """
id: model/org/llm-7b@1.0
description: |
  A model.
license: [Apache-2.0, CC-BY-4.0, Apache-2.0]
uses:
  allow: [inference, text-generation, inference]
  deny: military
duties: [attribution]
derived_from:
  - {asset: dataset/web@1, relation: trained-on}
  - {asset: dataset/bench@1, relation: evaluated-on}
  - {asset: dataset/web@1, relation: trained-on}
notes: {url: "https://example.org", released: 2024-05-01, tags: [a, b]}
"""


def test_single_yaml_asset_all_fields(tmp_path):
    (a,) = load(tmp_path, "m.yaml", FULL_YAML)
    assert (a.id, a.kind, a.name, a.version) == ("model/org/llm-7b@1.0", "model", "org/llm-7b", "1.0")
    assert a.description == "A model."
    assert a.licenses == ("Apache-2.0", "CC-BY-4.0")
    assert a.allow == ("inference", "text-generation")
    assert a.deny == ("military",)
    assert a.duties == ("attribution",)
    assert a.derived_from == (
        Edge("model/org/llm-7b@1.0", "dataset/web@1", "trained-on"),
        Edge("model/org/llm-7b@1.0", "dataset/bench@1", "evaluated-on"),
    )
    assert a.parents == ("dataset/web@1",)
    assert a.notes == {"url": "https://example.org", "released": "2024-05-01", "tags": ["a", "b"]}
    assert type(a.notes) is dict
    a.canonical()  # serialisable


def test_same_asset_from_json(tmp_path):
    (y,) = load(tmp_path, "m.yaml", FULL_YAML)
    json_text = """
    {
      "id": "model/org/llm-7b@1.0",
      "description": "A model.\\n",
      "license": ["Apache-2.0", "CC-BY-4.0"],
      "uses": {"allow": ["inference", "text-generation"], "deny": ["military"]},
      "duties": ["attribution"],
      "derived_from": [
        {"asset": "dataset/web@1", "relation": "trained-on"},
        {"asset": "dataset/bench@1", "relation": "evaluated-on"}
      ],
      "notes": {"url": "https://example.org", "released": "2024-05-01", "tags": ["a", "b"]}
    }
    """
    (j,) = load(tmp_path, "m.json", json_text)
    assert j == y and j.content_hash == y.content_hash


def test_tab_indented_json(tmp_path):
    (a,) = load(tmp_path, "t.json", '{\n\t"id": "model/x@1",\n\t"license": "MIT",\n\t"uses": {\n\t\t"deny": ["military"]\n\t}\n}\n')
    assert a.id == "model/x@1" and a.deny == ("military",)


def test_kind_name_version_fields(tmp_path):
    (a,) = load(tmp_path, "d.yaml", "kind: dataset\nname: web\nversion: 2\n")
    assert a.id == "dataset/web@2"


@pytest.mark.parametrize("written, version", [("1.10", "1.10"), ("2.0", "2.0"), ("1", "1"), ("'1.10'", "1.10"), ("2024-01-01", "2024-01-01")])
def test_version_kept_as_written(tmp_path, written, version):
    (a,) = load(tmp_path, "d.yaml", f"kind: model\nname: m\nversion: {written}\n")
    assert a.version == version and a.id == f"model/m@{version}"


def test_version_kept_as_written_in_json(tmp_path):
    (a,) = load(tmp_path, "d.json", '{"kind": "model", "name": "m", "version": 1.10}')
    assert a.id == "model/m@1.10"


def test_id_with_agreeing_fields(tmp_path):
    (a,) = load(tmp_path, "d.yaml", "id: model/m@3\nkind: model\nname: m\nversion: 3\n")
    assert a.id == "model/m@3"


def test_list_of_assets(tmp_path):
    assets = load(tmp_path, "l.yaml", """
        - id: dataset/d@1
          license: CC-BY-NC-4.0
        - id: model/m@1
          derived_from: [{asset: dataset/d@1, relation: trained-on}]
        """)
    assert [a.id for a in assets] == ["dataset/d@1", "model/m@1"]
    assert assets[0].licenses == ("CC-BY-NC-4.0",) and assets[1].licenses == ()


def test_assets_key(tmp_path):
    assets = load(tmp_path, "a.yaml", "assets:\n  - {id: dataset/d@1}\n  - {id: dataset/d@2}\n")
    assert [a.id for a in assets] == ["dataset/d@1", "dataset/d@2"]


@pytest.mark.parametrize("text", [
    '{"id": "dataset/d@1"}',
    '[{"id": "dataset/d@1"}]',
    '{"assets": [{"id": "dataset/d@1"}]}',
])
def test_json_shapes(tmp_path, text):
    (a,) = load(tmp_path, "d.json", text)
    assert a.id == "dataset/d@1"


def test_license_forms(tmp_path):
    (a,) = load(tmp_path, "a.yaml", "id: dataset/d@1\nlicense: CC BY-NC 4.0\n")
    assert a.licenses == ("CC BY-NC 4.0",)  # kept as written; the licence table resolves it
    (b,) = load(tmp_path, "b.yaml", "id: dataset/d@1\nlicense: ''\n")
    assert b.licenses == ()
    (c,) = load(tmp_path, "c.yaml", "id: dataset/d@1\nlicense: ['  MIT ', MIT]\n")
    assert c.licenses == ("MIT",)


def test_parse_document_with_plain_dicts():
    (a,) = charterfile.parse_document({"id": "model/m@1", "uses": {"deny": ["military"]}}, "inline", TAX)
    assert a.deny == ("military",)
    with pytest.raises(UnknownUse) as e:
        charterfile.parse_document({"id": "model/m@1", "uses": {"deny": ["militar"]}}, "inline", TAX)
    assert e.value.where == "inline" and e.value.field == "uses.deny[0]"


# --- errors: each names file:line and the field --------------------------------------------

def test_malformed_yaml(tmp_path):
    p, e = fails(tmp_path, "bad.yaml", "id: model/x@1\nlicense: MIT\n  uses: x\n")
    assert e.where == f"{p}:3"
    assert "malformed YAML" in e.message and e.hint


def test_malformed_yaml_unclosed_flow(tmp_path):
    p, e = fails(tmp_path, "bad.yaml", "id: model/x@1\nuses: {deny: [military}\n")
    assert e.where == f"{p}:2" and "malformed YAML" in e.message


def test_malformed_json_missing_comma(tmp_path):
    p, e = fails(tmp_path, "bad.json", '{\n  "id": "model/x@1"\n  "license": "MIT"\n}\n')
    assert e.where == f"{p}:3"
    assert "malformed JSON" in e.message and e.hint


def test_malformed_json_trailing_comma(tmp_path):
    p, e = fails(tmp_path, "bad.json", '{\n  "id": "model/x@1",\n  "license": "MIT",\n}\n')
    assert e.where == f"{p}:4" and "malformed JSON" in e.message


def test_json_that_is_not_strict_json(tmp_path):
    """A .json file is checked as JSON, even though YAML would accept it."""
    p, e = fails(tmp_path, "bad.json", "id: model/x@1\n")
    assert "malformed JSON" in e.message and e.where == f"{p}:1"


def test_unknown_field_did_you_mean(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nlicence: MIT\n")
    assert (e.where, e.field) == (f"{p}:2", "licence")
    assert e.message == "unknown field 'licence'"
    assert e.hint == "did you mean 'license'?"


def test_unknown_field_in_second_asset(tmp_path):
    p, e = fails(tmp_path, "a.yaml", """
        - id: dataset/d@1
        - id: model/m@1
          license: MIT
          derived_form: []
        """)
    assert (e.where, e.field) == (f"{p}:4", "assets[1].derived_form")
    assert e.hint == "did you mean 'derived_from'?"


def test_unknown_field_in_json(tmp_path):
    p, e = fails(tmp_path, "a.json", '{\n  "id": "model/x@1",\n  "licenses": ["MIT"]\n}\n')
    assert (e.where, e.field) == (f"{p}:3", "licenses")
    assert e.hint == "did you mean 'license'?"


def test_unknown_use_did_you_mean(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nlicense: MIT\nuses:\n  deny: [face-recogniton]\n", UnknownUse)
    assert isinstance(e, InvalidInput)
    assert (e.where, e.field) == (f"{p}:4", "uses.deny[0]")
    assert e.message == "unknown use 'face-recogniton'"
    assert e.hint == "did you mean 'face-recognition'?"


def test_unknown_use_second_in_allow_list(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nuses: {allow: [inference, fine-tunning]}\n", UnknownUse)
    assert (e.where, e.field) == (f"{p}:2", "uses.allow[1]")
    assert e.hint == "did you mean 'fine-tuning'?"


def test_unknown_use_in_json(tmp_path):
    p, e = fails(tmp_path, "a.json", '{"assets": [\n  {"id": "model/x@1"},\n  {"id": "model/y@1",\n   "uses": {"deny": ["comercial"]}}\n]}\n', UnknownUse)
    assert (e.where, e.field) == (f"{p}:4", "assets[1].uses.deny[0]")
    assert e.hint == "did you mean 'commercial'?"


@pytest.mark.parametrize("bad_id, words", [
    ("model/x", "not an asset id"),
    ("model/x@", "not an asset id"),
    ("x@1", "not an asset id"),
    ("model/ x@1", "not an asset id"),
    ("robot/x@1", "unknown kind 'robot'"),
])
def test_bad_id(tmp_path, bad_id, words):
    p, e = fails(tmp_path, "a.yaml", f"license: MIT\nid: '{bad_id}'\n")
    assert (e.where, e.field) == (f"{p}:2", "id")
    assert words in e.message and e.hint


def test_id_with_trailing_newline_is_rejected(tmp_path):
    _, e = fails(tmp_path, "a.yaml", 'id: "model/x@1\\n"\n')
    assert e.field == "id"


def test_unknown_kind_field(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "kind: modle\nname: x\nversion: 1\n")
    assert (e.where, e.field) == (f"{p}:1", "kind")
    assert e.hint == "did you mean 'model'?"


@pytest.mark.parametrize("field, value", [("name", "'bad name'"), ("version", "'1 0'"), ("version", "|\n  1\n")])
def test_invalid_name_or_version(tmp_path, field, value):
    fields = {"kind": "model", "name": "x", "version": "1", field: value}
    p, e = fails(tmp_path, "a.yaml", "".join(f"{k}: {v}\n" for k, v in fields.items()))
    assert e.field == field and e.where == f"{p}:{list(fields).index(field) + 1}"


def test_missing_identity(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "kind: model\nname: x\n")
    assert e.message == "missing field 'version'" and e.field == "id" and e.where == f"{p}:1"


def test_id_disagrees_with_field(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nversion: 2\n")
    assert (e.where, e.field) == (f"{p}:2", "version") and "disagrees" in e.message


@pytest.mark.parametrize("name, text", [("a.yaml", "id: model/x@1.10\nversion: 1.10\n"),
                                        ("a.json", '{"id": "model/x@1.10", "version": 1.10}'),
                                        ("b.json", '[{"id": "model/x@1.10", "version": 1.10}, {"id": "model/y@2", "version": 2}]')])
def test_a_version_written_as_a_number_is_read_as_written(tmp_path, name, text):
    """version: 1.10 is a float to YAML and JSON; the id check and the asset read it as written, "1.10"."""
    (a, *_) = charterfile.load_file(write(tmp_path, name, text), TAX)
    assert a.version == "1.10" and a.id == "model/x@1.10"
    p, e = fails(tmp_path, "c.yaml", "id: model/x@1.1\nversion: 1.10\n")
    assert e.message == "version '1.10' disagrees with id 'model/x@1.1'" and e.where == f"{p}:2"


def test_unknown_relation(tmp_path):
    p, e = fails(tmp_path, "a.yaml", """
        id: model/m@1
        derived_from:
          - asset: dataset/d@1
            relation: trained-by
        """)
    assert (e.where, e.field) == (f"{p}:4", "derived_from[0].relation")
    assert e.message == "unknown relation 'trained-by'"
    assert e.hint == "did you mean 'trained-on'?"


def test_unknown_relation_in_second_asset(tmp_path):
    p, e = fails(tmp_path, "a.yaml", """
        - id: model/x@1
        - id: model/y@1
          license: MIT
          derived_from:
            - {asset: model/x@1, relation: quantised-from}
        """)
    assert (e.where, e.field) == (f"{p}:5", "assets[1].derived_from[0].relation")
    assert e.hint == "did you mean 'quantized-from'?"


def test_unknown_duty(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nlicense: MIT\nduties: [attribution, share-alkie]\n")
    assert (e.where, e.field) == (f"{p}:3", "duties[1]")
    assert e.message == "unknown duty 'share-alkie'" and e.hint == "did you mean 'share-alike'?"


def test_duplicate_key(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nlicense: MIT\nlicense: GPL-3.0\n")
    assert (e.where, e.field) == (f"{p}:3", "license")
    assert e.message == "duplicate key 'license'"


def test_duplicate_nested_key(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nuses:\n  deny: [military]\n  allow: [inference]\n  deny: [surveillance]\n")
    assert (e.where, e.field) == (f"{p}:5", "deny")


def test_duplicate_key_in_json(tmp_path):
    p, e = fails(tmp_path, "a.json", '{"id": "model/x@1",\n "license": "MIT",\n "id": "model/y@1"}\n')
    assert (e.where, e.field) == (f"{p}:3", "id")


def test_duplicate_asset_in_one_file(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "- id: model/x@1\n- id: model/y@1\n- id: model/x@1\n")
    assert (e.where, e.field) == (f"{p}:3", "id") and "twice" in e.message


@pytest.mark.parametrize("text, field, line", [
    ("id: model/x@1\nuses: [inference]\n", "uses", 2),
    ("id: model/x@1\nuses:\n  permit: [inference]\n", "uses.permit", 3),
    ("id: model/x@1\nlicense: {name: MIT}\n", "license", 2),
    ("id: model/x@1\nuses: {deny: [1, 2]}\n", "uses.deny", 2),
    ("id: model/x@1\nderived_from: {asset: dataset/d@1}\n", "derived_from", 2),
    ("id: model/x@1\nderived_from:\n  - {asset: dataset/d@1}\n", "derived_from[0]", 2),
    ("id: model/x@1\nderived_from:\n  - {asset: dataset/d@1, relation: trained-on, via: x}\n", "derived_from[0].via", 3),
    ("id: model/x@1\nderived_from:\n  - {asset: dataset/d, relation: trained-on}\n", "derived_from[0].asset", 3),
    ("id: model/x@1\nderived_from:\n  - {asset: model/x@1, relation: fine-tuned-from}\n", "derived_from[0].asset", 3),
    ("id: model/x@1\nnotes: [a]\n", "notes", 2),
    ("id: model/x@1\ndescription: [a]\n", "description", 2),
    ("assets: [{id: model/x@1}]\nextra: 1\n", "extra", 2),
    ("- id: model/x@1\n- just a string\n", "assets[1]", None),
])
def test_shape_errors(tmp_path, text, field, line):
    p, e = fails(tmp_path, "a.yaml", text)
    assert e.field == field
    assert e.where == (f"{p}:{line}" if line else str(p))
    assert e.hint


@pytest.mark.parametrize("text", ["", "# nothing\n", "[]\n", "assets: []\n", "42\n"])
def test_no_assets(tmp_path, text):
    p, e = fails(tmp_path, "a.yaml", text)
    assert e.where == str(p)


def test_file_not_found(tmp_path):
    with pytest.raises(InvalidInput) as e:
        charterfile.load_file(tmp_path / "nope.yaml", TAX)
    assert e.value.where == str(tmp_path / "nope.yaml") and "not found" in e.value.message


def test_not_utf8(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_bytes(b"id: model/x@1\ndescription: \xff\xfe\n")
    with pytest.raises(InvalidInput) as e:
        charterfile.load_file(p, TAX)
    assert e.value.where == str(p)


def test_error_oneline_and_json(tmp_path):
    p, e = fails(tmp_path, "a.yaml", "id: model/x@1\nlicence: MIT\n")
    assert str(e) == f"{p}:2: licence: unknown field 'licence' (fix: did you mean 'license'?)"
    assert e.to_json() == {"error": "invalid-input", "message": "unknown field 'licence'", "where": f"{p}:2",
                           "field": "licence", "hint": "did you mean 'license'?"}
    assert e.exit_code == 1


def test_parse_text_keeps_lines():
    doc = parse_text("a: 1\nb:\n  c: 2\n", "x.yaml")
    assert doc.line_of("b") == 2 and doc["b"].line_of("c") == 3
    assert doc == {"a": 1, "b": {"c": 2}}


# === data files are what the charter names (issue 12, section 2) ==================================

def _dataset(tmp_path, data: str, name: str = "c.yaml"):
    from charter.core.charterfile import load_file

    (tmp_path / name).write_text(f"id: dataset/d@1\nlicense: CC0-1.0\ndata: {data}\n")
    return lambda **kw: load_file(tmp_path / name, TAX, **kw)


def test_a_bracket_in_a_file_name_is_read_literally(tmp_path):
    """`b[1].parquet` used to be a glob that matched b1.parquet."""
    (tmp_path / "b1.parquet").write_bytes(b"other")
    (tmp_path / "b[1].parquet").write_bytes(b"named")
    (a,) = _dataset(tmp_path, '["b[1].parquet"]')()
    assert a.data["files"] == [(tmp_path / "b[1].parquet").as_posix()]
    assert [(d["path"], d["bytes"]) for d in a.data["digests"]] == [((tmp_path / "b[1].parquet").as_posix(), 5)]


def test_glob_only_where_the_charter_says_so(tmp_path):
    (tmp_path / "s").mkdir()
    for n in ("b.jsonl", "a.jsonl"):
        (tmp_path / "s" / n).write_text('{"text": "x"}\n')
    with pytest.raises(InvalidInput) as e:
        _dataset(tmp_path, '["s/*.jsonl"]')()
    assert "no file 's/*.jsonl'" in e.value.message and e.value.where.endswith("c.yaml:3")
    (a,) = _dataset(tmp_path, "{glob: s/*.jsonl}")()
    assert [p.rsplit("/", 1)[1] for p in a.data["files"]] == ["a.jsonl", "b.jsonl"] and len(a.data["digests"]) == 2


def test_data_outside_the_root_is_refused(tmp_path):
    (tmp_path / "outside.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "link.jsonl").symlink_to(tmp_path / "outside.jsonl")
    for data in ('["../outside.jsonl"]', '["link.jsonl"]', f'["{tmp_path / "outside.jsonl"}"]'):
        with pytest.raises(InvalidInput) as e:
            _dataset(tmp_path / "c", data)()
        assert "outside the data root" in e.value.message and "--data-root" in e.value.hint
    (a,) = _dataset(tmp_path / "c", '["../outside.jsonl"]')(data_root=tmp_path)  # widened on purpose
    assert a.data["files"] == [(tmp_path / "outside.jsonl").as_posix()]


# --- compute (volunteer machines) ------------------------------------------------------------

KEY = "ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="  # the public key of the private key bytes(range(32))

COMPUTE = f"""
id: compute/alice-workstation@1
description: Alice's workstation.
uses: {{deny: [military, surveillance]}}
public_key: "{KEY}"
notes: {{owner: Alice}}
"""


def test_compute_charter_without_a_licence(tmp_path):
    (c,) = load(tmp_path, "c.yaml", COMPUTE)
    assert (c.id, c.kind, c.name, c.version) == ("compute/alice-workstation@1", "compute", "alice-workstation", "1")
    assert c.licenses == () and c.deny == ("military", "surveillance") and c.allow == ()
    assert c.public_key == KEY and c.notes == {"owner": "Alice"} and c.derived_from == ()
    assert c.to_json()["public_key"] == KEY


def test_public_key_is_the_raw_ed25519_key(tmp_path):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert "ed25519:" + base64.b64encode(raw).decode() == KEY
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    text = "ed25519:" + base64.b64encode(key).decode()
    (c,) = load(tmp_path, "c.yaml", f"{{id: compute/x@1, public_key: '{text}'}}")
    assert c.public_key == text


@pytest.mark.parametrize("key, says", [
    ("rsa:AAAA", "does not start with 'ed25519:'"),
    ("42", "does not start with 'ed25519:'"),
    ("ed25519:not base64!", "is not valid base64"),
    (KEY.rstrip("="), "is not valid base64"),  # unpadded
    ("ed25519:" + "A" * 42 + "==", "is 31 bytes, an Ed25519 key is 32"),
    ("ed25519:" + "A" * 44, "is 33 bytes, an Ed25519 key is 32"),
])
def test_bad_public_key_is_one_line_naming_file_line_and_fix(tmp_path, key, says):
    p, e = fails(tmp_path, "c.yaml", f"""
        id: compute/x@1
        uses: {{deny: [military]}}
        public_key: {key}
    """)
    assert e.where == f"{p}:3" and e.field == "public_key" and says in e.message
    line = e.oneline()
    assert "\n" not in line and line.startswith(f"{p}:3: public_key: ") and "(fix: write public_key: ed25519:<base64" in line


def test_compute_needs_a_key_and_only_compute_has_one(tmp_path):
    p, e = fails(tmp_path, "c.yaml", "id: compute/x@1\nuses: {deny: [military]}\n")
    assert (e.where, e.field) == (f"{p}:1", "public_key") and "needs 'public_key'" in e.message and "ed25519:" in e.hint
    p, e = fails(tmp_path, "m.yaml", f"id: model/m@1\npublic_key: '{KEY}'\n")
    assert (e.where, e.field) == (f"{p}:2", "public_key") and "only compute assets" in e.message


def test_trained_with_links_models_to_compute_only(tmp_path):
    (m,) = load(tmp_path, "m.yaml", """
        id: model/m@1
        license: MIT
        derived_from: [{asset: compute/alice-workstation@1, relation: trained-with}]
        notes: {contributors: [{compute: compute/alice-workstation@1, samples: 1200, steps: 40}]}
    """)
    assert m.derived_from == (Edge("model/m@1", "compute/alice-workstation@1", "trained-with"),)
    assert m.parents == ("compute/alice-workstation@1",)
    assert m.notes["contributors"] == [{"compute": "compute/alice-workstation@1", "samples": 1200, "steps": 40}]
    p, e = fails(tmp_path, "a.yaml", "id: model/m@1\nderived_from: [{asset: dataset/d@1, relation: trained-with}]\n")
    assert e.field == "derived_from[0].asset" and "trained-with names a compute asset" in e.message
    p, e = fails(tmp_path, "b.yaml", "id: model/m@1\nderived_from: [{asset: compute/c@1, relation: trained-on}]\n")
    assert e.field == "derived_from[0].relation" and "write relation: trained-with" in e.hint
    p, e = fails(tmp_path, "c.yaml", f"id: compute/c@2\npublic_key: '{KEY}'\nderived_from: [{{asset: compute/c@1, relation: trained-with}}]\n")
    assert (e.where, e.field) == (f"{p}:3", "derived_from") and "derives from nothing" in e.message


@pytest.mark.parametrize("contributors, field, says", [
    ("{compute: compute/c@1}", "notes.contributors", "must be a list"),
    ("[{samples: 3}]", "notes.contributors[0]", "needs 'compute'"),
    ("[{compute: compute/other@1}]", "notes.contributors[0].compute", "not a trained-with parent"),
    ("[{compute: compute/c@1, samples: -1}]", "notes.contributors[0].samples", "must be a count"),
    ("[{compute: compute/c@1, steps: 2.5}]", "notes.contributors[0].steps", "must be a count"),
    ("[{compute: compute/c@1, sample: 3}]", "notes.contributors[0].sample", "unknown field"),
    ("[{compute: compute/c@1}, {compute: compute/c@1}]", "notes.contributors[1].compute", "listed twice"),
])
def test_bad_contributors(tmp_path, contributors, field, says):
    p, e = fails(tmp_path, "m.yaml", f"""
        id: model/m@1
        derived_from: [{{asset: compute/c@1, relation: trained-with}}]
        notes:
          contributors: {contributors}
    """)
    assert e.field == field and says in e.message and e.where.startswith(f"{p}:")
