"""The gateway's ASGI app: data plane, admin API, metrics, health.

    POST /v1/chat/completions   OpenAI-compatible, streaming or not (routectl.gateway.chat)
    GET  /v1/models             models the caller's routes can reach
    GET  /metrics               Prometheus text format
    GET  /healthz               {"status": "ok", "revision": N}
    /admin/v1/...               the admin API (routectl.admin.http), bearer token

The chat endpoint is served straight from ASGI (:class:`GatewayApp`), without
Starlette's routing and middleware stack: on a proxy that adds nothing, that
stack was a measurable share of the per-request CPU. Everything else is an
ordinary Starlette app, which also runs the lifespan.

One :class:`Gateway` holds a process's shared state: the current runtime (hot
reloaded), one pooled HTTP client, circuit breakers, shadow sender, decision
log and metrics. They start and stop with the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from prometheus_client import Counter, Gauge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from routectl.counters import open_counters
from routectl.gateway.auth import presented_key
from routectl.gateway.boundary import ErrorBoundary
from routectl.gateway.breaker import BreakerCollector, Breakers
from routectl.gateway.chat import JSON, PlainAnswer, chat_completions, error_body
from routectl.gateway.decisionlog import DecisionLog
from routectl.gateway.egress import EgressPolicy
from routectl.gateway.intake import Refused, check_headers
from routectl.gateway.limits import Limits
from routectl.gateway.metrics import GatewayMetrics
from routectl.gateway.runtime import Runtime, RuntimeHolder
from routectl.gateway.shadow import ShadowSender
from routectl.gateway.upstream import make_client
from routectl.store.base import ConfigStore

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class GatewaySettings:
    poll_interval_s: float = 0.25
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    shadow_concurrency: int = 16
    default_output_tokens: int = 256
    log_flush_interval_s: float = 0.5
    counters_url: str | None = None  # None: in-process; redis://… shared by workers/replicas
    counters_fail_closed: bool = True  # counters down: refuse consumers that could be blocked
    spend_flush_interval_s: float = 1.0


class Gateway:
    def __init__(
        self,
        store: ConfigStore,
        settings: GatewaySettings,
        log_path: Path | None,
        egress: EgressPolicy,
    ):
        self.store = store
        self.settings = settings
        self.egress = egress
        self.metrics = GatewayMetrics()
        self.unusable = Gauge(
            "routectl_gateway_unusable_models",
            "Models skipped by every request of this revision (refused or unreadable "
            "credential or baseUrl, unsupported provider type), by provider.",
            ["provider"],
            registry=self.metrics.registry,
        )
        self.holder = RuntimeHolder(store, settings.poll_interval_s, egress)
        self.holder.on_swap = self._swapped
        self.breakers = Breakers(settings.breaker_failures, settings.breaker_cooldown_s)
        self.metrics.registry.register(BreakerCollector(self.breakers))
        self.decisions = DecisionLog(log_path, settings.log_flush_interval_s)
        self.decisions.open()
        self.client: aiohttp.ClientSession = None  # type: ignore[assignment]  # set at startup
        self.shadows: ShadowSender = None  # type: ignore[assignment]
        self.limits = Limits(
            open_counters(settings.counters_url),
            store,
            self.metrics,
            settings.counters_fail_closed,
            settings.spend_flush_interval_s,
        )

    def _swapped(self, runtime: Runtime) -> None:
        self.metrics.revision.set(runtime.revision)
        self.breakers.retain(provider_identities(runtime))
        counts: dict[str, int] = {}
        for upstream in runtime.upstreams.values():
            counts[upstream.provider] = counts.get(upstream.provider, 0) + bool(upstream.problem)
        self.unusable.clear()
        for provider, count in counts.items():
            self.unusable.labels(provider).set(count)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.client = make_client()
        self.shadows = ShadowSender(self.client, self.metrics, self.settings.shadow_concurrency)
        runtime = await self.holder.load()
        await self.limits.start(runtime.policy)
        self.decisions.start()
        poller = asyncio.create_task(self.holder.poll_forever())
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await self.shadows.close()
            await self.limits.close()
            await self.client.close()
            await self.decisions.close()

    async def models(self, request: Request) -> Response:
        runtime = self.holder.runtime
        assert runtime is not None
        key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        consumer = runtime.keys.consumer_for(key)
        if consumer is None:
            body = error_body(
                "missing or invalid API key", "authentication_error", "invalid_api_key"
            )
            return Response(body, 401, media_type=JSON)
        return Response(
            runtime.models_body.get(consumer, b'{"object":"list","data":[]}'), media_type=JSON
        )

    async def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def health(self, request: Request) -> Response:
        runtime = self.holder.runtime
        revision = runtime.revision if runtime else None
        return Response(orjson.dumps({"status": "ok", "revision": revision}), media_type=JSON)

    async def spend(self) -> dict:
        runtime = self.holder.runtime
        assert runtime is not None
        return await self.limits.spend_report(runtime.policy)


def provider_identities(runtime: Runtime) -> dict[str, object]:
    """What makes each provider the upstream it is: its declared endpoint, type,
    credential references and timeouts, and whether it is usable."""
    problems = {u.provider: u.problem for u in runtime.upstreams.values()}
    return {
        name: (repr(provider), problems.get(name))
        for name, provider in runtime.policy.providers.items()
    }


def admin_routes(
    store: ConfigStore,
    admin_token: str | None,
    insecure_local: bool,
    egress: EgressPolicy,
    gw: Gateway | None = None,
) -> list[Mount]:
    """The admin API under /admin/v1, when this installation has it."""
    if importlib.util.find_spec("routectl.admin.http") is None:
        return []
    from routectl.admin.http import admin_app
    from routectl.admin.service import AdminService

    service = AdminService(store, egress)
    spend = gw.spend if gw is not None else None
    app = admin_app(service, admin_token, insecure_local, spend=spend)
    return [Mount("/admin/v1", app=app)]


def create_app(
    store: ConfigStore,
    *,
    admin_token: str | None = None,
    insecure_local: bool = False,
    log_path: Path | None = None,
    settings: GatewaySettings | None = None,
    egress: EgressPolicy | None = None,
) -> ErrorBoundary:
    """The gateway's ASGI app; ``egress``: what configurations may make it read and reach
    (default: no credential files, no ROUTECTL_* variables, any provider host)."""
    gw = Gateway(store, settings or GatewaySettings(), log_path, egress or EgressPolicy())
    app = Starlette(
        routes=[
            Route("/v1/models", gw.models, methods=["GET"]),
            Route("/metrics", gw.prometheus, methods=["GET"]),
            Route("/healthz", gw.health, methods=["GET"]),
            *admin_routes(store, admin_token, insecure_local, gw.egress, gw),
        ],
        lifespan=gw.lifespan,
        exception_handlers={404: _not_found},
    )
    app.router.redirect_slashes = False  # a redirect would be built from the Host header
    return ErrorBoundary(GatewayApp(gw, app), gw, frozenset({CHAT_PATH}))


async def _not_found(request: Request, exc: Exception) -> Response:
    """Unknown paths (/v1/embeddings, …) answer in OpenAI's error shape, which SDKs read."""
    return Response(
        error_body(
            f"{request.method} {request.url.path} is not served here; this gateway serves "
            f"POST {CHAT_PATH} and GET /v1/models",
            "invalid_request_error",
            "not_found",
        ),
        404,
        media_type=JSON,
    )


