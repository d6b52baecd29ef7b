"""The shared base of provider adapters: OpenAI's chat-completions shape in, each protocol out.

The gateway speaks OpenAI's ``/v1/chat/completions`` to clients. An adapter
turns one such request body into its provider's HTTP request
(:meth:`ProviderAdapter.prepare`: URL, headers with credentials, bytes), and
its provider's answer back into OpenAI's shape: a complete body
(:meth:`ProviderAdapter.answer`), or a stream of OpenAI server-sent events
(:meth:`ProviderAdapter.stream`). Error answers keep the upstream's HTTP
status and get OpenAI's error shape, with ``code: context_length_exceeded``
where the provider says the prompt is too long, so the failover triggers read
one shape whatever the protocol.

Adapters register by provider type (:func:`register`); which types exist and
what each serves is declared once in :mod:`routectl.core.providers`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import orjson

from routectl.core.policy import ModelInfo, ProviderInfo
from routectl.core.providers import SERVED

JSON_HEADERS = {"content-type": "application/json", "accept-encoding": "identity"}


class AdapterProblem(Exception):
    """A provider configuration an adapter cannot use (the message says why)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One HTTP request to a provider."""

    url: str
    headers: Mapping[str, str]  # credentials included: never log these
    data: bytes


@dataclass(frozen=True, slots=True)
class Target:
    """What an adapter needs to know about the model it sends to."""

    name: str  # the routectl Model name: the one name clients see
    upstream_model: str
    max_output_tokens: int

    @classmethod
    def of(cls, model: ModelInfo) -> Target:
        return cls(model.name, model.upstream_model, model.max_output_tokens)


class ProviderAdapter:
    """One provider of one type; built once per configuration revision."""

    type: ClassVar[str]
    serves: ClassVar[frozenset[str]]
    stream_content_type: ClassVar[str] = "text/event-stream"

    def __init__(
        self, provider: ProviderInfo, api_key: str | None, headers: Mapping[str, str]
    ) -> None:
        self.provider = provider
        self.api_key = api_key
        self.extra_headers = dict(headers)  # the provider's configured headers, resolved
        self.base_url = provider.base_url.rstrip("/")

    async def prepare(self, body: dict[str, Any], target: Target, stream: bool) -> Outgoing:
        raise NotImplementedError

    def answer(self, status: int, content: bytes, target: Target) -> Translated:
        """A complete upstream answer as OpenAI's body (errors: OpenAI's error shape), and its
        ``usage`` in OpenAI's terms when it has one (read once here, not parsed again)."""
        raise NotImplementedError

    def stream(self, chunks: AsyncIterator[bytes], target: Target) -> AsyncIterator[bytes]:
        """A successful streaming answer as OpenAI SSE events, each yielded whole."""
        raise NotImplementedError


class Translated(NamedTuple):
    content: bytes
    usage: dict[str, Any] | None


ADAPTERS: dict[str, type[ProviderAdapter]] = {}


def register(cls: type[ProviderAdapter]) -> type[ProviderAdapter]:
    declared = SERVED.get(cls.type)
    if declared is None:
        raise TypeError(f"{cls.__name__}: provider type {cls.type} is not declared in the core")
    if cls.serves != declared:
        raise TypeError(f"{cls.__name__} serves {sorted(cls.serves)}, the core declares {declared}")
    ADAPTERS[cls.type] = cls
    return cls


# --------------------------------------------------------------------------- shared helpers


def openai_error(message: str, type_: str, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "code": code}})


def context_length_error(message: str) -> bytes:
    return openai_error(message, "invalid_request_error", "context_length_exceeded")


def completion(
    target: Target,
    message: dict[str, Any],
    finish_reason: str | None,
    usage: dict[str, int] | None,
    id_: str,
) -> bytes:
    body: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": target.name,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return orjson.dumps(body)


def usage_of(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


class ChunkWriter:
    """OpenAI ``chat.completion.chunk`` events for one streamed answer."""

    def __init__(self, target: Target, id_: str) -> None:
        self.base = {
            "id": id_,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": target.name,
        }

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return sse({**self.base, "choices": [choice]})

    def usage(self, usage: dict[str, int]) -> bytes:
        return sse({**self.base, "choices": [], "usage": usage})


def sse(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str | None, bytes]]:
    """(event name, data) of each complete server-sent event, however the bytes were split."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk.replace(b"\r\n", b"\n")
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            raw, buffer = buffer[:end], buffer[end + 2 :]
            event, data = _parse_event(raw)
            if data is not None:
                yield event, data
    if buffer.strip():
        event, data = _parse_event(buffer)
        if data is not None:
            yield event, data


def _parse_event(raw: bytes) -> tuple[str | None, bytes | None]:
    event = None
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    return event, (b"\n".join(data) if data else None)


def tool_call_delta(index: int, id_: str | None, name: str | None, arguments: str) -> dict:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id_ is not None:
        call["id"] = id_
        call["type"] = "function"
        call["function"]["name"] = name
    return {"tool_calls": [call]}


def text_of(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:`` image URL, else None."""
    if not url.startswith("data:"):
        return None
    header, _, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if encoding != "base64" or not data:
        return None
    return media_type or "application/octet-stream", data


def json_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a ``response_format`` asks for ({} for any object), or None."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else {"type": "object"}
    return None


# The tool that carries a JSON answer for providers without a JSON mode.
JSON_TOOL = "json_answer"


class BadClientRequest(Exception):
    """A request this provider's protocol cannot express; answered as a 400 to the client."""


def append_turn(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add content blocks as a turn of ``role``, merged into the last turn when it is the same
    role: Anthropic's Messages and Bedrock's Converse both require alternating roles."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})
