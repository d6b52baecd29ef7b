"""Hardening fixtures: the gateway tests' fixtures, with an upstream that can also answer
400 ``context_length_exceeded`` and 503, and a store whose reads can be made to fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.conftest import (  # noqa: F401  (fixtures)
    APP_KEY,
    GatewayHandle,
    configure,
    credentials,
    gateway,
    mock,
    policy_dir,
    start_gateway,
    store,
)
from gateway.mock_upstream import MockUpstream
from gateway.servers import ServerThread

CONTEXT_LENGTH = {
    "error": {
        "message": "This model's maximum context length is 100 tokens.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
}


class FaultyUpstream(MockUpstream):
    """The gateway tests' mock upstream plus the modes ``400ctx`` and ``503``."""

    async def chat(self, request: Request) -> Response:
        behaviour = self.providers[request.path_params["provider"]]
        if behaviour.mode == "400ctx":
            behaviour.received.append(await request.json())
            behaviour.authorization.append(request.headers.get("authorization"))
            return JSONResponse(CONTEXT_LENGTH, 400)
        if behaviour.mode == "503":
            behaviour.received.append(await request.json())
            behaviour.authorization.append(request.headers.get("authorization"))
            return JSONResponse({"error": {"message": "overloaded"}}, 503)
        return await super().chat(request)


@pytest.fixture(scope="session")
def mock_server() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream()
    with ServerThread(upstream.app) as server:
        upstream.url = server.url  # type: ignore[attr-defined]
        yield upstream
