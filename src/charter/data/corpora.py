"""Real text that ships with the software, for adaptations whose effect can be measured and seen.

The Python Language Reference: CPython's ``pydoc_data.topics`` holds the reference's sections as plain
text (what ``help("with")`` prints), under the Python Software Foundation License 2.0 like the rest of
the distribution. Every ``HELDOUT_EVERY``-th topic (sorted) is held out: never trained on, so a held-out
loss measures what an adaptation learnt about the text's style and subject, not what it memorised.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

HELDOUT_EVERY = 10
LICENSE = "PSF-2.0"


def python_reference() -> dict[str, str]:
    from pydoc_data.topics import topics

    return {k: topics[k] for k in sorted(topics)}


def write_python_reference(folder: Path, version: str = "1") -> Path:
    """``folder``/train.jsonl, heldout.jsonl and python-reference.yaml (the two datasets' charters, naming
    their files relative to itself, as charter files are read: wherever ``folder`` is); returns the charter file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    topics = list(python_reference().items())
    held = {k for i, (k, _) in enumerate(topics) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1}
    for name, keep in (("train", lambda k: k not in held), ("heldout", lambda k: k in held)):
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for k, text in topics:
                if keep(k):
                    f.write(json.dumps({"id": k, "text": text}, ensure_ascii=False) + "\n")
    py = platform.python_version()
    src = f"pydoc_data.topics of CPython {py} (the Python Language Reference as plain text)"
    charter = folder / "python-reference.yaml"
    charter.write_text(f"""\
assets:
  - id: dataset/python-reference@{version}
    description: "{len(topics) - len(held)} sections of the Python Language Reference, from {src}"
    license: {LICENSE}
    notes: {{source: "https://docs.python.org/{py.rsplit('.', 1)[0]}/reference/", held_out: {sorted(held)}}}
    data: {{files: [train.jsonl], fields: {{text: text}}}}
  - id: dataset/python-reference-heldout@{version}
    description: "{len(held)} held-out sections of the Python Language Reference (every {HELDOUT_EVERY}th topic), never trained on"
    license: {LICENSE}
    notes: {{source: "https://docs.python.org/{py.rsplit('.', 1)[0]}/reference/"}}
    data: {{files: [heldout.jsonl], fields: {{text: text}}}}
""", encoding="utf-8")
    return charter
