"""Scoring a benchmark's items with a fake model, request by request."""

from __future__ import annotations


def outputs(mod, items, lm) -> list:
    return [getattr(lm, kind)([args])[0] for kind, args in mod.requests(items)]


def value(metrics: dict, name: str, group: str | None = None):
    m = metrics[name]
    return m["value"] if group is None else m["groups"][group]["value"]
