"""``anthropic``: the Messages API (``POST {baseUrl}/v1/messages``), to and from OpenAI's shape.

Requests: system and developer messages become ``system``; user and assistant
content parts become content blocks (``data:`` image URLs become base64 image
sources, other URLs URL sources); assistant ``tool_calls`` become ``tool_use``
blocks and ``tool`` messages ``tool_result`` blocks in a user turn; ``tools``
and ``tool_choice`` map one to one; ``max_tokens`` is required by the API and
defaults to the model's maximum output. ``response_format`` json has no
Messages equivalent, so it becomes one forced tool whose input is the JSON,
turned back into the message content on the way out.

Answers: text blocks -> ``content``, ``tool_use`` -> ``tool_calls``,
``stop_reason`` -> ``finish_reason``, ``usage`` input/output tokens (cache
reads and writes counted as input) -> prompt/completion tokens. Streams:
``content_block_delta`` text and ``input_json_delta`` become chunk deltas,
``message_delta`` the finish reason, and usage arrives in a last chunk with
empty ``choices`` as OpenAI's ``stream_options.include_usage`` does. Errors
keep their status; "prompt is too long" becomes ``context_length_exceeded``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from routectl.core.policy import ProviderInfo
from routectl.core.providers import SERVED
from routectl.gateway.providers.base import (
    JSON_HEADERS,
    JSON_TOOL,
    SSE_DONE,
    BadClientRequest,
    ChunkWriter,
    Outgoing,
    ProviderAdapter,
    Target,
    Translated,
    append_turn,
    completion,
    context_length_error,
    data_url,
    json_format,
    openai_error,
    register,
    sse,
    sse_events,
    text_of,
    tool_call_delta,
    usage_of,
)

API_VERSION = "2023-06-01"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@register
class Anthropic(ProviderAdapter):
    type = "anthropic"
    serves = SERVED["anthropic"]

    def __init__(
        self, provider: ProviderInfo, api_key: str | None, headers: Mapping[str, str]
    ) -> None:
        super().__init__(provider, api_key, headers)
        auth = {"x-api-key": api_key} if api_key else {}
        self.headers = {
            **JSON_HEADERS,
            "anthropic-version": API_VERSION,
            **auth,
            **self.extra_headers,  # e.g. a pinned anthropic-version or anthropic-beta
        }
        base = self.base_url
        self.url = base + "/messages" if base.endswith("/v1") else base + "/v1/messages"

    async def prepare(self, body: dict[str, Any], target: Target, stream: bool) -> Outgoing:
        return Outgoing(
            self.url, self.headers, orjson.dumps(messages_request(body, target, stream))
        )

    def answer(self, status: int, content: bytes, target: Target) -> Translated:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            body = None
        if status >= 400 or not isinstance(body, dict):
            return Translated(error_answer(status, body, content), None)
        message, finish_reason = assistant_message(body.get("content") or [], body)
        usage = usage_from(body.get("usage") or {})
        content = completion(target, message, finish_reason, usage, body.get("id") or "msg")
        return Translated(content, usage)

    async def stream(self, chunks: AsyncIterator[bytes], target: Target) -> AsyncIterator[bytes]:
        writer: ChunkWriter | None = None
        input_tokens = output_tokens = 0
        tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        json_blocks: set[int] = set()
        finish_reason = None
        async for event, data in sse_events(chunks):
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            kind = payload.get("type", event)
            if kind == "message_start":
                message = payload.get("message") or {}
                writer = ChunkWriter(target, message.get("id") or "msg")
                usage = usage_from(message.get("usage") or {})
                input_tokens = usage["prompt_tokens"]
                output_tokens = usage["completion_tokens"]
                yield writer.delta({"role": "assistant", "content": ""})
                continue
            if writer is None:
                writer = ChunkWriter(target, "msg")
            if kind == "content_block_start":
                block = payload.get("content_block") or {}
                index = payload.get("index", 0)
                if block.get("type") == "tool_use":
                    if block.get("name") == JSON_TOOL:
                        json_blocks.add(index)
                        continue
                    tool_index[index] = len(tool_index)
                    yield writer.delta(
                        tool_call_delta(tool_index[index], block.get("id"), block.get("name"), "")
                    )
                elif block.get("type") == "text" and block.get("text"):
                    yield writer.delta({"content": block["text"]})
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                index = payload.get("index", 0)
                if delta.get("type") == "text_delta":
                    yield writer.delta({"content": delta.get("text", "")})
                elif delta.get("type") == "input_json_delta":
                    partial = delta.get("partial_json", "")
                    if index in json_blocks:
                        yield writer.delta({"content": partial})
                    elif index in tool_index:
                        yield writer.delta(tool_call_delta(tool_index[index], None, None, partial))
            elif kind == "message_delta":
                reason = (payload.get("delta") or {}).get("stop_reason")
                finish_reason = _finish(reason, json_blocks)
                output_tokens = (payload.get("usage") or {}).get("output_tokens", output_tokens)
            elif kind == "message_stop":
                yield writer.delta({}, finish_reason or "stop")
                yield writer.usage(usage_of(input_tokens, output_tokens))
                yield SSE_DONE
                return
            elif kind == "error":
                error = payload.get("error") or {}
                yield sse(
                    {
                        "error": {
                            "message": error.get("message", "upstream error"),
                            "type": error.get("type", "api_error"),
                            "code": "upstream_error",
                        }
                    }
                )
                return


def _finish(stop_reason: str | None, json_blocks: Any) -> str | None:
    if stop_reason == "tool_use" and json_blocks:
        return "stop"  # the JSON answer's tool, not a call for the client
    return FINISH_REASONS.get(stop_reason or "", "stop" if stop_reason else None)


def usage_from(usage: dict[str, Any]) -> dict[str, int]:
    input_tokens = sum(
        int(usage.get(key) or 0)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return usage_of(input_tokens, int(usage.get("output_tokens") or 0))


def assistant_message(blocks: list[Any], body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    answered_json = False
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            if block.get("name") == JSON_TOOL:
                text = [arguments]
                answered_json = True
                break
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        message["tool_calls"] = calls
    finish = "stop" if answered_json else _finish(body.get("stop_reason"), ())
    return message, finish or "stop"


def error_answer(status: int, body: Any, content: bytes) -> bytes:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = content.decode("utf-8", "replace")[:500]
        return openai_error(f"upstream answered {status}: {text}", "upstream_error")
    message = str(error.get("message", ""))
    if status == 400 and "prompt is too long" in message:
        return context_length_error(message)
    return openai_error(message, str(error.get("type", "api_error")), error.get("type"))


# --------------------------------------------------------------------------- requests


def messages_request(body: dict[str, Any], target: Target, stream: bool) -> dict[str, Any]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            raise BadClientRequest("each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
            continue
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": text_of(message.get("content")),
            }
            append_turn(messages, "user", [block])
            continue
        if role not in ("user", "assistant"):
            raise BadClientRequest(f"message role {role!r} has no Anthropic equivalent")
        blocks = content_blocks(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            try:
                arguments = orjson.loads(function.get("arguments") or "{}")
            except orjson.JSONDecodeError:
                raise BadClientRequest("tool call arguments must be JSON") from None
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "input": arguments,
                }
            )
        append_turn(messages, role, blocks)

    out: dict[str, Any] = {
        "model": target.upstream_model,
        "messages": messages,
        "max_tokens": body.get("max_tokens")
        or body.get("max_completion_tokens")
        or target.max_output_tokens,
    }
    if system:
        out["system"] = "\n\n".join(system)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    tools = [_tool(t) for t in body.get("tools") or []]
    choice = _tool_choice(body.get("tool_choice"))
    schema = json_format(body)
    if schema is not None:
        tools.append(
            {
                "name": JSON_TOOL,
                "description": "Answer with JSON of this schema.",
                "input_schema": schema,
            }
        )
        choice = {"type": "any"} if len(tools) > 1 else {"type": "tool", "name": JSON_TOOL}
    if tools:
        out["tools"] = tools
        if choice is not None:
            out["tool_choice"] = choice
    if stream:
        out["stream"] = True
    return out


def content_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise BadClientRequest("message content must be a string or a list of parts")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise BadClientRequest("image_url needs a url")
            inline = data_url(url)
            source = (
                {"type": "base64", "media_type": inline[0], "data": inline[1]}
                if inline
                else {"type": "url", "url": url}
            )
            blocks.append({"type": "image", "source": source})
        else:
            raise BadClientRequest(f"content part type {kind!r} has no Anthropic equivalent")
    return blocks


def _tool(tool: Any) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not function.get("name"):
        raise BadClientRequest("each tool must be {type: function, function: {name, ...}}")
    out = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object"},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "tool", "name": choice["function"].get("name")}
    raise BadClientRequest("tool_choice must be auto, required, none or {function: {name}}")
