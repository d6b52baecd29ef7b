"""``openai-compatible``: OpenAI's own API and the many servers that speak it (vLLM, Mistral, ...).

``{baseUrl}/chat/completions`` with ``Authorization: Bearer <apiKey>``. The body
goes as the client sent it, with ``model`` set to the upstream id; answers come
back as the upstream gave them, only ``model`` renamed to the routectl Model's
name, so a client sees one name per model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from routectl.core.policy import ProviderInfo
from routectl.core.providers import SERVED
from routectl.gateway.providers.base import (
    JSON_HEADERS,
    Outgoing,
    ProviderAdapter,
    Target,
    Translated,
    register,
    sse_events,
)


@register
class OpenAICompatible(ProviderAdapter):
    type = "openai-compatible"
    serves = SERVED["openai-compatible"]

    def __init__(
        self, provider: ProviderInfo, api_key: str | None, headers: Mapping[str, str]
    ) -> None:
        super().__init__(provider, api_key, headers)
        self.headers = {**JSON_HEADERS, **self.auth_headers(), **self.extra_headers}

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def url(self, target: Target) -> str:
        return f"{self.base_url}/chat/completions"

    async def prepare(self, body: dict[str, Any], target: Target, stream: bool) -> Outgoing:
        body["model"] = target.upstream_model
        return Outgoing(self.url(target), self.headers, orjson.dumps(body))

    def answer(self, status: int, content: bytes, target: Target) -> Translated:
        if status >= 400:
            return Translated(content, None)
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            return Translated(content, None)
        if not isinstance(body, dict):
            return Translated(content, None)
        usage = body.get("usage")
        usage = usage if isinstance(usage, dict) else None
        if target.upstream_model != target.name and "model" in body:
            body["model"] = target.name
            return Translated(orjson.dumps(body), usage)
        return Translated(content, usage)

    async def stream(self, chunks: AsyncIterator[bytes], target: Target) -> AsyncIterator[bytes]:
        rename = target.upstream_model != target.name
        async for event, data in sse_events(chunks):
            if rename and data.startswith(b"{"):
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError:
                    chunk = None
                if isinstance(chunk, dict) and "model" in chunk:
                    chunk["model"] = target.name
                    data = orjson.dumps(chunk)
            head = f"event: {event}\n".encode() if event else b""
            yield head + b"data: " + data + b"\n\n"
