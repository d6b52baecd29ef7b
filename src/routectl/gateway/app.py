"""The gateway's ASGI app: data plane, admin API, metrics, health.

    POST /v1/chat/completions   OpenAI-compatible, streaming or not (routectl.gateway.chat)
    GET  /v1/models             models the caller's routes can reach
    GET  /metrics               Prometheus text format
    GET  /healthz               {"status": "ok", "revision": N}
    /admin/v1/...               the admin API (routectl.admin.http), bearer token

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

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from routectl.gateway.auth import presented_key
from routectl.gateway.breaker import Breakers
from routectl.gateway.chat import JSON, chat_completions, error_body
from routectl.gateway.decisionlog import DecisionLog
from routectl.gateway.metrics import GatewayMetrics
from routectl.gateway.runtime import RuntimeHolder
from routectl.gateway.shadow import ShadowSender
from routectl.gateway.upstream import make_client
from routectl.store.base import ConfigStore


@dataclass(frozen=True)
class GatewaySettings:
    poll_interval_s: float = 0.25
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    shadow_concurrency: int = 16
    default_output_tokens: int = 256
    log_flush_interval_s: float = 0.5


class Gateway:
    def __init__(self, store: ConfigStore, settings: GatewaySettings, log_path: Path | None):
        self.store = store
        self.settings = settings
        self.metrics = GatewayMetrics()
        self.holder = RuntimeHolder(store, settings.poll_interval_s)
        self.holder.on_swap = lambda runtime: self.metrics.revision.set(runtime.revision)
        self.breakers = Breakers(settings.breaker_failures, settings.breaker_cooldown_s)
        self.decisions = DecisionLog(log_path, settings.log_flush_interval_s)
        self.decisions.open()
        self.client: httpx.AsyncClient = None  # type: ignore[assignment]  # set at startup
        self.shadows: ShadowSender = None  # type: ignore[assignment]

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.client = make_client()
        self.shadows = ShadowSender(self.client, self.metrics, self.settings.shadow_concurrency)
        await self.holder.load()
        self.decisions.start()
        poller = asyncio.create_task(self.holder.poll_forever())
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await self.shadows.close()
            await self.client.aclose()
            await self.decisions.close()

    async def chat(self, request: Request) -> Response:
        return await chat_completions(self, request)

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


def admin_routes(store: ConfigStore, admin_token: str | None, insecure_local: bool) -> list[Mount]:
    """The admin API under /admin/v1, when this installation has it."""
    if importlib.util.find_spec("routectl.admin.http") is None:
        return []
    from routectl.admin.http import admin_app
    from routectl.admin.service import AdminService

    return [Mount("/admin/v1", app=admin_app(AdminService(store), admin_token, insecure_local))]


def create_app(
    store: ConfigStore,
    *,
    admin_token: str | None = None,
    insecure_local: bool = False,
    log_path: Path | None = None,
    settings: GatewaySettings | None = None,
) -> Starlette:
    gw = Gateway(store, settings or GatewaySettings(), log_path)
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", gw.chat, methods=["POST"]),
            Route("/v1/models", gw.models, methods=["GET"]),
            Route("/metrics", gw.prometheus, methods=["GET"]),
            Route("/healthz", gw.health, methods=["GET"]),
            *admin_routes(store, admin_token, insecure_local),
        ],
        lifespan=gw.lifespan,
    )
    app.state.gateway = gw
    return app
