"""``POST /v1/chat/completions``: authenticate, decide, forward with failover, record."""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from starlette.responses import Response, StreamingResponse

from routectl.core.budgets import charge_cost
from routectl.core.evaluator import decide
from routectl.core.request import Decision, Request, refused_as_forbidden
from routectl.gateway import cascade
from routectl.gateway.auth import presented_key
from routectl.gateway.decisionlog import utc_timestamp
from routectl.gateway.features import (
    BadRequest,
    parse_body,
    request_features,
    requested_max_tokens,
)
from routectl.gateway.intake import parse_json
from routectl.gateway.limits import Rejection, cached_tokens
from routectl.gateway.runtime import Runtime
from routectl.gateway.upstream import Answer, send_chain

if TYPE_CHECKING:
    from routectl.gateway.app import Gateway

JSON = "application/json"

# Generated request ids: a random per-process prefix and a counter, 32 hex digits
# like a UUID's. Unique across replicas and restarts, and a fraction of uuid4's
# cost (no system call, no UUID object) on the path of every request without one.
_ID_PREFIX = os.urandom(10).hex()
_id_counter = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


def error_body(message: str, type_: str, code: str, **extra: Any) -> bytes:
    """OpenAI's error shape, so SDKs surface the message."""
    return orjson.dumps({"error": {"message": message, "type": type_, "code": code, **extra}})


