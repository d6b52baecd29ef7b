"""Shadow copies: sent after the decision, never awaited by the client, bounded.

At most ``limit`` shadow requests are in flight; a copy arriving when all slots
are taken is dropped (and counted), so shadows can neither slow the live
traffic nor pile up behind a slow candidate. Results are only metered, and
logged at DEBUG: an INFO line per copy would be a formatted, synchronous
stderr write on the event loop for every shadowed request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

from routectl.gateway.metrics import GatewayMetrics
from routectl.gateway.providers import BadClientRequest
from routectl.gateway.providers.vertex import TokenUnavailable
from routectl.gateway.runtime import Upstream

log = logging.getLogger("routectl.gateway.shadow")


class ShadowSender:
    def __init__(self, client: aiohttp.ClientSession, metrics: GatewayMetrics, limit: int) -> None:
        self.client = client
        self.metrics = metrics
        self.limit = limit
        self.in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def send(
        self,
        upstream: Upstream,
        body: dict[str, Any],
        request_id: str,
        on_usage: Callable[[dict[str, Any] | None], Awaitable[None]] | None = None,
    ) -> bool:
        """Start a shadow copy; False when it was dropped (no free slot or unusable upstream)."""
        if upstream.adapter is None or upstream.problem or self.in_flight >= self.limit:
            self.metrics.shadow(upstream, "dropped")
            return False
        self.in_flight += 1
        body = {**body, "stream": False}
        task = asyncio.create_task(self._run(upstream, body, request_id, on_usage))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(
        self,
        upstream: Upstream,
        body: dict[str, Any],
        request_id: str,
        on_usage: Callable[[dict[str, Any] | None], Awaitable[None]] | None,
    ) -> None:
        started = time.perf_counter()
        assert upstream.adapter is not None
        usage: dict[str, Any] | None = None
        try:
            outgoing = await upstream.adapter.prepare(body, upstream.target, stream=False)
            async with self.client.post(
                URL(outgoing.url, encoded=True),
                data=outgoing.data,
                headers=outgoing.headers,
                timeout=upstream.timeout,
            ) as response:
                raw = await response.read()
            outcome = "ok" if response.status < 400 else f"http {response.status}"
            if outcome == "ok" and on_usage is not None:
                usage = upstream.adapter.answer(response.status, raw, upstream.target)[1]
        except TimeoutError:
            outcome = "timeout"
        except (aiohttp.ClientError, BadClientRequest, TokenUnavailable, ValueError) as exc:
            outcome = type(exc).__name__
        finally:
            self.in_flight -= 1
        self.metrics.shadow(upstream, "ok" if outcome == "ok" else "failed")
        if outcome == "ok" and on_usage is not None:  # a shadow's cost: budgets' shadow line
            await on_usage(usage if isinstance(usage, dict) else None)
        log.debug(
            "shadow request_id=%s model=%s outcome=%s latency_ms=%.1f",
            request_id,
            upstream.model,
            outcome,
            (time.perf_counter() - started) * 1000,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
