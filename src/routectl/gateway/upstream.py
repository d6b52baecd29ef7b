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

For each model of ``Decision.chain()`` (primary, then fallbacks) one attempt
ends in an outcome of the core's failover table (``routectl.core.failover``):
skipped (unusable, open circuit), rate limited (the model's or provider's
rpm/tpm in this process, like an upstream 429), or sent through the
provider's adapter and answered, timed out or unreachable. The core's
``next_step`` says what follows: the answer goes back to the client as the
upstream gave it (in OpenAI's shape), the next model is tried, or the chain
has failed (502). Streaming requests fail over only until the first event
has arrived, which is before the client has been sent a byte.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from yarl import URL

from routectl.core.failover import Action, Outcome, OutcomeKind, next_step, outcome_of_http
from routectl.gateway.breaker import Breakers
from routectl.gateway.limits import Limits
from routectl.gateway.providers import BadClientRequest
from routectl.gateway.providers.vertex import TokenUnavailable
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
    if isinstance(message, str) and message.startswith(text):
        return message.strip()[:320]  # an adapter already said it in OpenAI's shape
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
    usage: dict[str, Any] | None = None  # of a complete answer, in OpenAI's terms


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


async def _raw_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for chunk in response.content.iter_any():
        yield chunk


async def _stream_from(
    first: bytes, events: AsyncIterator[bytes], response: aiohttp.ClientResponse
) -> AsyncGenerator[bytes, None]:
    finished = False
    try:
        if first:
            yield first
        async for event in events:
            yield event
        finished = True
    finally:
        if finished:
            response.release()  # back to the pool
        else:
            response.close()  # interrupted mid-body: the connection cannot be reused


async def _first_event(events: AsyncIterator[bytes]) -> bytes:
    try:
        return await anext(events)
    except StopAsyncIteration:
        return b""


async def send_chain(
    client: aiohttp.ClientSession,
    runtime: Runtime,
    chain: tuple[str, ...],
    triggers: frozenset[str],
    body: dict[str, Any],
    stream: bool,
    breakers: Breakers,
    on_failover: Callable[[Upstream, str], None],
    limits: Limits,
    tokens: int,
    arrived: float,
) -> Answer:
    """Try ``chain`` in order; what each attempt's outcome leads to is the core's failover."""
    attempts: list[Attempt] = []
    index = 0
    while True:
        model = chain[index]
        upstream = runtime.upstreams[model]
        started = time.perf_counter()
        outcome, answer = await _attempt(
            client, runtime, upstream, body, stream, breakers, limits, tokens, arrived
        )
        error = outcome.detail
        if error is None and outcome.status is not None and outcome.status >= 400:
            error = upstream_error(outcome.status, answer.content if answer else b"")
        latency = 0.0 if outcome.rule.skipped else _ms(started)  # never sent
        attempts.append(Attempt(model, upstream.provider, outcome.status, error, latency))
        step = next_step(chain, triggers, index, outcome)
        if step.action is Action.answer:
            assert answer is not None
            answer.attempts = attempts
            return answer
        if answer is not None and answer.chunks is not None:
            await answer.chunks.aclose()
        if step.action is Action.fail:
            return Answer(None, 502, b"", "application/json", attempts)
        if step.trigger is not None:
            on_failover(upstream, step.trigger)
        assert step.index is not None
        index = step.index


async def _attempt(
    client: aiohttp.ClientSession,
    runtime: Runtime,
    upstream: Upstream,
    body: dict[str, Any],
    stream: bool,
    breakers: Breakers,
    limits: Limits,
    tokens: int,
    arrived: float,
) -> tuple[Outcome, Answer | None]:
    """One model of the chain: its outcome, and the answer the client would get from it."""
    adapter = upstream.adapter
    if adapter is None:
        return Outcome(upstream.problem_kind, detail=upstream.problem), None
    if not breakers.allow(upstream.provider):
        return Outcome(OutcomeKind.circuit_open, detail="circuit open"), None
    # Whatever happens next (a local refusal, the request's own fault, an error, a
    # cancellation), a probe that reports nothing is freed at the end.
    sent = time.monotonic()
    reports = breakers.reports(upstream.provider)
    try:
        limited = await limits.admit_model(runtime.policy, upstream.model, tokens, arrived)
        if limited is not None:  # like an upstream's 429, without asking it (not its fault)
            content = error_body(limited, "rate_limit_error")
            return Outcome(OutcomeKind.rate_limited, 429, limited), Answer(
                upstream, 429, content, "application/json"
            )
        try:
            outgoing = await adapter.prepare(body, upstream.target, stream)
        except (BadClientRequest, TypeError, ValueError, AttributeError, KeyError) as exc:
            # This protocol cannot say what the client asked (or the body's shape is off).
            if not isinstance(exc, BadClientRequest):
                exc = BadClientRequest(
                    f"cannot translate the request ({type(exc).__name__}: {exc})"
                )
            content = error_body(f"{upstream.provider}: {exc}", "invalid_request_error")
            return Outcome(OutcomeKind.answered, 400, str(exc)), Answer(
                upstream, 400, content, "application/json"
            )
        except TokenUnavailable as exc:
            return Outcome(OutcomeKind.missing_credential, detail=str(exc)), None
        response = None
        try:
            response = await client.post(
                URL(outgoing.url, encoded=True),
                data=outgoing.data,
                headers=outgoing.headers,
                timeout=upstream.timeout,
            )
            if stream and response.status < 400:
                events = adapter.stream(_raw_chunks(response), upstream.target)
                first = await _first_event(events)
                content, usage = b"", None
            else:
                content, usage = adapter.answer(
                    response.status, await response.read(), upstream.target
                )
                response.release()
        except TimeoutError:
            if response is not None:
                response.close()
            breakers.record(upstream.provider, sent_at=sent, ok=False)
            detail = f"timeout after {upstream.timeout.sock_read}s"
            return Outcome(OutcomeKind.timeout, detail=detail), None
        except aiohttp.ClientError as exc:
            if response is not None:
                response.close()
            breakers.record(upstream.provider, sent_at=sent, ok=False)
            detail = f"{type(exc).__name__}: {exc}"
            return Outcome(OutcomeKind.connection_error, detail=detail), None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # An answer this protocol's adapter cannot read (not its shape, broken JSON or
            # events): the provider's failure, like a 502 from it, so the chain goes on.
            if response is not None:
                response.close()
            breakers.record(upstream.provider, sent_at=sent, ok=False)
            detail = f"unreadable answer ({type(exc).__name__}: {exc})"[:300]
            return Outcome(OutcomeKind.server_error, 502, detail), None
        outcome = outcome_of_http(response.status, content)
        if outcome.kind is OutcomeKind.answered:
            breakers.record(upstream.provider, sent_at=sent, ok=True)
        elif outcome.rule.provider_fault:
            breakers.record(upstream.provider, sent_at=sent, ok=False)
        if stream and response.status < 400:
            chunks = _stream_from(first, events, response)
            return outcome, Answer(
                upstream, response.status, b"", adapter.stream_content_type, [], chunks
            )
        answer = Answer(upstream, response.status, content, "application/json")
        answer.usage = usage
        return outcome, answer
    finally:
        if breakers.reports(upstream.provider) == reports:
            breakers.release(upstream.provider)


def error_body(message: str, type_: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "code": None}})
