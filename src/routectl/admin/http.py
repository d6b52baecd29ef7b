"""The admin API over HTTP: :class:`~routectl.admin.service.AdminService` behind starlette.

``admin_app(service, token)`` is mounted by the gateway at ``/admin/v1``. Every
route but ``/health`` and ``/openapi.json`` needs ``Authorization: Bearer
<token>``; without a token the app only starts with ``insecure_local=True`` and
then admits loopback clients only. Errors are ``{"error": {"code", "message",
…}}`` (see :mod:`routectl.admin.service` for the wire format); no response ever
carries a pushed secret value, the token, or a traceback.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from routectl.admin.openapi import openapi_document
from routectl.admin.service import AdminService, InvalidPayload, NotFound
from routectl.counters.base import CountersUnavailable
from routectl.store.base import InvalidChange, StaleRevision, StoreError

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_HISTORY = 1000
# Readiness probes time out quickly; a store that hangs must read as not ready.
HEALTH_DEADLINE_S = 2.0
_IF_MATCH = re.compile(r'^\s*"?(\d{1,18})"?\s*$')

Endpoint = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """An error answer: HTTP status, a stable code, a message saying what to fix."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        error = {"code": self.code, "message": str(self), **self.details}
        return JSONResponse({"error": error}, status_code=self.status, headers=headers)


def _etag(revision: int) -> dict[str, str]:
    return {"ETag": f'"{revision}"'}


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    """Who may call the API: bearer-token holders, or loopback clients in insecure mode."""

    def __init__(self, token: str | None, insecure_local: bool) -> None:
        if not token and not insecure_local:
            raise ValueError(
                "the admin API needs a token (set ROUTECTL_ADMIN_TOKEN), or explicitly "
                "insecure_local=True to admit unauthenticated loopback clients"
            )
        self._token = token.encode() if token else None

    def check(self, request: Request) -> None:
        if self._token is None:
            if not _is_loopback(request.client.host if request.client else None):
                raise ApiError(
                    403,
                    "forbidden",
                    "this admin API runs without a token and admits loopback clients only; "
                    "restart the gateway with ROUTECTL_ADMIN_TOKEN set to call it remotely",
                )
            return
        header = request.headers.get("authorization")
        if header is None:
            raise ApiError(
                401,
                "unauthenticated",
                "missing Authorization header: send 'Authorization: Bearer <token>' "
                "with the gateway's admin token (ROUTECTL_ADMIN_TOKEN)",
            )
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise ApiError(
                401,
                "unauthenticated",
                "malformed Authorization header: expected 'Bearer <token>'",
            )
        # Constant time: how much of a guess matched must not show in the timing.
        if not hmac.compare_digest(credentials.strip().encode(), self._token):
            raise ApiError(403, "forbidden", "the bearer token is not this gateway's admin token")


# ----------------------------------------------------------------------------- request parts


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            422,
            "invalid_parameter",
            f"query parameter {name} must be an integer from {low} to {high}",
            path=["query", name],
        )
    return int(raw)


def _if_match(request: Request) -> int:
    raw = request.headers.get("if-match")
    if raw is None:
        raise ApiError(
            428,
            "precondition_required",
            'a change set needs If-Match: "<revision>" (the revision it was planned '
            "against, the ETag of GET /config)",
        )
    found = _IF_MATCH.match(raw)
    if found is None:
        raise ApiError(
            400,
            "invalid_if_match",
            'If-Match must be one revision number, e.g. If-Match: "3" (not * or a list)',
        )
    return int(found.group(1))


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ApiError(
            422,
            "invalid_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            path=[],
        ) from None
    except (UnicodeDecodeError, RecursionError):
        raise ApiError(
            422, "invalid_json", "the body is not UTF-8 JSON of sane nesting depth", path=[]
        ) from None


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the body exceeds {limit // (1024 * 1024)} MiB; split the change set into smaller ones",
    )


# ----------------------------------------------------------------------------- the app


