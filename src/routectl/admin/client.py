"""How routectl reaches a gateway's admin API: in process, or over HTTP.

``AdminBackend`` is the few calls reconcile needs. :class:`EmbeddedBackend`
calls :class:`~routectl.admin.service.AdminService` on a local store (the
default, no server); :class:`HttpBackend` speaks the same wire format to
``routectl gateway serve``. Both validate what comes back with the same
pydantic models, so a malformed answer is an error, not a wrong plan.

Every failure is a :class:`GatewayError` whose message is one line naming the
gateway and what to check. Retries: reads retry transient failures with
backoff; an apply is retried only when the request provably never left
(connection refused or connect timeout), because the If-Match precondition
cannot tell "my apply landed" from "someone else's did".
"""

from __future__ import annotations

import re
import time
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routectl.admin.service import AdminService, InvalidPayload, NotFound
from routectl.store import open_store
from routectl.store.base import ConfigStore, InvalidChange, StaleRevision, StoreError

API_PREFIX = "/admin/v1"


# ----------------------------------------------------------------------------- wire (responses)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ResourceOut(_Wire):
    kind: str
    name: str
    owner: str | None = None
    protected: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    spec: dict[str, Any]
    hash: str
    revision: int
    updated_at: str
    updated_by: str


class ConfigOut(_Wire):
    revision: int = Field(ge=0)
    resources: list[ResourceOut]


class RevisionOut(_Wire):
    revision: int
    author: str
    created_at: str
    plan_hash: str | None = None
    summary: str | None = None
    changes: list[dict[str, Any]] = Field(default_factory=list)


class ApplyOut(_Wire):
    revision: int
    applied: int


# ----------------------------------------------------------------------------- errors


class GatewayError(Exception):
    """A one-line, user-facing failure to talk to a gateway."""


