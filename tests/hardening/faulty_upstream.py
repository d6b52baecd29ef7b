"""The gateway tests' mock upstream plus the modes ``400ctx`` (a 400 context_length_exceeded)
and ``503``; used by the hardening tests and benchmarks/bench_reliability.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.mock_upstream import MockUpstream

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