def admin_app(
    service: AdminService,
    token: str | None,
    insecure_local: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
    spend: Callable[[], Awaitable[dict[str, Any]]] | None = None,
) -> Starlette:
    """The admin API as an ASGI app, to mount at ``/admin/v1``."""
    guard = Guard(token, insecure_local)
    document = openapi_document()

    def guarded(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            guard.check(request)
            return await handler(request)

        return endpoint

    async def health(request: Request) -> Response:
        try:
            with anyio.fail_after(HEALTH_DEADLINE_S):
                revision = await anyio.to_thread.run_sync(
                    service.store.current_revision, abandon_on_cancel=True
                )
        except (StoreError, TimeoutError):
            # Unauthenticated: say that the store is down, not where it is.
            error = ApiError(503, "store_unavailable", "the configuration store is unavailable")
            return error.response()
        return JSONResponse({"status": "ok", "revision": revision})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def get_config(request: Request) -> Response:
        revision = _int_param(request, "revision", None, 0, 2**62)
        config = await run_in_threadpool(service.get_config, revision)
        return JSONResponse(config, headers=_etag(config["revision"]))

    async def get_resource(request: Request) -> Response:
        kind, name = request.path_params["kind"], request.path_params["name"]

        def read() -> tuple[int, dict[str, Any]]:
            # The revision is read first: the ETag is never newer than the content.
            revision = service.store.current_revision()
            return revision, service.get_resource(kind, name)

        revision, resource = await run_in_threadpool(read)
        return JSONResponse(resource, headers=_etag(revision))

    async def list_revisions(request: Request) -> Response:
        limit = _int_param(request, "limit", 100, 1, MAX_HISTORY)

        def read() -> tuple[int, list[dict[str, Any]]]:
            return service.store.current_revision(), service.history(limit or 100)

        revision, history = await run_in_threadpool(read)
        return JSONResponse(history, headers=_etag(revision))

    async def get_revision(request: Request) -> Response:
        config = await run_in_threadpool(service.get_config, request.path_params["revision"])
        return JSONResponse(config, headers=_etag(config["revision"]))

    async def apply_changeset(request: Request) -> Response:
        if_match = _if_match(request)
        payload = await _json_body(request, max_body_bytes)
        result = await run_in_threadpool(service.apply, payload, if_match)
        return JSONResponse(result, headers=_etag(result["revision"]))

    async def get_spend(request: Request) -> Response:
        if spend is None:
            raise ApiError(404, "not_found", "spend is served by a running gateway only")
        try:
            report = await spend()
        except CountersUnavailable as exc:
            raise ApiError(503, "counters_unavailable", str(exc)) from None
        return JSONResponse(report)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/spend", guarded(get_spend), methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/config", guarded(get_config), methods=["GET"]),
        Route("/resources/{kind}/{name}", guarded(get_resource), methods=["GET"]),
        Route("/revisions", guarded(list_revisions), methods=["GET"]),
        Route("/revisions/{revision:int}", guarded(get_revision), methods=["GET"]),
        Route("/changesets", guarded(apply_changeset), methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers=_EXCEPTION_HANDLERS,
        middleware=[Middleware(_WithoutTrailingSlash)],
    )
    # Starlette's own slash handling answers 307 to a URL built from the Host header,
    # before any authentication: a redirect anyone can aim at any host.
    app.router.redirect_slashes = False
    return app


class _WithoutTrailingSlash:
    """Serve ``/config/`` as ``/config`` (same route, same guard) instead of redirecting."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            root = scope.get("root_path", "")
            if path.endswith("/") and len(path) > len(root) + 1:
                scope = {**scope, "path": path.rstrip("/") or "/"}
                if "raw_path" in scope and scope["raw_path"]:
                    scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


# ----------------------------------------------------------------------------- errors


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return exc.response(headers)


async def _invalid_payload(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidPayload)
    return ApiError(422, "invalid_payload", str(exc), path=list(exc.path)).response()


async def _stale(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StaleRevision)
    return ApiError(
        412,
        "stale_revision",
        str(exc),
        expected_revision=exc.expected,
        current_revision=exc.current,
    ).response(_etag(exc.current))


async def _invalid_change(request: Request, exc: Exception) -> Response:
    return ApiError(409, "conflict", f"{exc}; nothing was written").response()


async def _not_found(request: Request, exc: Exception) -> Response:
    return ApiError(404, "not_found", str(exc)).response()


async def _store_down(request: Request, exc: Exception) -> Response:
    return ApiError(503, "store_unavailable", str(exc)).response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return ApiError(exc.status_code, code, message).response(exc.headers)


async def _internal(request: Request, exc: Exception) -> Response:
    # The exception goes to the server log; the client learns nothing about internals.
    return ApiError(500, "internal", "internal error; see the gateway's log").response()


_EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ApiError: _api_error,
    InvalidPayload: _invalid_payload,
    StaleRevision: _stale,
    InvalidChange: _invalid_change,
    NotFound: _not_found,
    StoreError: _store_down,
    HTTPException: _http_error,
    Exception: _internal,
}
