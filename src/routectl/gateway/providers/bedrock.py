"""``bedrock``: Amazon Bedrock's Converse and ConverseStream APIs, SigV4-signed with botocore.

``POST {baseUrl}/model/{upstreamModel}/converse`` (``/converse-stream`` when
streaming). Requests and answers translate as for Anthropic's Messages API,
in Converse's names: ``system`` and ``messages`` of content blocks (``text``,
``image`` with inline bytes, ``toolUse``, ``toolResult``), ``inferenceConfig``,
``toolConfig``; ``response_format`` json becomes one forced tool, as Converse
has no JSON mode. ConverseStream answers in AWS's binary event-stream framing,
read with botocore's parser and re-emitted as OpenAI server-sent events.

Credentials (``credentials.apiKey``, a secret reference) are either AWS keys,
as JSON ``{"accessKeyId", "secretAccessKey", "sessionToken"?, "region"?}`` or
``ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]``, and then every request is
signed with SigV4 for service ``bedrock``; or a Bedrock API key, sent as a
bearer token. The region comes from the endpoint
(``bedrock-runtime.<region>.amazonaws.com``), else from the JSON's ``region``.
Bedrock accepts images only inline, so an image given by http(s) URL is a 400.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, ParserError

from routectl.core.policy import ProviderInfo
from routectl.core.providers import SERVED
from routectl.gateway.providers.base import (
    JSON_HEADERS,
    JSON_TOOL,
    SSE_DONE,
    AdapterProblem,
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
    text_of,
    tool_call_delta,
    usage_of,
)

SERVICE = "bedrock"
_REGION_HOST = re.compile(r"^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$")
_ACCESS_KEY_PAIR = re.compile(r"^(A[A-Z0-9]{15,127}):([^:]+)(?::(.+))?$")
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_TOO_LONG = ("too long", "too many input tokens", "context window", "context length")


def aws_credentials(secret: str) -> tuple[Credentials | None, str | None]:
    """(SigV4 credentials, region from the secret) or (None, None) for a Bedrock API key."""
    if secret.startswith("{"):
        try:
            data = orjson.loads(secret)
        except orjson.JSONDecodeError:
            raise AdapterProblem("the AWS credentials JSON does not parse") from None

        def field(*names: str) -> str | None:
            return next((data[n] for n in names if isinstance(data.get(n), str)), None)

        key = field("accessKeyId", "AccessKeyId", "aws_access_key_id")
        secret_key = field("secretAccessKey", "SecretAccessKey", "aws_secret_access_key")
        if not key or not secret_key:
            raise AdapterProblem("the AWS credentials JSON needs accessKeyId and secretAccessKey")
        token = field("sessionToken", "SessionToken", "aws_session_token")
        return Credentials(key, secret_key, token), field("region")
    pair = _ACCESS_KEY_PAIR.match(secret)
    if pair:
        return Credentials(pair.group(1), pair.group(2), pair.group(3)), None
    return None, None


@register
class Bedrock(ProviderAdapter):
    type = "bedrock"
    serves = SERVED["bedrock"]

    def __init__(
        self, provider: ProviderInfo, api_key: str | None, headers: Mapping[str, str]
    ) -> None:
        super().__init__(provider, api_key, headers)
        if not api_key:
            raise AdapterProblem("bedrock needs credentials.apiKey (AWS keys or a Bedrock API key)")
        self.credentials, secret_region = aws_credentials(api_key)
        host = urlsplit(self.base_url).hostname or ""
        found = _REGION_HOST.match(host)
        self.region = found.group(1) if found else secret_region
        if self.credentials is not None and not self.region:
            raise AdapterProblem(
                f"cannot tell the AWS region of {self.base_url}: use "
                "bedrock-runtime.<region>.amazonaws.com or put region in the credentials JSON"
            )
        self.signer = (
            SigV4Auth(self.credentials, SERVICE, self.region) if self.credentials else None
        )
        bearer = {} if self.credentials else {"authorization": f"Bearer {api_key}"}
        self.headers = {**JSON_HEADERS, **bearer, **self.extra_headers}

    async def prepare(self, body: dict[str, Any], target: Target, stream: bool) -> Outgoing:
        action = "converse-stream" if stream else "converse"
        url = f"{self.base_url}/model/{quote(target.upstream_model, safe='')}/{action}"
        data = orjson.dumps(converse_request(body, target))
        if self.signer is None:
            return Outgoing(url, self.headers, data)
        request = AWSRequest(method="POST", url=url, data=data, headers=self.headers)
        self.signer.add_auth(request)  # x-amz-date, x-amz-security-token, authorization
        return Outgoing(url, dict(request.headers.items()), data)

    def answer(self, status: int, content: bytes, target: Target) -> Translated:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            body = None
        if status >= 400 or not isinstance(body, dict):
            return Translated(error_answer(status, body, content), None)
        message = ((body.get("output") or {}).get("message")) or {}
        out, answered_json = assistant_message(message.get("content") or [])
        finish = "stop" if answered_json else FINISH_REASONS.get(body.get("stopReason"), "stop")
        usage = usage_from(body.get("usage") or {})
        return Translated(completion(target, out, finish, usage, "bedrock"), usage)

    async def stream(self, chunks: AsyncIterator[bytes], target: Target) -> AsyncIterator[bytes]:
        writer = ChunkWriter(target, f"bedrock-{time.time_ns():x}")
        buffer = EventStreamBuffer()
        tool_index: dict[int, int] = {}
        json_blocks: set[int] = set()
        finish_reason = None
        usage = usage_of(0, 0)
        async for chunk in chunks:
            buffer.add_data(chunk)
            try:
                messages = list(buffer)
            except ParserError as exc:
                yield _stream_error(f"malformed event stream from Bedrock: {exc}", "api_error")
                return
            for message in messages:
                headers = message.headers
                try:
                    payload = orjson.loads(message.payload) if message.payload else {}
                except orjson.JSONDecodeError:
                    payload = {}
                if headers.get(":message-type") != "event":
                    kind = headers.get(":exception-type") or headers.get(":error-code") or "error"
                    yield _stream_error(payload.get("message") or str(kind), str(kind))
                    return
                event = headers.get(":event-type")
                if event == "messageStart":
                    yield writer.delta({"role": "assistant", "content": ""})
                elif event == "contentBlockStart":
                    index = payload.get("contentBlockIndex", 0)
                    tool = (payload.get("start") or {}).get("toolUse")
                    if tool and tool.get("name") == JSON_TOOL:
                        json_blocks.add(index)
                    elif tool:
                        tool_index[index] = len(tool_index)
                        yield writer.delta(
                            tool_call_delta(
                                tool_index[index], tool.get("toolUseId"), tool.get("name"), ""
                            )
                        )
                elif event == "contentBlockDelta":
                    index = payload.get("contentBlockIndex", 0)
                    delta = payload.get("delta") or {}
                    if "text" in delta:
                        yield writer.delta({"content": delta["text"]})
                    elif "toolUse" in delta:
                        partial = (delta["toolUse"] or {}).get("input", "")
                        if index in json_blocks:
                            yield writer.delta({"content": partial})
                        elif index in tool_index:
                            yield writer.delta(
                                tool_call_delta(tool_index[index], None, None, partial)
                            )
                elif event == "messageStop":
                    reason = payload.get("stopReason")
                    finish_reason = (
                        "stop" if json_blocks else FINISH_REASONS.get(reason or "", "stop")
                    )
                elif event == "metadata":
                    usage = usage_from(payload.get("usage") or {})
        yield writer.delta({}, finish_reason or "stop")
        yield writer.usage(usage)
        yield SSE_DONE


def _stream_error(message: str, type_: str) -> bytes:
    return sse({"error": {"message": message, "type": type_, "code": "upstream_error"}})


def usage_from(usage: dict[str, Any]) -> dict[str, int]:
    input_tokens = sum(
        int(usage.get(key) or 0)
        for key in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    )
    return usage_of(input_tokens, int(usage.get("outputTokens") or 0))


def assistant_message(blocks: list[Any]) -> tuple[dict[str, Any], bool]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if "text" in block:
            text.append(block["text"])
        elif "toolUse" in block:
            tool = block["toolUse"] or {}
            arguments = orjson.dumps(tool.get("input") or {}).decode()
            if tool.get("name") == JSON_TOOL:
                return {"role": "assistant", "content": arguments}, True
            calls.append(
                {
                    "id": tool.get("toolUseId"),
                    "type": "function",
                    "function": {"name": tool.get("name"), "arguments": arguments},
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        message["tool_calls"] = calls
    return message, False


def error_answer(status: int, body: Any, content: bytes) -> bytes:
    message = body.get("message") or body.get("Message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        text = content.decode("utf-8", "replace")[:500]
        return openai_error(f"upstream answered {status}: {text}", "upstream_error")
    if status == 400 and any(words in message.lower() for words in _TOO_LONG):
        return context_length_error(message)
    return openai_error(message, "upstream_error")


# --------------------------------------------------------------------------- requests


def converse_request(body: dict[str, Any], target: Target) -> dict[str, Any]:
    system: list[dict[str, str]] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            raise BadClientRequest("each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.append({"text": text_of(message.get("content"))})
            continue
        if role == "tool":
            result = {
                "toolResult": {
                    "toolUseId": message.get("tool_call_id"),
                    "content": [{"text": text_of(message.get("content"))}],
                }
            }
            append_turn(messages, "user", [result])
            continue
        if role not in ("user", "assistant"):
            raise BadClientRequest(f"message role {role!r} has no Bedrock equivalent")
        blocks = content_blocks(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            try:
                arguments = orjson.loads(function.get("arguments") or "{}")
            except orjson.JSONDecodeError:
                raise BadClientRequest("tool call arguments must be JSON") from None
            blocks.append(
                {
                    "toolUse": {
                        "toolUseId": call.get("id"),
                        "name": function.get("name"),
                        "input": arguments,
                    }
                }
            )
        append_turn(messages, role, blocks)
    config: dict[str, Any] = {
        "maxTokens": body.get("max_tokens")
        or body.get("max_completion_tokens")
        or target.max_output_tokens
    }
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    out: dict[str, Any] = {"messages": messages, "inferenceConfig": config}
    if system:
        out["system"] = system
    tools = [_tool(t) for t in body.get("tools") or []]
    choice = _tool_choice(body.get("tool_choice"))
    schema = json_format(body)
    if schema is not None:
        spec = {"name": JSON_TOOL, "description": "Answer with JSON of this schema."}
        tools.append({"toolSpec": {**spec, "inputSchema": {"json": schema}}})
        choice = {"any": {}} if len(tools) > 1 else {"tool": {"name": JSON_TOOL}}
    if tools:
        out["toolConfig"] = {"tools": tools}
        if choice is not None:
            out["toolConfig"]["toolChoice"] = choice
    return out


def content_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise BadClientRequest("message content must be a string or a list of parts")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            inline = data_url(url) if isinstance(url, str) else None
            if inline is None or inline[0] not in IMAGE_FORMATS:
                raise BadClientRequest(
                    "Bedrock takes images inline only: send a base64 data: URL of a "
                    "png, jpeg, gif or webp image"
                )
            try:
                base64.b64decode(inline[1], validate=True)
            except ValueError:
                raise BadClientRequest("the image data: URL is not valid base64") from None
            blocks.append(
                {"image": {"format": IMAGE_FORMATS[inline[0]], "source": {"bytes": inline[1]}}}
            )
        else:
            raise BadClientRequest(f"content part type {kind!r} has no Bedrock equivalent")
    return blocks


def _tool(tool: Any) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not function.get("name"):
        raise BadClientRequest("each tool must be {type: function, function: {name, ...}}")
    spec: dict[str, Any] = {
        "name": function["name"],
        "inputSchema": {"json": function.get("parameters") or {"type": "object"}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    return {"toolSpec": spec}


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None or choice == "none":  # Converse has no "none": tools stay offered
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"tool": {"name": choice["function"].get("name")}}
    raise BadClientRequest("tool_choice must be auto, required, none or {function: {name}}")
