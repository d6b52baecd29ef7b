"""Forwarding to upstream providers: one pooled HTTP client, failover down a decision's chain.

The client is aiohttp's, not httpx's, because httpx costs 5-10x its CPU per
request here, and no setting fixes it. ``python benchmarks/bench_gateway_clients.py``
(one shared client, uvloop, the benchmark's mock upstream, load average ~2 on
2 cores; httpx 0.28.1 / httpcore 1.0.9):

    concurrency                       1                    32
    aiohttp                   1,402 req/s 0.46 ms   1,798 req/s 0.35 ms CPU/req
    httpx, defaults             374 req/s 2.18 ms     227 req/s 3.88 ms
    httpx, wide pool, no env    370 req/s 2.25 ms     188 req/s 5.06 ms

Pool limits (1, 4, 8, 32 or 1,000 connections), ``trust_env=False`` and
asyncio instead of uvloop all stay within 0.1-0.3x of aiohttp; HTTP/2 is no
lever (providers are reached over HTTP/1.1 here, and h2 is more Python per
frame than h11). The time is CPU in httpx's own layers: at one connection it
is spread over request/URL models, cookie extraction of every response, h11's
event validation and an anyio cancel scope around every socket read and
write; with more connections, httpcore's pool re-checks every connection on
each request (``_assign_requests_to_connections`` and ``has_expired``, which
polls each socket's readability; about a third of the samples at 32
connections), so it gets slower as the pool grows. That is httpx issue 3215;
the pool fixes proposed upstream were not merged, or merged and reverted.

For each model of ``Decision.chain()`` (primary, then fallbacks): skip it when
its provider's circuit is open or it is unusable (recorded as an attempt),
else send. A failure whose trigger is in the route's ``fallback.triggers`` moves to
the next model; any other answer, good or bad, goes back to the client as the
upstream gave it. Streaming requests fail over only until the first body
chunk has arrived, which is before the client has been sent a byte.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from routectl.gateway.breaker import Breakers
from routectl.gateway.runtime import Runtime, Upstream


def make_client() -> aiohttp.ClientSession:
    """The one client of a gateway process: HTTP/1.1 keep-alive pool, no proxy env.

    No cookie jar: the session is shared by every consumer, so a cookie one
    upstream answer sets must not ride along on other requests.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=30, ttl_dns_cache=300),
        auto_decompress=False,  # bodies pass through as the upstream sent them
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        skip_auto_headers=("User-Agent",),
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


def upstream_error(status: int, content: bytes) -> str:
    """``upstream answered 500: <the upstream's own message>`` (OpenAI or Anthropic shape)."""
    try:
        error = orjson.loads(content).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    message = error.get("message") if isinstance(error, dict) else error
    text = f"upstream answered {status}"
    if isinstance(message, str) and message.strip():
        text += f": {message.strip()[:300]}"
    return text


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


def _gateway_error(exc: Exception) -> str:
    """An attempt's error for a failure on the gateway's side, without the exception's text
    (which may quote a header, and so a credential)."""
    return f"gateway error before an answer ({type(exc).__name__})"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


async def _stream_from(
    first: bytes, response: aiohttp.ClientResponse
) -> AsyncGenerator[bytes, None]:
    finished = False
    try:
        if first:
            yield first
        async for chunk in response.content.iter_any():
            yield chunk
        finished = True
    finally:
        if finished:
            response.release()  # back to the pool
        else:
            response.close()  # interrupted mid-body: the connection cannot be reused


async def send_chain(
    client: aiohttp.ClientSession,
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
        sent = time.monotonic()  # the breaker's clock
        started = time.perf_counter()
        response = None
        try:
            response = await client.post(
                upstream.url, data=payload, headers=upstream.headers, timeout=upstream.timeout
            )
            if stream and response.status < 400:
                first = await response.content.readany()
                content = b""
            else:
                content = await response.read()
                response.release()
        except TimeoutError:
            trigger, status, error = "timeout", None, f"timeout after {upstream.timeout.sock_read}s"
            if response is not None:
                response.close()
        except aiohttp.ClientError as exc:
            trigger, status, error = "connection-error", None, f"{type(exc).__name__}: {exc}"
            if response is not None:
                response.close()
        except Exception as exc:  # our side failed (not the provider): the next may serve
            breakers.release(upstream.provider)  # says nothing of the provider; frees a probe
            attempts.append(Attempt(model, upstream.provider, None, _gateway_error(exc), 0.0))
            if response is not None:
                response.close()
            continue
        else:
            status = response.status
            trigger = http_trigger(status, content)
            error = None if status < 400 else upstream_error(status, content)
            if trigger is None:
                breakers.record(upstream.provider, ok=status < 500, sent_at=sent)
                attempts.append(Attempt(model, upstream.provider, status, error, _ms(started)))
                content_type = response.headers.get("content-type", "application/json")
                if stream and status < 400:
                    return Answer(
                        upstream,
                        status,
                        b"",
                        content_type,
                        attempts,
                        _stream_from(first, response),
                    )
                return Answer(upstream, status, content, content_type, attempts)
        if trigger == "context-length":  # the request's fault, not the provider's
            breakers.release(upstream.provider)
        else:
            breakers.record(upstream.provider, ok=False, sent_at=sent)
        attempts.append(Attempt(model, upstream.provider, status, error, _ms(started)))
        if trigger not in triggers:
            if status is not None:  # not a failover case: the client gets the upstream's answer
                return Answer(upstream, status, content, "application/json", attempts)
            break
        on_failover(upstream, trigger)
    return Answer(None, 502, b"", "application/json", attempts)
