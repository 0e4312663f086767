"""Asset ids: ``kind/name@version``. The name may contain ``/`` (``org/model``)."""

from __future__ import annotations

import re

from charter.errors import InvalidInput

KINDS = ("dataset", "model", "application", "compute")
"""``compute`` is a volunteer's machine lent to training: it has a charter (its owner's terms) and a
key, no licence (core/assets.py UNLICENSED_KINDS) and no lineage of its own."""
_NAME = r"[A-Za-z0-9][A-Za-z0-9._+/-]*"
_VERSION = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
_ID = re.compile(rf"^(?P<kind>[a-z]+)/(?P<name>{_NAME})@(?P<version>{_VERSION})$")
_NAME_RE = re.compile(rf"^{_NAME}$")
_VERSION_RE = re.compile(rf"^{_VERSION}$")


def parse_id(text: str, *, where: str = "", field: str = "id") -> tuple[str, str, str]:
    """Split ``kind/name@version``; raise InvalidInput naming the field on failure."""
    m = _ID.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise InvalidInput(
            f"{text!r} is not an asset id",
            hint="write ids as kind/name@version, e.g. model/smollm2-135m@1",
            where=where,
            field=field,
        )
    if m["kind"] not in KINDS:
        raise InvalidInput(
            f"unknown kind {m['kind']!r} in {text!r}",
            hint=f"kind is one of {', '.join(KINDS)}",
            where=where,
            field=field,
        )
    return m["kind"], m["name"], m["version"]


def make_id(kind: str, name: str, version: str) -> str:
    return f"{kind}/{name}@{version}"


def valid_name(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))


def valid_version(version: str) -> bool:
    return bool(_VERSION_RE.fullmatch(version))


def slug(text: str) -> str:
    """A name-safe slug of free text (for importers): 'Flan 2021 (CoT)' -> 'flan-2021-cot'."""
    s = re.sub(r"[^A-Za-z0-9._+/-]+", "-", text.strip()).strip("-./+").lower()
    s = re.sub(r"-{2,}", "-", s)
    return s or "unnamed"
