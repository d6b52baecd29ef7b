"""The outermost ASGI layer: no 5xx of the gateway's own goes unlogged or unmetered.

Every 5xx answer not already recorded by the chat endpoint (which logs and meters its own
502s) is counted in ``routectl_gateway_server_errors_total{path, status}`` and written to
the decision log (``status``, ``request_id``, ``error``). An exception that escapes an
endpoint becomes a 500 in OpenAI's error shape, when nothing was sent yet, and one log line
(its type and where; the traceback only at DEBUG, since it may quote request data).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routectl.gateway.chat import error_body, new_request_id
from routectl.gateway.decisionlog import FIELDS, utc_timestamp

if TYPE_CHECKING:
    from routectl.gateway.app import Gateway

log = logging.getLogger("routectl.gateway")

# Label values: a fixed set, whatever paths clients send.
_PATH_GROUPS = ("/v1/chat/completions", "/v1/models", "/metrics", "/healthz", "/admin/v1")


def path_group(path: str) -> str:
    for group in _PATH_GROUPS:
        if path == group or path.startswith(group + "/"):
            return group
    return "other"


class ErrorBoundary:
    def __init__(self, app: ASGIApp, gateway: Gateway, recorded_paths: frozenset[str]) -> None:
        self.app = app
        self.gateway = gateway
        self.recorded_paths = recorded_paths  # endpoints that log and meter their own 5xx
        self.errors = Counter(
            "routectl_gateway_server_errors",
            "5xx answers the gateway produced itself (not relayed from an upstream), by path.",
            ["path", "status"],
            registry=gateway.metrics.registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()
        status: int | None = None

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            log.error(
                "internal error answering %s %s: %s",
                scope.get("method"),
                path_group(scope.get("path", "")),
                type(exc).__name__,
            )
            log.debug("internal error", exc_info=True)
            if status is None:
                await _send_500(watched)
            # After the start of an answer (a stream) the client sees it cut short: still
            # the gateway's own failure, recorded as a 500.
            self._record(scope, 500, started, f"internal: {type(exc).__name__}")
            return
        if status is not None and status >= 500 and scope.get("path") not in self.recorded_paths:
            self._record(scope, status, started, "gateway")

    def _record(self, scope: Scope, status: int, started: float, error: str) -> None:
        group = path_group(scope.get("path", ""))
        self.errors.labels(group, str(status)).inc()
        request_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:200]
        record = dict.fromkeys(FIELDS)
        record.update(
            ts=utc_timestamp(started),
            request_id=request_id or new_request_id(),
            attempts=[],
            input_tokens=0,
            cost=0.0,
            latency_ms=round((time.time() - started) * 1000.0, 3),
            status=status,
            shadows=[],
            path=group,
            error=error,
        )
        self.gateway.decisions.write(record)


async def _send_500(send: Send) -> None:
    body = error_body("internal error; see the gateway's log", "server_error", "internal_error")
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