@dataclass(slots=True)
class PlainAnswer:
    """A complete answer that :class:`~routectl.gateway.app.GatewayApp` sends straight to ASGI."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    # Started once the body is handed to the server (Limits.charge_soon): charging the
    # consumer's budgets then keeps the counter store's round trip off the answer's
    # latency and off the next request's on the same connection.
    after: Coroutine[Any, Any, None] | None = None


class Exchange:
    """One request's bookkeeping: what the decision log and the metrics get at the end."""

    __slots__ = (
        "gw",
        "runtime",
        "arrived",
        "started",
        "request_id",
        "features",
        "decision",
        "max_tokens",
        "extra_cost",
        "extra",
    )

    def __init__(self, gw: Gateway, runtime: Runtime, request_id: str) -> None:
        self.gw = gw
        self.runtime = runtime
        self.arrived = time.time()
        self.started = time.perf_counter()
        self.request_id = request_id
        self.features: Request | None = None
        self.decision: Decision | None = None
        self.max_tokens: int | None = None  # as the client asked
        self.extra_cost = 0.0  # calls besides the answering one: cascade steps, judge, classifier
        self.extra: dict[str, Any] = {}  # decision-log fields of dynamic routing (detect, cascade)

    def finish(
        self,
        status: int,
        answer: Answer | None = None,
        usage: dict[str, Any] | None = None,
        shadows: list[str] | None = None,
    ) -> tuple[str | None, int, int]:
        """Log and meter the answer; returns the answering model and the tokens it used."""
        seconds = time.perf_counter() - self.started
        features, decision = self.features, self.decision
        upstream = answer.upstream if answer is not None and answer.status < 400 else None
        model = upstream.model if upstream else None
        input_tokens = features.input_tokens if features else 0
        output_tokens = None
        if usage:
            input_tokens = _count(usage.get("prompt_tokens"), input_tokens)
            output_tokens = _count(usage.get("completion_tokens"), None)
        cost = self.extra_cost
        cached = cached_tokens(usage)
        if model is not None:
            info = self.runtime.policy.models[model]
            cost += charge_cost(
                info.price_input,
                info.price_output,
                info.price_cached_input,
                input_tokens,
                output_tokens or 0,
                cached,
            )
            if features is not None and usage:  # the limit window holds what the log records
                routed = features.input_tokens + features.output_tokens
                actual = input_tokens + (output_tokens or 0)
                policy = self.runtime.policy
                self.gw.limits.settle_model(policy, model, actual - routed, self.arrived)
        route = decision.route if decision else None
        keys = self.runtime.metadata_keys
        self.gw.decisions.write(
            {
                "ts": utc_timestamp(self.arrived),
                "request_id": self.request_id,
                "consumer": features.consumer if features else None,
                "intent": decision.intent if decision else None,
                "classification": features.classification if features else None,
                "language": features.language if features else None,
                "route": route,
                "model": model,
                "arm": decision.arm if decision and model else None,
                "experiment": decision.experiment if decision and model else None,
                "attempts": [a.as_dict() for a in answer.attempts] if answer else [],
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cached_tokens": cached,
                "cost": round(cost, 10),
                "latency_ms": round(seconds * 1000.0, 3),
                "status": status,
                "shadows": shadows or [],
                "session": features.session if features else None,
                "metadata": (
                    {k: v for k, v in features.metadata.items() if k in keys}
                    if features and keys
                    else {}
                ),
                "max_tokens": self.max_tokens,
                "requires": sorted(features.requires) if features else [],
                "requested_model": features.model if features else None,
                **self.extra,
            }
        )
        self.gw.metrics.answered(
            route or "",
            model or "",
            upstream.provider if upstream else "",
            status,
            seconds,
            input_tokens if model else 0,
            output_tokens or 0,
            cost,
        )
        return model, input_tokens, output_tokens or 0

    def metered(self, model: str | None) -> bool:
        """Whether the answer (and the request's other calls: classifier, cascade steps,
        judge) is charged to a consumer's budgets or token window."""
        features = self.features
        if (model is None and not self.extra_cost) or features is None:
            return False
        if features.consumer is None:
            return False
        consumer = self.runtime.policy.consumers.get(features.consumer)
        return consumer is not None and bool(consumer.budgets or consumer.tpm)

    async def charge(self, model: str | None, tokens_in: int, tokens_out: int, usage) -> None:
        """Spend and tokens to the consumer's budgets and windows (after the answer)."""
        features = self.features
        if (model is None and not self.extra_cost) or features is None:
            return
        if features.consumer is None:
            return
        policy = self.runtime.policy
        await self.gw.limits.charge(
            policy,
            features.consumer,
            policy.models[model] if model is not None else None,
            usage,
            tokens_in,
            tokens_out,
            self.arrived,
            extra_cost=self.extra_cost,
        )

    def refuse(self, rejection: Rejection) -> Response:
        self.finish(rejection.status)
        headers = self.headers()
        if rejection.retry_after is not None:
            headers["retry-after"] = str(rejection.retry_after)
        body = error_body(rejection.message, rejection.type, rejection.code)
        return Response(body, rejection.status, headers, media_type=JSON)

    def headers(self, model: str | None = None, answer: Answer | None = None) -> dict[str, str]:
        headers = {"x-request-id": self.request_id}
        if self.decision is not None and self.decision.route:
            headers["x-routectl-route"] = self.decision.route
        if model:
            headers["x-routectl-model"] = model
        failed = failed_over(answer)
        if failed:
            headers["x-routectl-failover"] = failed
        return headers

    def raw_headers(self, answer: Answer, length: int) -> list[tuple[bytes, bytes]]:
        """ASGI headers of a complete upstream answer, without a Response object to build."""
        headers = [
            (b"content-length", b"%d" % length),
            (b"content-type", answer.content_type.encode("latin-1")),
            (b"x-request-id", self.request_id.encode("latin-1")),
        ]
        if self.decision is not None and self.decision.route:
            headers.append((b"x-routectl-route", self.decision.route.encode()))
        if answer.upstream is not None and answer.status < 400:
            headers.append((b"x-routectl-model", answer.upstream.model.encode()))
        failed = failed_over(answer)
        if failed:
            headers.append((b"x-routectl-failover", failed.encode("latin-1", "replace")))
        return headers

    def fail(self, status: int, message: str, type_: str, code: str, **extra: Any) -> Response:
        self.finish(status)
        return Response(
            error_body(message, type_, code, **extra), status, self.headers(), media_type=JSON
        )


