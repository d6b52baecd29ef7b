"""Forwarding to upstream providers: one pooled HTTP client, failover down a decision's chain.

For each model of ``Decision.chain()`` (primary, then fallbacks): skip it when
its provider's circuit is open or it is unusable (recorded as an attempt),
else send. A failure whose trigger is in the route's ``fallback.on`` moves to
the next model; any other answer, good or bad, goes back to the client as the
upstream gave it. Streaming requests fail over only until the first body
chunk has arrived, which is before the client has been sent a byte.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from routectl.gateway.breaker import Breakers
from routectl.gateway.runtime import Runtime, Upstream


def make_client() -> httpx.AsyncClient:
    """The one client of a gateway process: HTTP/1.1 keep-alive pool, no proxy env."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        trust_env=False,
        follow_redirects=False,
    )


@dataclass(slots=True)
class Attempt:
    model: str
    provider: str
    status: int | None
    error: str | None
    latency_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "error": self.error,
            "latency_ms": self.latency_ms,
        }


@dataclass
class Answer:
    """What goes back to the client; ``upstream`` is None when no upstream answered."""

    upstream: Upstream | None
    status: int
    content: bytes
    content_type: str
    attempts: list[Attempt] = field(default_factory=list)
    chunks: AsyncGenerator[bytes, None] | None = None  # streaming body, first chunk already read


def http_trigger(status: int, content: bytes) -> str | None:
    """The fallback trigger an HTTP answer fires, if any."""
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    if status == 400 and b"context_length_exceeded" in content:
        return "context-length"
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


async def _stream_from(
    first: bytes, rest: AsyncIterator[bytes], response: httpx.Response
) -> AsyncGenerator[bytes, None]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        await response.aclose()


async def send_chain(
    client: httpx.AsyncClient,
    runtime: Runtime,
    chain: tuple[str, ...],
    triggers: frozenset[str],
    body: dict[str, Any],
    stream: bool,
    breakers: Breakers,
    on_failover: Callable[[Upstream, str], None],
) -> Answer:
    attempts: list[Attempt] = []
    for model in chain:
        upstream = runtime.upstreams[model]
        if upstream.problem:
            attempts.append(Attempt(model, upstream.provider, None, upstream.problem, 0.0))
            continue
        if not breakers.allow(upstream.provider):
            attempts.append(Attempt(model, upstream.provider, None, "circuit open", 0.0))
            continue
        body["model"] = upstream.upstream_model
        payload = orjson.dumps(body)
        started = time.perf_counter()
        response = None
        try:
            if stream:
                request = client.build_request(
                    "POST",
                    upstream.url,
                    content=payload,
                    headers=upstream.headers,
                    timeout=upstream.timeout,
                )
                response = await client.send(request, stream=True)
                if response.status_code >= 400:
                    content = await response.aread()
                    await response.aclose()
                else:
                    chunks = response.aiter_raw()
                    first = await anext(chunks, b"")
                    content = b""
            else:
                response = await client.post(
                    upstream.url,
                    content=payload,
                    headers=upstream.headers,
                    timeout=upstream.timeout,
                )
                content = response.content
        except httpx.TimeoutException:
            trigger, status, error = "timeout", None, f"timeout after {upstream.timeout.read}s"
            if response is not None:
                await response.aclose()
        except httpx.HTTPError as exc:
            trigger, status, error = "connection-error", None, f"{type(exc).__name__}: {exc}"
            if response is not None:
                await response.aclose()
        else:
            status = response.status_code
            trigger = http_trigger(status, content)
            error = None if status < 400 else f"upstream answered {status}"
            if trigger is None:
                breakers.record(upstream.provider, ok=status < 500)
                attempts.append(Attempt(model, upstream.provider, status, error, _ms(started)))
                content_type = response.headers.get("content-type", "application/json")
                if stream and status < 400:
                    return Answer(
                        upstream,
                        status,
                        b"",
                        content_type,
                        attempts,
                        _stream_from(first, chunks, response),
                    )
                return Answer(upstream, status, content, content_type, attempts)
        if trigger != "context-length":  # the request's fault, not the provider's
            breakers.record(upstream.provider, ok=False)
        attempts.append(Attempt(model, upstream.provider, status, error, _ms(started)))
        if trigger not in triggers:
            if status is not None:  # not a failover case: the client gets the upstream's answer
                return Answer(upstream, status, content, "application/json", attempts)
            break
        on_failover(upstream, trigger)
    return Answer(None, 502, b"", "application/json", attempts)
