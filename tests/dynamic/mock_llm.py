"""A mock OpenAI-compatible provider that can answer badly, and serves embeddings.

``{url}/{provider}/chat/completions`` answers as the provider's :class:`Script`
says, one entry per request (the last one repeats): ``ok``, ``truncated``
(finish_reason ``length``), ``refusal``, ``badjson``, ``json:<text>`` (that text
as the content), ``judge:<score>`` and ``classify`` (structured output: the
intent whose name appears in the user's text, else the first of the schema's
enum). ``{url}/{provider}/embeddings`` returns hashed bag-of-words vectors.
Both check the request the way the real API would reject it (400), and record it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ROLES = {"system", "user", "assistant", "tool", "developer"}
DIMENSIONS = 64


@dataclass
class Script:
    answers: list[str] = field(default_factory=lambda: ["ok"])
    received: list[dict[str, Any]] = field(default_factory=list)
    embedded: list[list[str]] = field(default_factory=list)

    def next(self) -> str:
        index = min(len(self.received) - 1, len(self.answers) - 1)
        return self.answers[index]


def protocol_error(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "'model' is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return "each message needs a valid 'role'"
        if not isinstance(message.get("content"), str | list):
            return "each message needs 'content'"
    fmt = body.get("response_format")
    if fmt is not None:
        schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
        if fmt.get("type") != "json_schema" or not isinstance(schema, dict):
            return "response_format must be {type: json_schema, json_schema: {schema}}"
    return None


def completion(model: str, content: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


def embed(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
        vector[slot % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class MockLLM:
    def __init__(self) -> None:
        self.scripts: dict[str, Script] = defaultdict(Script)
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/{provider}/chat/completions", self.chat, methods=["POST"]),
                Route("/{provider}/embeddings", self.embeddings, methods=["POST"]),
            ]
        )

    def __getitem__(self, provider: str) -> Script:
        return self.scripts[provider]

    async def chat(self, request: Request) -> Response:
        script = self.scripts[request.path_params["provider"]]
        body = await request.json()
        script.received.append(body)
        problem = protocol_error(body)
        if problem:
            return JSONResponse({"error": {"message": problem, "type": "invalid_request"}}, 400)
        kind = script.next()
        model = body["model"]
        if kind == "truncated":
            return JSONResponse(completion(model, "The answer starts but", "length"))
        if kind == "refusal":
            return JSONResponse(completion(model, "I'm sorry, but I can't help with that."))
        if kind == "badjson":
            return JSONResponse(completion(model, '{"total": 12,'))
        if kind.startswith("json:"):
            return JSONResponse(completion(model, kind[5:]))
        if kind.startswith("judge:"):
            return JSONResponse(completion(model, json.dumps({"score": float(kind[6:])})))
        if kind == "classify":
            names = body["response_format"]["json_schema"]["schema"]["properties"]["intent"]
            user = " ".join(m["content"] for m in body["messages"] if m["role"] == "user")
            chosen = next((n for n in names["enum"] if n in user.lower()), names["enum"][0])
            verdict = {"intent": chosen, "confidence": 0.9 if chosen in user.lower() else 0.2}
            return JSONResponse(completion(model, json.dumps(verdict)))
        if kind == "500":
            return JSONResponse({"error": {"message": "boom"}}, 500)
        return JSONResponse(completion(model, f"a good answer from {model}"))

    async def embeddings(self, request: Request) -> Response:
        script = self.scripts[request.path_params["provider"]]
        body = await request.json()
        texts = body.get("input") if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(body.get("model"), str) or not (
            isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)
        ):
            return JSONResponse({"error": {"message": "'model' and 'input' are required"}}, 400)
        script.embedded.append(texts)
        data = [
            {"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(texts)
        ]
        return JSONResponse({"object": "list", "data": data, "model": body["model"]})
