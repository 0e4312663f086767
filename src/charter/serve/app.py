"""The gateway as a FastAPI application: OpenAI-compatible routes (``/v1/models``,
``/v1/completions``, ``/v1/chat/completions``, streaming as server-sent events), each request
authenticated by its key, decided for its application (gate.py), audited (audit.py), and only then
given to the model (engine.py).

Audit records go through ``audit.AuditWriter`` (a thread, group commit); a handler awaits its record's
commit before it answers, so the event loop never waits on the disk and no answer leaves unrecorded.
A stream is recorded when it starts (before its first byte) and when it ends. Requests without a valid
key are rate-limited per client address; the 429s beyond that are counted per address and written
as one aggregate record per address every ``SUPPRESSED_EVERY`` seconds (bounded: ``SUPPRESSED_CLIENTS``).

Error bodies are OpenAI's, ``{"error": {"message", "type", "code", "param"}}``, with the decision
(its reasons and their lineage paths) under ``error.charter`` for 403 and 451.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import itertools
import json
import os
import re
import secrets
import threading
import time
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Literal, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from charter import __version__
from charter.errors import CharterError
from charter.registry import Registry
from charter.serve import audit
from charter.serve.engine import Engine, Generation, PromptError
from charter.serve.gate import USES_HEADER, Gate, Verdict
from charter.serve.limits import Concurrency, Limits, retry_after
from charter.store.base import now

# request ids: a random prefix per process and a counter (uuid4 per request read os.urandom each time: ~3% of a refusal)
_PROCESS_ID = secrets.token_hex(6)
_REQUESTS = itertools.count(1)

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_denied", 404: "not_found_error",
               413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
               451: "unavailable_for_legal_reasons", 500: "server_error", 503: "overloaded_error"}
USES_DOC = "narrow the application's declared uses for this request (comma-separated use ids, each covered by a declared use)"
MAX_TEXT = 1_000_000  # characters in any one string field (the configured limits are usually far lower)
SUPPRESSED_EVERY = 10.0  # seconds between aggregate records of keyless 429s
SUPPRESSED_CLIENTS = 100  # addresses with an aggregate record of their own per period; the rest share one (client null)
TOKEN_DELAY_ENV = "CHARTER_GATEWAY_TEST_TOKEN_DELAY"  # test hook: seconds to wait per generated token of a stream

# --- request bodies (OpenAI's; unknown fields are ignored) -------------------------------------

Text = Annotated[str, Field(max_length=MAX_TEXT)]
Stop = Annotated[str, Field(max_length=256)]


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=512, description="a served model: its id (GET /v1/models), kind/name or name")
    max_tokens: int | None = Field(None, ge=0, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    n: int | None = Field(None, ge=1, le=4)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    stop: Stop | Annotated[list[Stop], Field(max_length=4)] | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    user: str | None = Field(None, max_length=512)


class CompletionRequest(_Common):
    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=8)]


class TextPart(BaseModel):
    type: Literal["text"]
    text: Text


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | Annotated[list[TextPart], Field(max_length=64)] | None = None
    name: str | None = Field(None, max_length=256)

    def text(self) -> str:
        if self.content is None:
            return ""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatRequest(_Common):
    messages: Annotated[list[Message], Field(min_length=1, max_length=256)]
    max_completion_tokens: int | None = Field(None, ge=0, le=1_000_000)


class ConsentWithdrawal(BaseModel):
    owner: str = Field(min_length=1, max_length=256, description="the data contributor's owner id (the token's own)")
    reason: str = Field(min_length=1, max_length=2000)


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    charter: dict | None = Field(None, description="the decision: application, model, uses, allowed, reasons (each with its lineage path)")


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS = {s: {"model": ErrorBody, "description": d} for s, d in (
    (400, "malformed request"), (401, "missing or unknown API key"), (403, "denied by the charter (reasons and chain in error.charter)"),
    (404, "model not served"), (413, "body too large"), (422, "a field is invalid (error.param names it)"), (429, "rate limited (Retry-After)"),
    (451, "withdrawn: the application, the model or something upstream (reason and chain in error.charter)"),
    (503, "too many concurrent requests (Retry-After)"))}


def error_body(status: int, message: str, code: str | None, param: str | None = None, charter: dict | None = None) -> dict:
    err = {"message": message, "type": ERROR_TYPES.get(status, "error"), "code": code, "param": param}
    if charter is not None:
        err["charter"] = charter
    return {"error": err}


@dataclass(slots=True)
class Call:
    """One request as the gateway sees it, passed whole from its route to the decision, the audit record
    and the answer: where it came from, what it asked, when it started."""

    endpoint: str  # completions | chat.completions | models | a path
    client: str | None  # the peer's address (proxy headers are not trusted)
    authorization: str | None = None
    uses_header: str | None = None
    stream: bool = False
    request_id: str | None = None
    t0: float = field(default_factory=time.perf_counter)
    ts: str = field(default_factory=now)

    @classmethod
    def of(cls, request: Request, endpoint: str | None = None) -> "Call":
        h = request.headers
        return cls(endpoint or _endpoint(request.url.path), request.client.host if request.client else None,
                   h.get("authorization"), h.get(USES_HEADER))


class Answer(Response):
    """A JSON answer, encoded as Starlette's JSONResponse encodes it, with its headers built directly (the
    generic header machinery cost a refusal more than its decision)."""

    media_type = "application/json"

    def __init__(self, content, status: int = 200, headers: dict | None = None, *, body: bytes | None = None):
        self.status_code, self.background = status, None
        self.body = _json_bytes(content) if body is None else body
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []
        raw += ((b"content-length", str(len(self.body)).encode()), (b"content-type", b"application/json"))
        self.raw_headers = raw


def _json_bytes(content) -> bytes:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


BODIES = 4096  # refusal bodies remembered (the same decision refused again is the same bytes)


class Gateway:
    """Everything one app instance holds: the registry, the gate, the engine, the limits, the audit writer.
    With ``model_process`` the models run in a child process (``worker.ModelProcess``, ``self.models``) and
    the engine holds only their tokenizers."""

    def __init__(self, reg: Registry, models: Sequence[str], limits: Limits | None = None, engine: Engine | None = None,
                 model_process: bool = False):
        self.reg = reg
        self.limits = limits or Limits()
        self.gate = Gate(reg, models, self.limits)
        self.engine = engine or Engine()
        self.own_engine = engine is None
        self.models = None
        if model_process:
            from charter.serve.worker import ModelProcess

            self.models = ModelProcess(self.engine.threads)
        self.concurrency = Concurrency(self.limits.max_concurrent)
        self._writer: audit.AuditWriter | None = None
        self._writer_lock = threading.Lock()
        self.suppressed: dict[str | None, list] = {}  # client address -> [count, first time, last time] of keyless 429s
        self._suppressed_since = time.monotonic()
        self.token_delay = float(os.environ.get(TOKEN_DELAY_ENV) or 0)
        self._consent_lock = threading.Lock()
        self._bodies: dict[tuple, tuple] = {}  # (status, code, message, param, id(decision)) -> (decision, JSON bytes)

    @property
    def writer(self) -> audit.AuditWriter:
        """Started on first use (in-process tests never run the app's lifespan); closed at shutdown or
        when the gateway is collected, after committing what is queued."""
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    w = audit.AuditWriter(self.reg.store)
                    weakref.finalize(self, w.close)
                    self._writer = w
        return self._writer

    def withdraw_records(self, owner: str, reason: str, token: str) -> dict:
        """The consent endpoint's write, on a worker thread: recorded with the owner as its actor."""
        from charter.data.owners import withdraw_records

        if getattr(self.reg.store, "authenticated_actor", None):  # a server that authenticates: its role acts, the token decides
            return withdraw_records(self.reg, [owner], reason, token=token)
        with self._consent_lock:  # the registry's actor is this request's while it writes
            before = self.reg.actor
            self.reg.actor = f"consent:{owner}"
            try:
                return withdraw_records(self.reg, [owner], reason, token=token)
            finally:
                self.reg.actor = before

    def close(self) -> None:
        self.flush_suppressed(force=True)
        if self._writer is not None:
            self._writer.close()

    # --- audit and refusals -------------------------------------------------------------
    def record(self, v: Verdict, call: Call, *, prompt_tokens=None, completion_tokens=None, error=None, **more) -> dict:
        d = v.decision
        return audit.record(time=call.ts, endpoint=call.endpoint, status=v.status, outcome=v.outcome, application=v.app.id if v.app else None,
                            key=v.key.key_id if v.key else None, model=v.model, uses=v.uses, reasons=d.reasons if d else (),
                            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, error=error,
                            duration_ms=(time.perf_counter() - call.t0) * 1000, stream=call.stream, client=call.client,
                            request_id=call.request_id, conditions=d.conditions if d else (), **more)

    async def audit(self, v: Verdict, call: Call, **kw) -> int:
        """Append the request's record; returns its seq once it is committed (the writer thread's COMMIT)."""
        return (await self.writer.append(self.record(v, call, **kw))).seq

    def refusal_body(self, v: Verdict) -> bytes:
        """The error body's bytes, encoded once per decision and message: a flood of the same refusal
        (the gate remembers its decisions until the policy moves) costs a dict lookup, not a JSON encoding."""
        d = v.decision
        key = (v.status, v.code, v.message, v.param, v.model, id(d))
        hit = self._bodies.get(key)
        if hit is not None and hit[0] is d:  # the same decision object, not one that reused its id
            return hit[1]
        charter = None
        if d is not None and not d.allowed:
            charter = {"application": v.app.id if v.app else None, "model": v.model, **d.to_json()}
        body = _json_bytes(error_body(v.status, v.message, v.code, v.param, charter))
        if len(self._bodies) >= BODIES:
            self._bodies.clear()
        self._bodies[key] = (d, body)
        return body

    async def refuse(self, v: Verdict, call: Call) -> Answer:
        if v.status == 429 and v.extra.get("keyless"):
            self.suppress(call.client, call.ts)  # counted, written in aggregate (see flush_suppressed)
            return self.refusal(v, None)
        return self.refusal(v, await self.audit(v, call, error=v.message, code=v.code))

    def refusal(self, v: Verdict, seq: int | None) -> Answer:
        """The error answer for a verdict whose record (``seq``) is already committed."""
        headers = {"X-Charter-Decision": v.outcome}
        if seq is not None:
            headers["X-Charter-Audit-Seq"] = str(seq)
        if v.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if v.status in (429, 503):
            headers["Retry-After"] = retry_after(v.retry_after or 1.0)
        return Answer(None, v.status, headers, body=self.refusal_body(v))

    async def crashed(self, call: Call, exc: BaseException) -> Answer:
        """500 for what was never expected, audited when the store takes the record."""
        v = Verdict(500, "error", "internal_error", f"internal error: {type(exc).__name__}")
        try:
            return await self.refuse(v, call)
        except Exception:
            return Answer(error_body(500, v.message, v.code), 500)

    def suppress(self, client: str | None, ts: str) -> None:
        """Count a keyless 429 from ``client``; memory bounded by SUPPRESSED_CLIENTS addresses per period."""
        if client not in self.suppressed and len(self.suppressed) >= SUPPRESSED_CLIENTS:
            client = None
        c = self.suppressed.setdefault(client, [0, ts, ts])
        c[0] += 1
        c[2] = ts
        self.flush_suppressed()

    def flush_suppressed(self, force: bool = False) -> list:
        """Queue one aggregate record per address counted since the last flush, when SUPPRESSED_EVERY
        seconds have passed (or ``force``). Returns the writer's futures."""
        if not self.suppressed or not (force or time.monotonic() - self._suppressed_since >= SUPPRESSED_EVERY):
            return []
        counted, self.suppressed, self._suppressed_since = self.suppressed, {}, time.monotonic()
        return [self.writer.submit(audit.suppressed(client=k, count=n, first=a, last=b)) for k, (n, a, b) in counted.items()]

    async def too_large(self, request: Request, limit: int) -> Answer:
        """413, audited like any refusal: the key's id when the key is valid; without one, a 401 (or the
        keyless 429), as for any other malformed request."""
        call = Call.of(request)
        v = self.gate.admit(call.authorization, call.client)
        if v.allowed:
            v.status, v.outcome, v.code, v.message = 413, "invalid", "body_too_large", f"the request body is larger than {limit:,} bytes"
        return await self.refuse(v, call)

    # --- the two generation endpoints ------------------------------------------------------
    async def serve(self, call: Call, body: CompletionRequest | ChatRequest):
        stream = call.stream = bool(body.stream)
        chat = isinstance(body, ChatRequest)
        call.request_id = rid = f"{'chatcmpl' if chat else 'cmpl'}-{_PROCESS_ID}{next(_REQUESTS):016x}"
        v = self.gate.admit(call.authorization, call.client)
        if v.allowed:
            v = self.gate.decide(v, body.model, call.uses_header)
        if not v.allowed:
            return await self.refuse(v, call)
        lim = self.limits
        max_tokens = (body.max_completion_tokens if chat else None) or body.max_tokens
        max_tokens = min(lim.default_max_tokens, lim.max_tokens) if max_tokens is None else max_tokens
        param = "messages" if chat else "prompt"
        messages = [{"role": m.role, "content": m.text()} for m in body.messages] if chat else None
        prompts = [] if chat else [body.prompt] if isinstance(body.prompt, str) else body.prompt
        chars = sum(len(m["content"]) for m in messages) if chat else sum(map(len, prompts))
        if max_tokens > lim.max_tokens:
            return await self.refuse(_bad(v, f"max_tokens {max_tokens} is more than this gateway's limit of {lim.max_tokens}", "max_tokens"),
                                     call)
        if chars > lim.max_prompt_chars:
            return await self.refuse(_bad(v, f"the {param} has {chars:,} characters; the limit is {lim.max_prompt_chars:,}", param,
                                          "context_length_exceeded"), call)
        if not self.concurrency.enter():
            v.status, v.outcome, v.code, v.retry_after = 503, "overloaded", "overloaded", 1.0
            v.message = f"{lim.max_concurrent} requests are already in progress; retry shortly"
            return await self.refuse(v, call)
        done = False
        try:
            loop = asyncio.get_running_loop()
            mid = v.model
            assets = None if self.engine.loaded(mid) else self.engine.assets_for(self.reg, mid)
            n = body.n or 1
            params = dict(max_tokens=max_tokens, temperature=1.0 if body.temperature is None else body.temperature,
                          top_p=1.0 if body.top_p is None else body.top_p, seed=body.seed,
                          stop=[body.stop] if isinstance(body.stop, str) else list(body.stop or ()))
            job = (mid, assets, messages, prompts, max_tokens, param, n)
            try:
                if self.models is not None:
                    lm, encoded = await self._prepare_remote(job, chars)
                if stream:  # encode first: a prompt that does not fit is a 400, not a broken stream
                    if self.models is None:
                        lm, encoded = await loop.run_in_executor(self.engine.executor, self._prepare, *job)
                    usage = bool(body.stream_options and body.stream_options.include_usage)
                    s = _Stream(self, v, call, lm, encoded, params, chat, usage)
                    # recorded before its first byte: a gateway killed mid-stream leaves this record
                    seq = await self.audit(v, call, prompt_tokens=s.tokens[0], phase="start")
                    s.headers["X-Charter-Audit-Seq"] = str(seq)
                    done = True  # the stream leaves the concurrency slot and records its end when it ends
                    return s
                if self.models is not None:
                    gens, started = await self._remote(lm, encoded, params, v, call, n)
                else:  # one hop: the model thread queues the start record (for the writer thread to commit), generates,
                    # and queues the end record
                    gens, started = await loop.run_in_executor(self.engine.executor, self._run, job, params, v, call)
            except PromptError as e:
                return await self.refuse(_bad(v, str(e), e.param, e.code), call)
            pt = sum(g.prompt_tokens for g in gens[::n])
            ct = sum(g.completion_tokens for g in gens)
            # answered only once the decision's record is committed
            seq = (started.result() if started.done() else await asyncio.wrap_future(started)).seq
            created = int(time.time())
            if chat:
                choices = [{"index": i, "message": {"role": "assistant", "content": g.text}, "logprobs": None, "finish_reason": g.finish_reason}
                           for i, g in enumerate(gens)]
                out = {"id": rid, "object": "chat.completion", "created": created, "model": mid, "choices": choices}
            else:
                choices = [{"text": g.text, "index": i, "logprobs": None, "finish_reason": g.finish_reason} for i, g in enumerate(gens)]
                out = {"id": rid, "object": "text_completion", "created": created, "model": mid, "choices": choices}
            out["usage"] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
            return Answer(out, 200, _ok_headers(v, seq))
        except _Recorded as e:  # the model failed after the start record: the end record says so
            return self.refusal(v, (e.started.result() if e.started.done() else await asyncio.wrap_future(e.started)).seq)
        except CharterError as e:  # e.g. weights swapped since registration (integrity): say which check failed
            v.status, v.outcome, v.code, v.message = 500, "error", e.code, f"{e.message}{f' ({e.where})' if e.where else ''}"[:500]
            return await self.refuse(v, call)
        except Exception as e:  # the model failed: a 500 that is audited, never a crash
            v.status, v.outcome, v.code, v.message = 500, "error", "model_error", _failed(e)
            return await self.refuse(v, call)
        finally:
            if not done:
                self.concurrency.leave()

    def _prepare(self, mid, assets, messages, prompts, max_tokens: int, param: str, n: int):
        """On the model thread: load the model (once) and encode every prompt (``n`` times) within the limits."""
        return self._encode(self.engine.load(mid, assets), messages, prompts, max_tokens, param, n)

    def _encode(self, lm, messages, prompts, max_tokens: int, param: str, n: int):
        lim = self.limits
        if messages is not None:
            text, templated = self.engine.chat_prompt(lm, messages)
            encoded = [self.engine.encode(lm, text, lim.max_prompt_tokens, max_tokens, param, templated)]
        else:
            encoded = [self.engine.encode(lm, p, lim.max_prompt_tokens, max_tokens, param) for p in prompts]
        return lm, [ids for ids in encoded for _ in range(n)]

    # --- the models in a child process (charter serve) ---
    async def load_remote(self, mid: str, assets: dict | None = None):
        """Load ``mid`` in the model process and its tokenizer here (off the loop)."""
        assets = assets or self.engine.assets_for(self.reg, mid)
        info = await self.models.load(mid, list(assets.values()))
        return await asyncio.get_running_loop().run_in_executor(self.engine.executor, self.engine.adopt, mid, assets, info)

    async def _prepare_remote(self, job: tuple, chars: int):
        """The model (loaded once) and the encoded prompts; short prompts are encoded on the loop, where
        that costs less than the hop to the model thread and back (~0.2 ms measured), long ones there."""
        mid, assets, messages, prompts, max_tokens, param, n = job
        lm = self.engine.loaded(mid) or await self.load_remote(mid, assets)
        if chars <= _ENCODE_ON_LOOP_CHARS:
            return self._encode(lm, messages, prompts, max_tokens, param, n)
        return await asyncio.get_running_loop().run_in_executor(self.engine.executor, self._encode, lm, messages, prompts, max_tokens, param, n)

    async def _remote(self, lm, encoded: list, params: dict, v: Verdict, call: Call, n: int):
        """``_run`` with the model in the child: the start record is queued, then the generations are sent,
        so that its COMMIT runs while the child works; the answer waits for it. Queued after the send, the
        writer thread woke later and missed the answer in about one request in six (measured: its COMMIT
        then added 0.3-0.6 ms to those answers)."""
        started = self.writer.submit(self.record(v, call, phase="start"))
        try:
            reqs = [self.models.generate(lm.id, ids, params) for ids in encoded]
            if len(reqs) == 1:  # awaited directly: gather costs a turn of the loop on the way back
                outs = [await reqs[0].done]
            else:
                outs = await asyncio.gather(*(r.done for r in reqs), return_exceptions=True)
        except Exception as e:  # the model failed, or its process cannot be started: after the start record, its end says so
            outs = [e]
        failed = next((o for o in outs if isinstance(o, BaseException)), None)
        if failed is not None:
            self._failed_end(v, call, failed)
            raise _Recorded(started) from failed
        gens = [Generation(*o) for o in outs]
        self._end(v, call, gens, n)
        return gens, started

    def _end(self, v: Verdict, call: Call, gens: list[Generation], n: int) -> None:
        """Queue a completion's end record (tokens, finish reasons); not waited for. Queued before the answer
        is built: queued once the answer was out, its COMMIT ran into the next request's and delayed that
        request's start record (bench_gateway.py, alternating with the code before: added p99 +0.98-1.39 vs +0.65-0.82 ms)."""
        self.writer.submit(self.record(v, call, prompt_tokens=sum(g.prompt_tokens for g in gens[::n]),
                                       completion_tokens=sum(g.completion_tokens for g in gens), phase="end",
                                       finish_reasons=[g.finish_reason for g in gens]))

    def _failed_end(self, v: Verdict, call: Call, e: BaseException) -> None:
        """Queue the end record of a completion whose model failed (outcome "error", status 500)."""
        v.status, v.outcome, v.code, v.message = 500, "error", "model_error", _failed(e)
        self.writer.submit(self.record(v, call, completion_tokens=0, error=v.message, code=v.code, phase="end"))

    def _run(self, job: tuple, params: dict, v: Verdict, call: Call) -> tuple[list[Generation], concurrent.futures.Future]:
        """On the model thread: encode, queue the start record, generate, queue the end record. Returns the
        generations and the start record's future: the answer waits for that COMMIT, which the writer thread
        can do while the model runs (whenever it gets the GIL: a CPU forward pass rarely lets it, README
        "Gateway"; ``charter serve`` runs the model in a child process instead, ``_remote``). A model failure
        after the start is recorded as the end record (outcome "error", status 500) and raised as _Recorded."""
        lm, encoded = self._prepare(*job)
        n = job[-1]
        started = self.writer.submit(self.record(v, call, phase="start"))
        try:
            gens = [self.engine.generate(lm, ids, **params) for ids in encoded]
        except Exception as e:
            self._failed_end(v, call, e)
            raise _Recorded(started) from e
        self._end(v, call, gens, n)
        return gens, started


class _Recorded(Exception):
    """The model failed after the request's start record was queued; its end record says so."""

    def __init__(self, started: concurrent.futures.Future):
        super().__init__("the model failed")
        self.started = started


_ENCODE_ON_LOOP_CHARS = 2000


def _failed(e: Exception) -> str:
    """What a 500 says of a model failure: the error's type (as the model process raised it) and its text."""
    return f"the model failed: {getattr(e, 'kind', type(e).__name__)}: {str(e)[:200]}"


def _bad(v: Verdict, message: str, param: str | None, code: str = "invalid_value") -> Verdict:
    v.status, v.outcome, v.code, v.message, v.param = 400, "invalid", code, message, param
    return v


def _ok_headers(v: Verdict, seq: int) -> dict:
    return {"X-Charter-Decision": "allowed", "X-Charter-Application": v.app.id, USES_HEADER: ",".join(v.uses), "X-Charter-Audit-Seq": str(seq)}


def _sse(obj) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


class _Stream(StreamingResponse):
    """Server-sent events in OpenAI's chunk format, ending with ``data: [DONE]``. Generation runs on
    the model thread (or in the model process) and hands text over through a queue; a client that goes away stops it. The stream's
    start is recorded before it is returned (Gateway.serve); its end (tokens generated, finish reasons,
    an error, whether the client went away) is recorded once, however it ends: before ``[DONE]`` when it
    runs to the end, else as soon as the model thread has stopped. It leaves its concurrency slot then."""

    def __init__(self, gw: Gateway, v: Verdict, call: Call, lm, encoded, params, chat: bool, usage: bool):
        self.gw, self.v, self.call, self.rid = gw, v, call, call.request_id
        self.lm, self.encoded, self.params, self.chat, self.include_usage = lm, encoded, params, chat, usage
        self.cancel = threading.Event()
        self.tokens = [sum(len(ids) for ids in encoded), 0]
        self.generated = [0] * len(encoded)  # per choice, written by the model thread as each choice ends
        self.finish: list[str | None] = [None] * len(encoded)
        self.error: str | None = None
        self.completed = False  # every event but [DONE] was produced
        self._worker: asyncio.Future | None = None
        self._end: concurrent.futures.Future | None = None
        self._left = False
        self._request = None  # the generation in the model process (charter serve), to cancel
        super().__init__(self._events(), media_type="text/event-stream", headers={**_ok_headers(v, 0), "Cache-Control": "no-cache"})

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stop()
            try:
                if self._end is None and self._worker is not None:  # the model thread stops at its next token
                    await asyncio.wait_for(asyncio.shield(self._worker), 30)
            except BaseException:
                pass
            finally:
                end = self.end()
            try:
                await asyncio.wrap_future(end)
            except BaseException:
                pass

    def _stop(self) -> None:
        """Stop generating: the model thread sees ``cancel`` before its next token; the model process is told."""
        self.cancel.set()
        if self._request is not None and self.gw.models is not None:
            self.gw.models.cancel(self._request)

    def end(self) -> concurrent.futures.Future:
        """Queue the end record (once) and leave the concurrency slot."""
        if self._end is None:
            error, gone = self.error, not self.completed and not self.error
            v = self.v
            if error:
                v.outcome = "error"
            rec = self.gw.record(v, self.call, completion_tokens=sum(self.generated),
                                 error=error or ("the client went away before the end" if gone else None),
                                 phase="end", finish_reasons=self.finish, disconnected=gone)
            self._end = self.gw.writer.submit(rec)
        if not self._left:
            self._left = True
            self.gw.concurrency.leave()
        return self._end

    def _chunk(self, i: int, text: str | None, finish: str | None, role: bool = False) -> dict:
        if self.chat:
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
            choice = {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {"id": self.rid, "object": "chat.completion.chunk", "created": self.created, "model": self.v.model, "choices": [choice]}
        choice = {"text": text or "", "index": i, "logprobs": None, "finish_reason": finish}
        return {"id": self.rid, "object": "text_completion", "created": self.created, "model": self.v.model, "choices": [choice]}

    async def _events(self):
        loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()
        self.created = int(time.time())
        eng = self.gw.engine
        delay = self.gw.token_delay

        def put(item) -> None:
            try:
                loop.call_soon_threadsafe(q.put_nowait, item)
            except RuntimeError:  # the loop is gone (shutdown): nobody is listening
                pass

        def cancelled() -> bool:  # asked before every token
            return self.cancel.is_set()

        def work() -> None:
            try:
                for i, ids in enumerate(self.encoded):
                    if self.cancel.is_set():
                        break
                    g = eng.generate(self.lm, ids, **self.params, emit=lambda s, i=i: put(("text", i, s)), cancelled=cancelled, delay=delay)
                    self.generated[i], self.finish[i] = g.completion_tokens, g.finish_reason
                    put(("end", i, g))
            except Exception as e:
                put(("error", None, e))
            finally:
                put(("done", None, None))

        async def remote() -> None:  # the same, with the model in the child process (on this loop, no thread)
            try:
                for i, ids in enumerate(self.encoded):
                    if self.cancel.is_set():
                        break
                    self._request = models.generate(self.lm.id, ids, {**self.params, "delay": delay},
                                                    emit=lambda s, i=i: q.put_nowait(("text", i, s)))
                    if self.cancel.is_set():
                        models.cancel(self._request)
                    g = Generation(*await self._request.done)
                    self.generated[i], self.finish[i] = g.completion_tokens, g.finish_reason
                    q.put_nowait(("end", i, g))
            except Exception as e:
                q.put_nowait(("error", None, e))
            finally:
                q.put_nowait(("done", None, None))

        models = self.gw.models
        try:
            self._worker = asyncio.ensure_future(remote()) if models is not None else loop.run_in_executor(eng.executor, work)
            if self.chat:
                for i in range(len(self.encoded)):
                    yield _sse(self._chunk(i, None, None, role=True))
            while True:
                kind, i, x = await q.get()
                if kind == "text":
                    yield _sse(self._chunk(i, x, None))
                elif kind == "end":
                    self.tokens[1] += x.completion_tokens
                    yield _sse(self._chunk(i, None if self.chat else "", x.finish_reason))
                elif kind == "error":
                    self.error = _failed(x)
                    yield _sse(error_body(500, self.error, "model_error"))
                else:
                    break
            if self.include_usage:
                u = {"prompt_tokens": self.tokens[0], "completion_tokens": self.tokens[1], "total_tokens": sum(self.tokens)}
                obj = "chat.completion.chunk" if self.chat else "text_completion"
                yield _sse({"id": self.rid, "object": obj, "created": self.created, "model": self.v.model, "choices": [], "usage": u})
            self.completed = True
            await asyncio.wrap_future(self.end())  # [DONE] only once the end is on record
            yield b"data: [DONE]\n\n"
        finally:
            self._stop()


_ROUTES = {"/v1/completions": ("completions", CompletionRequest), "/v1/chat/completions": ("chat.completions", ChatRequest)}


class GatewayApp(FastAPI):
    """FastAPI, with the two generation routes answered before its middleware, routing and dependency
    machinery, which cost a refusal more than its decision and its audit record together. A POST to
    /v1/completions or /v1/chat/completions with one JSON Content-Type, a Content-Length within the body
    limit and a body that validates goes straight to ``Gateway.serve``. Anything else (no or a larger
    Content-Length, another content type, a body that does not parse or validate, a client gone mid-body)
    goes to FastAPI with the body replayed, so its answers and errors are exactly FastAPI's own. Whatever
    the gateway raises is answered and audited as a 500, then re-raised for the server to log, as
    FastAPI's own error middleware does."""

    gateway: "Gateway"

    async def __call__(self, scope, receive, send):
        route = _ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None:
            return await super().__call__(scope, receive, send)
        authorization = uses = length = None
        types = []
        for k, v in scope["headers"]:  # the first of each, as Starlette's Headers.get
            if k == b"authorization":
                authorization = v if authorization is None else authorization
            elif k == b"content-type":
                types.append(v)
            elif k == b"content-length":
                length = v if length is None else length
            elif k == _USES_KEY:
                uses = v if uses is None else uses
        got, chunks, whole = [], [], length is not None and length.isdigit() and int(length) <= self.gateway.limits.max_body_bytes
        while whole:
            msg = await receive()
            got.append(msg)
            if msg["type"] != "http.request":
                whole = False
                break
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        replay = iter(got)

        async def replayed():  # what was read, then the connection's own messages (a disconnect during a stream)
            return next(replay, None) or await receive()

        body = None
        if whole and len(types) == 1 and _json_type(types[0]):
            try:
                body = route[1].model_validate_json(b"".join(chunks))
            except Exception:  # not JSON, not valid: FastAPI answers it (400/422, audited)
                body = None
        if body is None:
            return await super().__call__(scope, replayed, send)
        client = scope.get("client")
        call = Call(route[0], client[0] if client else None, authorization and authorization.decode("latin-1"), uses and uses.decode("latin-1"))
        try:
            response = await self.gateway.serve(call, body)
        except Exception as e:
            await (await self.gateway.crashed(call, e))(scope, replayed, send)
            raise
        await response(scope, replayed, send)


_USES_KEY = USES_HEADER.lower().encode()


def _json_type(v: bytes) -> bool:
    v = v.lower()
    return v == b"application/json" or v.startswith(b"application/json;")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by Content-Length or while reading;
    audited by the gateway (``Gateway.too_large``)."""

    def __init__(self, app, limit: int, gateway: Gateway):
        self.app, self.limit, self.gw = app, limit, gateway

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope["headers"]:
            if k == b"content-length":
                if not v.isdigit() or int(v) > self.limit:
                    return await (await self.gw.too_large(Request(scope), self.limit))(scope, receive, send)
                return await self.app(scope, receive, send)  # the server reads no more than Content-Length
        seen, started, over = 0, False, False  # a chunked body: counted as it arrives

        async def counted():
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    over = True
                    return {"type": "http.disconnect"}
            return msg

        async def tracked(msg):
            nonlocal started
            if over and not started:  # the app saw a disconnect: answer 413 instead
                return
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        await self.app(scope, counted, tracked)
        if over and not started:
            await (await self.gw.too_large(Request(scope), self.limit))(scope, receive, send)


_UNION_TAG = re.compile(r"^(constrained-)?(str|int|float|bool|bytes|none)$|\[")  # pydantic's names for union members


def _param(loc) -> str | None:
    """A validation error's field, dotted (``messages.0.role``), without pydantic's union-member tags."""
    parts = [str(x) for x in loc[1:] if not (isinstance(x, str) and _UNION_TAG.search(x))] if loc and loc[0] == "body" else [str(x) for x in loc]
    return ".".join(parts) or None


def _endpoint(path: str) -> str:
    return {"/v1/completions": "completions", "/v1/chat/completions": "chat.completions"}.get(path, "models" if path.startswith("/v1/models") else path)


def create_app(reg: Registry, models: Sequence[str], limits: Limits | None = None, *, engine: Engine | None = None,
               preload: bool = False, close_registry: bool = False, model_process: bool = False) -> FastAPI:
    """The gateway for ``models`` (registered model refs). ``preload`` loads them at startup (``charter serve``
    does; in-process tests load on the first allowed request). ``close_registry``: close it at shutdown.
    ``model_process``: without an ``engine``, run the models in a child process (``charter serve`` does)."""
    gw = Gateway(reg, models, limits, engine, model_process)

    @asynccontextmanager
    async def lifespan(app):
        if preload:
            for mid in gw.gate.models:
                if gw.models is not None:
                    await gw.load_remote(mid)
                else:
                    gw.engine.load(mid, gw.engine.assets_for(reg, mid))
            # What is loaded now (libraries, models, the registry's caches) lives as long as the process: kept
            # out of the collector, whose full passes over it stopped the whole process ~220 ms every ~1.5 s
            # under a flood of refusals (measured: /health max 254 ms -> 20 ms, refusals' p99 236 -> 37 ms).
            gc.collect()
            gc.freeze()
        flusher = asyncio.create_task(_flush_every(gw))
        yield
        flusher.cancel()
        gw.close()  # the audit writer commits what is queued (aggregates of keyless 429s included)
        if gw.models is not None:
            gw.models.close()
        if gw.own_engine:
            gw.engine.close()
        if close_registry:
            reg.close()

    app = GatewayApp(title="charter gateway", version=__version__, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},  # the audit log records every request
                  description="OpenAI-compatible API; every request is decided against the model's charter for the key's application "
                              f"(narrow its declared uses per request with the {USES_HEADER} header) and audited.")
    app.state.gateway = app.gateway = gw
    # The key and the uses header are documented in the schema but read by the gate itself (a FastAPI
    # dependency per request costs more than the whole decision).
    auth = {"security": [{"bearer": []}]}
    uses = {**auth, "parameters": [{"name": USES_HEADER, "in": "header", "required": False, "schema": {"type": "string"}, "description": USES_DOC}]}

    @app.get("/health", include_in_schema=False)
    async def health():
        return {"status": "ok", "models": list(gw.gate.models)}

    def model_card(mid: str) -> dict:
        return {"id": mid, "object": "model", "created": 0, "owned_by": "charter"}

    @app.get("/v1/models", openapi_extra=auth, responses={s: ERRORS[s] for s in (401, 429)})
    async def list_models(request: Request):
        call = Call.of(request, "models")
        v = gw.gate.admit(call.authorization, call.client)
        if not v.allowed:
            return await gw.refuse(v, call)
        await gw.audit(v, call)
        return {"object": "list", "data": [model_card(m) for m in gw.gate.models]}

    @app.post("/v1/consent/withdraw", openapi_extra=auth, responses={s: ERRORS[s] for s in (400, 403, 422, 429)})
    async def consent_withdraw(body: ConsentWithdrawal, request: Request):
        """A data contributor withdraws consent for their own records with their consent token (`charter
        consent-token OWNER`) as the bearer key: recorded as the registry's ``withdraw-records`` would, for that
        owner only. Audited; rate-limited per address like other requests without an API key."""
        call = Call.of(request, "consent.withdraw")
        v = Verdict(200, "allowed")
        wait = gw.gate.keyless.take(call.client or "-") or gw.gate.keyless_all.take("*")
        if wait:
            v = Verdict(429, "rate-limited", "rate_limit_exceeded", "too many consent requests from this address", retry_after=wait)
            return await gw.refuse(v, call)
        scheme, _, token = (call.authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            v = Verdict(401, "unauthorized", "invalid_api_key", "send the consent token as Authorization: Bearer <token>")
            return await gw.refuse(v, call)
        try:
            out = await asyncio.to_thread(gw.withdraw_records, body.owner, body.reason, token.strip())
        except CharterError as e:
            status = 403 if e.exit_code == 3 else 400
            v = Verdict(status, "denied" if status == 403 else "invalid", e.code, e.message[:500])
            return await gw.refuse(v, call)
        await gw.audit(Verdict(200, "allowed"), call)
        return {"owner": body.owner, "withdrawn": bool(out["owners"]), "already_withdrawn": bool(out["already_withdrawn"]),
                "sources": out["sources"], "curated": out["curated"], "affected": len(out["affected"])}

    @app.get("/v1/models/{model:path}", openapi_extra=auth, responses={s: ERRORS[s] for s in (401, 404, 429)})
    async def get_model(model: str, request: Request):
        call = Call.of(request, "models")
        v = gw.gate.admit(call.authorization, call.client)
        if v.allowed and gw.gate.model_id(model) is None:
            v.status, v.outcome, v.code, v.param, v.message = 404, "error", "model_not_found", "model", f"model {model!r} is not served here"
        if not v.allowed:
            return await gw.refuse(v, call)
        v.model = gw.gate.model_id(model)
        await gw.audit(v, call)
        return model_card(v.model)

    @app.post("/v1/completions", openapi_extra=uses, responses=ERRORS)
    async def completions(body: CompletionRequest, request: Request):
        return await gw.serve(Call.of(request, "completions"), body)

    @app.post("/v1/chat/completions", openapi_extra=uses, responses=ERRORS)
    async def chat_completions(body: ChatRequest, request: Request):
        return await gw.serve(Call.of(request, "chat.completions"), body)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        call = Call.of(request)
        v = gw.gate.admit(call.authorization, call.client)  # a bad key is a 401 whatever the body
        if not v.allowed:
            return await gw.refuse(v, call)
        errs = exc.errors()
        first = errs[0] if errs else {}
        param = _param(first.get("loc", ()))
        if first.get("type") == "json_invalid" or (first.get("type") == "model_attributes_type" and not param):
            v.status, v.code, v.param, v.message = 400, "invalid_json", None, f"the body must be a JSON object (Content-Type: application/json): {first.get('msg', 'malformed')}"
        else:
            v.status, v.code, v.param = 422, "invalid_value", param
            v.message = f"{param or 'body'}: {first.get('msg', 'invalid')}" + (f" (and {len(errs) - 1} more)" if len(errs) > 1 else "")
        v.outcome = "invalid"
        return await gw.refuse(v, call)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(exc.status_code, str(exc.detail), code), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):  # never expected; audited, answered, logged
        return await gw.crashed(Call.of(request), exc)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an application's key (`charter app key APP`)"}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(BodyLimit, limit=gw.limits.max_body_bytes, gateway=gw)
    return app


async def _flush_every(gw: Gateway) -> None:
    while True:  # aggregates of keyless 429s also go out when a flood stops (not only on the next 429)
        await asyncio.sleep(SUPPRESSED_EVERY)
        gw.flush_suppressed()
