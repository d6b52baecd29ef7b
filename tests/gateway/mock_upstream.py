"""A mock OpenAI-compatible upstream: one server, one path prefix per provider.

``{url}/{provider}/chat/completions`` answers as that provider's
:class:`Behaviour` says: ``ok``, ``429``, ``500``, ``hang`` (sleeps past any
timeout), and streams when the request asks for it (``stall_after=n``: the stream
sends its headers and ``n`` chunks, then goes silent). Every request is recorded.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | 429 | 500 | hang
    chunks: int = 3
    chunk_delay_s: float = 0.0
    stall_after: int | None = None  # streams: chunks sent before going silent (0: none)
    received: list[dict[str, Any]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    cookies: list[str | None] = field(default_factory=list)


def completion(provider: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"answer from {provider}/{model}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


class MockUpstream:
    def __init__(self) -> None:
        self.providers: dict[str, Behaviour] = defaultdict(Behaviour)
        self.app = Starlette(
            routes=[Route("/{provider}/chat/completions", self.chat, methods=["POST"])]
        )

    def __getitem__(self, provider: str) -> Behaviour:
        return self.providers[provider]

    async def chat(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        behaviour = self.providers[provider]
        body = await request.json()
        behaviour.received.append(body)
        behaviour.authorization.append(request.headers.get("authorization"))
        behaviour.cookies.append(request.headers.get("cookie"))
        if behaviour.mode == "hang":  # well past the tests' provider timeouts
            await asyncio.sleep(2)
            return JSONResponse({"error": {"message": "too late"}}, 504)
        if behaviour.mode == "429":
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}}, 429)
        if behaviour.mode == "500":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
        if body.get("stream"):
            return StreamingResponse(
                self._chunks(provider, body["model"], behaviour), media_type="text/event-stream"
            )
        response = JSONResponse(completion(provider, body["model"]))
        response.set_cookie("upstream-session", provider)  # as some providers' edges do
        return response

    async def _chunks(self, provider: str, model: str, behaviour: Behaviour):
        for index in range(behaviour.chunks):
            if index == behaviour.stall_after:  # well past the tests' provider timeouts
                await asyncio.sleep(2)
                return
            delta = {"choices": [{"index": 0, "delta": {"content": f"{provider}#{index} "}}]}
            yield f"data: {json.dumps({'model': model, **delta})}\n\n".encode()
            await asyncio.sleep(behaviour.chunk_delay_s)
        usage = {"prompt_tokens": 11, "completion_tokens": behaviour.chunks, "total_tokens": 14}
        yield f"data: {json.dumps({'model': model, 'choices': [], 'usage': usage})}\n\n".encode()
        yield b"data: [DONE]\n\n"
