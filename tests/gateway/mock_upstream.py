"""A mock upstream of every provider protocol: one server, one path prefix per provider.

``{url}/{provider}/chat/completions`` (OpenAI) and the Azure, Anthropic,
Bedrock and Vertex paths of ``gateway.protocols`` answer as that provider's
:class:`Behaviour` says: ``ok``, ``429``, ``500``, ``hang`` (sleeps past any
timeout), ``too-long`` (the protocol's context-length error), and stream when
the request asks for it (``stall_after=n``: the stream sends its headers and
``n`` chunks, then goes silent). Every request is recorded, in the protocol's
own shape; protocol violations are answered 400 and listed in ``violations``.
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

from gateway import protocols


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | 429 | 500 | hang | too-long | garbled (200, not the protocol's shape)
    chunks: int = 3
    chunk_delay_s: float = 0.0
    stall_after: int | None = None  # streams: chunks sent before going silent (0: none)
    received: list[dict[str, Any]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    cookies: list[str | None] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def completion(provider: str, model: str, usage: tuple[int, int] = (11, 7)) -> dict[str, Any]:
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
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


class MockUpstream:
    def __init__(self, api_key: str = "sk-provider-canary-7731") -> None:
        self.api_key = api_key
        self.echo_usage = False
        self.providers: dict[str, Behaviour] = defaultdict(Behaviour)
        self.tokens = protocols.TokenIssuer()
        vertex = "/{provider}/v1/projects/{project}/locations/{location}/endpoints/openapi"
        self.app = Starlette(
            routes=[
                Route("/{provider}/chat/completions", self.chat, methods=["POST"]),
                Route(
                    "/{provider}/openai/deployments/{deployment}/chat/completions",
                    self.azure,
                    methods=["POST"],
                ),
                Route("/{provider}/v1/messages", self.anthropic, methods=["POST"]),
                Route("/{provider}/model/{model_id}/{action}", self.bedrock, methods=["POST"]),
                Route("/{provider}/token", self.token, methods=["POST"]),
                Route(vertex + "/chat/completions", self.vertex, methods=["POST"]),
            ]
        )

    def usage(self, text: str, max_tokens: int | None) -> tuple[int, int]:
        """The usage answers report: fixed, or with ``echo_usage`` what the gateway routed with
        (its input estimate for a one-message prompt, and the requested output)."""
        if not self.echo_usage or max_tokens is None:
            return (11, 7)
        return (len(text) // 4 + 1, max_tokens)

    def all_violations(self) -> dict[str, list[str]]:
        return {name: b.violations for name, b in self.providers.items() if b.violations}

    async def _fail(self, behaviour: Behaviour) -> str | None:
        """The failure mode to answer with, after the hang if that is the mode."""
        if behaviour.mode == "hang":  # well past the tests' provider timeouts
            await asyncio.sleep(2)
        return behaviour.mode if behaviour.mode != "ok" else None

    async def azure(self, request: Request) -> Response:
        behaviour = self.providers[request.path_params["provider"]]
        if request.headers.get("api-key") != self.api_key:
            return protocols.violation(behaviour, "api-key header is missing or wrong")
        if not request.query_params.get("api-version"):
            return protocols.violation(behaviour, "api-version query parameter is missing")
        return await self.chat(request)

    async def vertex(self, request: Request) -> Response:
        behaviour = self.providers[request.path_params["provider"]]
        problem = self.tokens.check_bearer(request)
        if problem:
            return protocols.violation(behaviour, problem)
        return await self.chat(request)

    async def token(self, request: Request) -> Response:
        return await self.tokens.token(request, self.providers[request.path_params["provider"]])

    async def anthropic(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        behaviour = self.providers[provider]
        body = await request.json()
        behaviour.received.append(body)
        behaviour.paths.append(request.url.path)
        problem = protocols.check_anthropic(request, body, self.api_key)
        if problem:
            return protocols.violation(behaviour, problem)
        failure = await self._fail(behaviour)
        if failure == "429":
            return protocols.anthropic_error(429, "rate_limit_error", "slow down")
        if failure in ("500", "hang"):
            return protocols.anthropic_error(529, "overloaded_error", "Overloaded")
        if failure == "too-long":
            return protocols.anthropic_error(
                400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"
            )
        if failure == "garbled":  # a 200 whose body is not a Messages answer
            return JSONResponse({"type": "message", "content": 7})
        if body.get("stream"):
            return StreamingResponse(
                protocols.anthropic_events(provider, body, behaviour),
                media_type="text/event-stream",
            )
        first = body["messages"][0]["content"][0]
        usage = self.usage(first.get("text", ""), body["max_tokens"])
        return protocols.anthropic_answer(provider, body, usage)

    async def bedrock(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        behaviour = self.providers[provider]
        raw = await request.body()
        behaviour.paths.append(request.scope["raw_path"].decode())
        problem = protocols.check_sigv4(request, raw)
        body = json.loads(raw)
        behaviour.received.append(body)
        problem = problem or protocols.check_converse(body)
        action = request.path_params["action"]
        if action not in ("converse", "converse-stream"):
            problem = problem or f"unknown action {action}"
        if problem:
            return protocols.violation(behaviour, problem)
        model = request.path_params["model_id"]
        failure = await self._fail(behaviour)
        if failure == "429":
            return protocols.bedrock_error(429, "ThrottlingException", "Too many requests")
        if failure in ("500", "hang"):
            return protocols.bedrock_error(503, "ServiceUnavailableException", "unavailable")
        if failure == "too-long":
            return protocols.bedrock_error(
                400, "ValidationException", "Input is too long for requested model."
            )
        if action == "converse-stream":
            return StreamingResponse(
                protocols.converse_events(provider, model, body, behaviour),
                media_type="application/vnd.amazon.eventstream",
            )
        first = body["messages"][0]["content"][0]
        usage = self.usage(first.get("text", ""), body["inferenceConfig"].get("maxTokens"))
        return protocols.converse_answer(provider, model, body, usage)

    def __getitem__(self, provider: str) -> Behaviour:
        return self.providers[provider]

    async def chat(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        behaviour = self.providers[provider]
        body = await request.json()
        behaviour.received.append(body)
        behaviour.paths.append(request.url.path)
        behaviour.authorization.append(request.headers.get("authorization"))
        behaviour.cookies.append(request.headers.get("cookie"))
        if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return protocols.violation(behaviour, "model and messages are required")
        if behaviour.mode == "hang":  # well past the tests' provider timeouts
            await asyncio.sleep(2)
            return JSONResponse({"error": {"message": "too late"}}, 504)
        if behaviour.mode == "too-long":
            error = {"message": "maximum context length", "code": "context_length_exceeded"}
            return JSONResponse({"error": error}, 400)
        if behaviour.mode == "429":
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}}, 429)
        if behaviour.mode == "500":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
        if body.get("stream"):
            return StreamingResponse(
                self._chunks(provider, body["model"], behaviour), media_type="text/event-stream"
            )
        text = body["messages"][0].get("content")
        if isinstance(text, list):  # the first text part, as a one-part prompt
            text = next((p.get("text") for p in text if p.get("type") == "text"), "")
        usage = self.usage(text if isinstance(text, str) else "", body.get("max_tokens"))
        response = JSONResponse(completion(provider, body["model"], usage))
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