class GatewayApp:
    """ASGI entry: POST /v1/chat/completions directly, everything else through Starlette.

    Every request's headers pass :func:`~routectl.gateway.intake.check_headers` first; a
    chat request then authenticates before its body is read (see routectl.gateway.intake).
    """

    def __init__(self, gateway: Gateway, rest: Starlette) -> None:
        self.gateway = gateway
        self.rest = rest
        self.rejected = Counter(
            "routectl_gateway_rejected_requests",
            "Requests refused at intake, before authentication or routing, by reason.",
            ["reason"],
            registry=gateway.metrics.registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.rest(scope, receive, send)
            return
        try:
            check_headers(scope["headers"])
        except Refused as exc:
            self.rejected.labels(exc.code).inc()
            await _refusal(exc.status, str(exc), exc.code)(scope, receive, send)
            return
        if scope["path"] == CHAT_PATH:
            await self.chat(scope, receive, send)
            return
        await self.rest(scope, receive, send)

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            response = Response(
                error_body("use POST", "invalid_request_error", "method_not_allowed"),
                405,
                {"allow": "POST"},
                media_type=JSON,
            )
            await response(scope, receive, send)
            return
        if not self._authenticates(scope["headers"]):
            # Answered (logged and metered) by the endpoint from the headers alone; the
            # body is never read, and the connection closes rather than drain it.
            response = await chat_completions(self.gateway, scope["headers"], b"")
            if isinstance(response, Response):
                response.headers["connection"] = "close"
            await _send(response, scope, receive, send, self.gateway)
            return
        body = await _read_body(receive, scope["headers"])
        if body is None:
            self.rejected.labels("request_too_large").inc()
            response = _refusal(
                413,
                f"the request body is over {MAX_CHAT_BODY // (1024 * 1024)} MiB",
                "request_too_large",
            )
            await response(scope, receive, send)
            return
        response = await chat_completions(self.gateway, scope["headers"], body)
        await _send(response, scope, receive, send, self.gateway)

    def _authenticates(self, headers: list[tuple[bytes, bytes]]) -> bool:
        runtime = self.gateway.holder.runtime
        assert runtime is not None
        authorization = api_key = None
        for name, value in headers:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = value.decode("latin-1")
        return runtime.keys.consumer_for(presented_key(authorization, api_key)) is not None


async def _send(
    response: PlainAnswer | Response, scope: Scope, receive: Receive, send: Send, gw: Gateway
) -> None:
    if type(response) is PlainAnswer:  # the common case, sent without more layers
        start = {"type": "http.response.start", "status": response.status}
        await send({**start, "headers": response.headers})
        await send({"type": "http.response.body", "body": response.body})
        if response.after is not None:  # the charge, off the request's path
            gw.limits.charge_soon(response.after)
        return
    await response(scope, receive, send)  # type: ignore[operator]


def _refusal(status: int, message: str, code: str) -> Response:
    return Response(
        error_body(message, "invalid_request_error", code),
        status,
        {"connection": "close"},
        media_type=JSON,
    )


# Chat bodies carry text and, for vision, base64 images; past this a body is
# refused (413) before it is buffered, so one client cannot exhaust memory.
MAX_CHAT_BODY = 32 * 1024 * 1024


async def _read_body(receive: Receive, headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The whole body, or None when it is (or says it is) over MAX_CHAT_BODY."""
    for name, value in headers:
        if name == b"content-length":
            if value.isdigit() and int(value) > MAX_CHAT_BODY:
                return None
            break
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_CHAT_BODY:
            return None
        parts.append(chunk)
    return b"".join(parts)