def failed_over(answer: Answer | None) -> str:
    """The models tried before the one that answered, for ``x-routectl-failover``."""
    if answer is None or (len(answer.attempts) < 2 and answer.upstream is not None):
        return ""
    tried = answer.attempts[:-1] if answer.upstream is not None else answer.attempts
    return ", ".join(f"{a.model} ({a.error or a.status})" for a in tried)


def _count(value: Any, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value else None


async def chat_completions(
    gw: Gateway, raw_headers: list[tuple[bytes, bytes]], raw_body: bytes
) -> PlainAnswer | Response:
    """The answer to one request; ``raw_headers`` are ASGI's (lower-case names)."""
    runtime = gw.holder.runtime
    assert runtime is not None
    headers = dict(raw_headers)
    ex = Exchange(gw, runtime, _header(headers, b"x-request-id") or new_request_id())
    key = presented_key(_header(headers, b"authorization"), _header(headers, b"x-api-key"))
    consumer = runtime.keys.consumer_for(key)
    if consumer is None:
        message = "missing API key" if key is None else "invalid API key"
        return ex.fail(
            401,
            f"{message}: send Authorization: Bearer <key> or x-api-key",
            "authentication_error",
            "invalid_api_key",
        )
    # The counter round trip (budgets, rate windows) overlaps reading the body.
    admitting = gw.limits.begin(runtime.policy, consumer, ex.arrived)
    try:
        body = parse_json(raw_body)
        messages = parse_body(body)
        ex.features = request_features(
            raw_headers, body, messages, consumer, ex.request_id, gw.settings.default_output_tokens
        )
        ex.max_tokens = requested_max_tokens(body)
    except orjson.JSONDecodeError as exc:
        gw.limits.abandon(admitting)
        return ex.fail(400, f"the body is not JSON: {exc}", "invalid_request_error", "bad_json")
    except BadRequest as exc:
        gw.limits.abandon(admitting)
        return ex.fail(400, str(exc), "invalid_request_error", "bad_request")

    if admitting is not None:
        admission = await gw.limits.settle(admitting)
        if admission.rejection is not None:
            return ex.refuse(admission.rejection)
        if admission.budget is not None:
            ex.features = dataclasses.replace(ex.features, budget=admission.budget)

    if runtime.policy.detector is not None:
        ex.features = await cascade.classify_ahead(runtime.policy, ex.features)
        if ex.features.detected is not None:
            ex.extra["detect"] = cascade.detection_record(ex.features.detected)
            ex.extra_cost += ex.features.detected.cost
    ex.decision = decision = decide(runtime.policy, ex.features)
    if not decision.routable:
        code = decision.unroutable_code or "unroutable"
        if code == "budget.exceeded":
            return ex.refuse(
                Rejection(
                    429, str(decision.unroutable_reason), "insufficient_quota", "budget_exceeded"
                )
            )
        status = 403 if refused_as_forbidden(code) else 400
        return ex.fail(status, f"unroutable: {decision.unroutable_reason}", "unroutable", code)

    body.pop("metadata", None)  # routing input, not for the provider
    # The body is re-encoded per attempt (send_chain) rather than spliced into the
    # client's bytes: a splice must first prove, by scanning for every "model"
    # and escape, that it hits the top-level key, and on CPython those scans of
    # a 100 KB body cost more than orjson's encode (~0.35 ms vs ~0.13-0.18 ms).
    stream = body.get("stream") is True
    route = decision.route or ""
    route_info = runtime.policy.routes_by_name.get(route)
    if route_info is not None and route_info.cascade is not None:
        return await cascade.answer(ex, route_info.cascade, body, stream)
    answer = await send_chain(
        gw.client,
        runtime,
        decision.chain(),
        decision.triggers,
        body,
        stream,
        gw.breakers,
        lambda upstream, reason: gw.metrics.failover(route, upstream, reason),
        gw.limits,
        ex.features.input_tokens + ex.features.output_tokens,
        ex.arrived,
    )
    shadows = [
        model
        for model in decision.shadows
        if gw.shadows.send(runtime.upstreams[model], body, ex.request_id, _shadow_charge(ex, model))
    ]
    if answer.upstream is None:
        tried = ", ".join(f"{a.model} ({a.error})" for a in answer.attempts) or "none eligible"
        ex.finish(502, answer, shadows=shadows)
        if ex.metered(None):  # the intent classifier's call was paid for
            gw.limits.charge_soon(ex.charge(None, 0, 0, None))
        return Response(
            error_body(
                f"all upstreams failed: {tried}",
                "upstream_error",
                "all_upstreams_failed",
                attempts=[a.as_dict() for a in answer.attempts],
            ),
            502,
            ex.headers(answer=answer),
            media_type=JSON,
        )
    if answer.chunks is not None:
        return StreamingResponse(
            _relay(ex, answer, answer.chunks, shadows),
            answer.status,
            ex.headers(answer.upstream.model, answer),
            media_type=answer.content_type,
        )
    usage = answer.usage
    model, tokens_in, tokens_out = ex.finish(answer.status, answer, usage, shadows)
    after = ex.charge(model, tokens_in, tokens_out, usage) if ex.metered(model) else None
    return PlainAnswer(
        answer.status, ex.raw_headers(answer, len(answer.content)), answer.content, after
    )


async def _relay(
    ex: Exchange, answer: Answer, chunks: AsyncGenerator[bytes, None], shadows: list[str]
) -> AsyncIterator[bytes]:
    """Pass SSE chunks through as they come; remember the one carrying usage, if any.

    An upstream failing mid-stream cannot be failed over (the client has the
    answer's start), so the stream ends with an error event in OpenAI's shape,
    which SDKs raise, rather than looking complete.
    """
    previous = usage_chunk = b""
    try:
        async for chunk in chunks:
            if b'"usage"' in chunk:
                usage_chunk = previous + chunk  # a data line may straddle two chunks
            previous = chunk
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:
        upstream = answer.upstream
        assert upstream is not None
        if isinstance(exc, TimeoutError):
            reason = f"timeout after {upstream.timeout.sock_read}s"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        answer.attempts[-1].error = f"stream interrupted: {reason}"
        ex.gw.breakers.record(upstream.provider, ok=False)
        if answer.content_type.startswith("text/event-stream"):
            message = f"the upstream stream of {upstream.model} was interrupted: {reason}"
            error = error_body(message, "upstream_error", "stream_interrupted")
            yield b"\n\ndata: " + error + b"\n\n"  # blank line first: end a partial event
    finally:
        await chunks.aclose()  # releases the upstream connection, also on client disconnect
        usage = _sse_usage(usage_chunk)
        model, tokens_in, tokens_out = ex.finish(answer.status, answer, usage, shadows)
        await ex.charge(model, tokens_in, tokens_out, usage)


def _shadow_charge(ex: Exchange, model: str):
    """What a shadow copy's answer costs, charged to the consumer's shadow line."""
    features = ex.features
    if features is None or features.consumer is None:
        return None
    consumer = ex.runtime.policy.consumers.get(features.consumer)
    if consumer is None or not consumer.budgets:
        return None
    policy = ex.runtime.policy
    info, fallback_in = policy.models[model], features.input_tokens

    async def charge(usage: dict[str, Any] | None) -> None:
        tokens_in = _count((usage or {}).get("prompt_tokens"), fallback_in) or 0
        tokens_out = _count((usage or {}).get("completion_tokens"), 0) or 0
        await ex.gw.limits.charge(
            policy, consumer.name, info, usage, tokens_in, tokens_out, ex.arrived, shadow=True
        )

    return charge


def _sse_usage(data: bytes) -> dict[str, Any] | None:
    usage = None
    for line in data.splitlines():
        if line.startswith(b"data:") and b'"usage"' in line:
            try:
                found = orjson.loads(line[5:].strip()).get("usage")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(found, dict):
                usage = found
    return usage
