"""Licence strings read from import inputs, and their coverage by the table (charter licenses coverage)."""

from __future__ import annotations

from collections import Counter

import pytest

from charter.errors import InvalidInput
from charter.imports import licence_strings
from tests.imports.conftest import DPI, needs_dpi


def test_each_input_kind(tmp_path):
    (tmp_path / "list.txt").write_text("# hub ids\nmit\n\napache-2.0  # trailing comment\n")
    (tmp_path / "README.md").write_text("---\nlicense: other\nlicense_name: acme-licence\n---\n# Card\n")
    (tmp_path / "card2.md").write_text("---\nlicense: [mit, llama3.2]\n---\n")
    (tmp_path / "s.json").write_text('{"d1": {"Licenses": [{"License": "CC BY 4.0", "License URL": "u"}], '
                                     '"Inferred Metadata": {"GitHub License": "MIT License", "HF Yaml License": ""}}}')
    (tmp_path / "_template.json").write_text('{"d": {"Licenses": [{"License": "template text"}]}}')
    (tmp_path / "c.yaml").write_text("- id: dataset/a@1\n  license: CC0-1.0\n- id: dataset/b@1\n  license: [MIT, Zlib]\n")
    (tmp_path / "notes.md").write_text("# no front matter: not a card, skipped in a folder\n")
    found, files = licence_strings.read([tmp_path, tmp_path / "list.txt"])
    assert files == 5  # the folder's README.md, card2.md, s.json, c.yaml (not _template, notes.md, list.txt) + the named list
    assert found == Counter({"mit": 2, "apache-2.0": 1, "acme-licence": 1, "llama3.2": 1, "CC BY 4.0": 1, "MIT License": 1,
                             "CC0-1.0": 1, "MIT": 1, "Zlib": 1})


def test_missing_and_unreadable_inputs_name_the_file(tmp_path):
    with pytest.raises(InvalidInput, match="file not found"):
        licence_strings.read([tmp_path / "nope.json"])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInput) as e:
        licence_strings.read([tmp_path / "bad.json"])
    assert "bad.json" in e.value.oneline() and "cannot read JSON" in e.value.oneline()


def test_coverage_sorts_strings_by_where_their_terms_come_from(table):
    cov = licence_strings.coverage(table, Counter({"mit": 3, "MIT OR Apache-2.0": 1, "BUSL-1.1": 2, "acme-x": 1, "acme-y OR MIT": 1}))
    assert cov.table == {"mit": "MIT", "MIT OR Apache-2.0": "MIT OR Apache-2.0"}
    assert cov.category == {"BUSL-1.1": "Source-available"}
    assert cov.unknown == {"acme-x": ["acme-x"], "acme-y OR MIT": ["acme-y"]}
    assert cov.share("table", "category") == pytest.approx(3 / 5)
    j = cov.to_json()
    assert (j["distinct"], j["occurrences"], j["known"], j["from_category"], j["unknown"]) == (5, 8, 2, 1, 2)


@needs_dpi
def test_the_data_provenance_summaries_are_at_least_95_percent_known_or_categorised(table, capsys):
    found, files = licence_strings.read([DPI])
    cov = licence_strings.coverage(table, found)
    print(f"DPI: {cov.distinct} distinct licence strings in {files} files; {len(cov.table)} known, {len(cov.category)} from a category, "
          f"{len(cov.unknown)} unknown ({100 * cov.share('table', 'category'):.1f}% known or categorised): {sorted(cov.unknown)}")
    assert files > 100 and cov.distinct > 40
    assert cov.share("table", "category") >= 0.95
