"""Schemathesis over the gateway's OpenAPI schema: requests generated from it, valid (positive) and
invalid (negative), with a valid key so that valid ones reach the model; not one may get a 5xx.

(Driven through each operation's hypothesis strategy: schemathesis' pytest loader for fixtures,
``schemathesis.pytest.from_fixture``, does not run under pytest 9.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.serve.conftest import MODEL, TRANSLATE

EXAMPLES = {GenerationMode.POSITIVE: 60, GenerationMode.NEGATIVE: 60}


@pytest.fixture
def api_schema(make_app):
    return schemathesis.openapi.from_asgi("/openapi.json", make_app(max_tokens=8, max_prompt_tokens=64, max_prompt_chars=2000))


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=str)
def test_no_server_errors(api_schema, world, reg, mode):
    headers = {"Authorization": f"Bearer {world.keys[TRANSLATE]}"}
    seen: dict[str, set[int]] = {}
    ops = [r.ok() for r in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in ops} >= {"GET /v1/models", "POST /v1/completions", "POST /v1/chat/completions"}
    for op in ops:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
        def call(case):
            if mode == GenerationMode.POSITIVE and isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = MODEL  # a served model, so that valid requests reach it (any other name is a 404)
                (case.headers or {}).pop("X-Charter-Uses", None)  # and the declared uses (random use ids are a 400)
            r = case.call(headers={**(case.headers or {}), **headers})
            seen.setdefault(f"{op.method.upper()} {op.path}", set()).add(r.status_code)
            assert r.status_code < 500, f"{case.method} {case.path} {case.body!r}: {r.status_code} {r.text[:500]}"

        call()
    codes = set().union(*seen.values())
    assert all(c < 500 for c in codes)
    if mode == GenerationMode.POSITIVE:
        assert 200 in seen["POST /v1/completions"] and 200 in seen["POST /v1/chat/completions"]
    else:
        assert codes & {400, 422}
    assert len(reg.store.audit_entries()) >= sum(1 for _ in seen)  # audited