class Conflict(GatewayError):
    """The If-Match precondition failed: the configuration moved."""

    def __init__(self, message: str, expected: int, current: int | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.current = current


class Rejected(GatewayError):
    """The gateway refused the change set as invalid (nothing was written)."""


# ----------------------------------------------------------------------------- protocol


class AdminBackend(Protocol):
    name: str  # how plans and errors name the gateway

    def get_config(self) -> ConfigOut: ...

    def history(self, limit: int = 1000) -> list[RevisionOut]: ...

    def apply(self, payload: dict[str, Any], if_match: int) -> ApplyOut: ...

    def close(self) -> None: ...


def _validated(model: type[BaseModel], data: Any, gateway: str, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise GatewayError(
            f"gateway {gateway} sent a malformed answer to {what} ({where}: {first['msg']}); "
            "is it a routectl gateway of a compatible version?"
        ) from None


# ----------------------------------------------------------------------------- embedded


class EmbeddedBackend:
    """The admin service on a local store, in this process."""

    def __init__(self, store_url: str) -> None:
        self.name = f"embedded store {store_url}"
        self.store_url = store_url
        self._store: ConfigStore | None = None

    def _service(self) -> AdminService:
        if self._store is None:
            try:
                self._store = open_store(self.store_url)
            except StoreError as exc:
                raise GatewayError(f"{self.name}: {exc}") from None
        return AdminService(self._store)

    def get_config(self) -> ConfigOut:
        try:
            data = self._service().get_config()
        except (StoreError, NotFound) as exc:
            raise GatewayError(f"{self.name}: {exc}") from None
        return _validated(ConfigOut, data, self.name, "get config")

    def history(self, limit: int = 1000) -> list[RevisionOut]:
        try:
            data = self._service().history(limit)
        except StoreError as exc:
            raise GatewayError(f"{self.name}: {exc}") from None
        return [_validated(RevisionOut, item, self.name, "history") for item in data]

    def apply(self, payload: dict[str, Any], if_match: int) -> ApplyOut:
        try:
            data = self._service().apply(payload, if_match)
        except StaleRevision as exc:
            raise Conflict(str(exc), exc.expected, exc.current) from None
        except InvalidPayload as exc:
            where = ".".join(str(p) for p in exc.path)
            raise Rejected(f"{self.name} rejected the change set at {where}: {exc}") from None
        except InvalidChange as exc:
            raise Rejected(f"{self.name} rejected the change set: {exc}") from None
        except StoreError as exc:
            raise GatewayError(f"{self.name}: {exc}") from None
        return _validated(ApplyOut, data, self.name, "apply")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# ----------------------------------------------------------------------------- HTTP

_RETRYABLE_STATUS = {502, 503, 504}
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


class HttpBackend:
    """The admin API of ``routectl gateway serve``, over HTTP(S)."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_s: float = 0.25,
    ) -> None:
        base = url.rstrip("/").removesuffix(API_PREFIX)
        self.name = base
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        headers = {"Accept": "application/json", "User-Agent": "routectl"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._has_token = bool(token)
        self._client = httpx.Client(
            base_url=base + API_PREFIX,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            follow_redirects=False,
        )

    # -- reads: retried with backoff on transient failures

    def get_config(self) -> ConfigOut:
        return _validated(ConfigOut, self._read("/config"), self.name, "GET /config")

    def history(self, limit: int = 1000) -> list[RevisionOut]:
        data = self._read("/revisions", params={"limit": limit})
        if not isinstance(data, list):
            raise GatewayError(
                f"gateway {self.name} sent a malformed answer to GET /revisions (expected a "
                "list); is it a routectl gateway of a compatible version?"
            )
        return [_validated(RevisionOut, item, self.name, "GET /revisions") for item in data]

    def _read(self, path: str, params: dict[str, Any] | None = None) -> Any:
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                response = self._client.get(path, params=params)
            except httpx.ReadTimeout as exc:
                # It took the request and did not answer in time: asking again only doubles
                # the wait (a gateway that hangs would hold plan for attempts x timeout).
                raise self._transport_error(exc, f"GET {path}") from None
            except httpx.TransportError as exc:
                if last:
                    raise self._transport_error(exc, f"GET {path}") from None
            else:
                if response.status_code not in _RETRYABLE_STATUS or last:
                    return self._json(response, f"GET {path}")
            time.sleep(self._backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    # -- the write: retried only when it provably was not sent

    def apply(self, payload: dict[str, Any], if_match: int) -> ApplyOut:
        what = "POST /changesets"
        for attempt in range(self._attempts):
            try:
                response = self._client.post(
                    "/changesets", json=payload, headers={"If-Match": f'"{if_match}"'}
                )
                break
            except _NOT_SENT as exc:
                if attempt == self._attempts - 1:
                    raise self._transport_error(exc, what) from None
                time.sleep(self._backoff_s * 2**attempt)
            except httpx.TransportError as exc:
                raise GatewayError(
                    f"gateway {self.name}: {what} failed after the request was sent "
                    f"({_describe(exc)}); it may or may not have been applied: run "
                    "routectl plan to see the gateway's state before retrying"
                ) from None
        if response.status_code == 412:
            message = _error_message(response)
            current = _current_revision(response, message)
            raise Conflict(message or "stale revision", if_match, current)
        return _validated(ApplyOut, self._json(response, what), self.name, what)

    # -- errors

    def _json(self, response: httpx.Response, what: str) -> Any:
        status = response.status_code
        if status in (401, 403):
            detail = _error_message(response) or response.reason_phrase
            hint = (
                "check that ROUTECTL_TOKEN matches the gateway's ROUTECTL_ADMIN_TOKEN"
                if self._has_token
                else "set ROUTECTL_TOKEN to the gateway's admin token (ROUTECTL_ADMIN_TOKEN)"
            )
            raise GatewayError(
                f"gateway {self.name} refused the admin token on {what} ({status}: {detail}); "
                f"{hint}"
            )
        if status in (409, 422):
            raise Rejected(
                f"gateway {self.name} rejected the change set ({status}: "
                f"{_error_message(response) or response.reason_phrase}); nothing was written"
            )
        if status == 404:
            raise GatewayError(
                f"gateway {self.name} has no admin API at {API_PREFIX} (404 on {what}); "
                "check --gateway/ROUTECTL_GATEWAY points at a routectl gateway"
            )
        if status >= 500:
            detail = _error_message(response) or response.reason_phrase
            raise GatewayError(
                f"gateway {self.name} failed on {what} (HTTP {status}: {detail}); "
                "check the gateway's logs"
            )
        if status >= 400:
            raise GatewayError(
                f"gateway {self.name} refused {what} (HTTP {status}: "
                f"{_error_message(response) or response.reason_phrase})"
            )
        try:
            return response.json()
        except ValueError:
            raise GatewayError(
                f"gateway {self.name} sent a malformed answer to {what} (not JSON); "
                "is --gateway a routectl gateway?"
            ) from None

    def _transport_error(self, exc: httpx.TransportError, what: str) -> GatewayError:
        return GatewayError(
            f"gateway {self.name} is unreachable ({_describe(exc)} on {what}); check "
            "--gateway/ROUTECTL_GATEWAY and that `routectl gateway serve` is running there"
        )

    def close(self) -> None:
        self._client.close()


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for an answer"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        return "connection refused" if "refused" in text else f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or "")
    return ""


def _current_revision(response: httpx.Response, message: str) -> int | None:
    try:
        error = response.json().get("error", {})
        for key in ("current_revision", "current"):
            if isinstance(error.get(key), int):
                return int(error[key])
    except (ValueError, AttributeError):
        pass
    found = re.search(r"(?:gateway|store) is at revision (\d+)", message)
    return int(found.group(1)) if found else None


def backend_for(locator: str, token: str | None, timeout_s: float = 30.0) -> AdminBackend:
    """An ``http(s)://`` gateway URL over HTTP; anything else is a local store URL."""
    if locator.startswith(("http://", "https://")):
        return HttpBackend(locator, token, timeout_s=timeout_s)
    return EmbeddedBackend(locator)
