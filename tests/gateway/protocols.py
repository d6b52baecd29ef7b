"""Mock upstreams for the non-OpenAI protocols, each checking the protocol it imitates.

A request that breaks the protocol is answered 400 with what was wrong, and the
violation is recorded on the provider's Behaviour (``violations``), so a test
sees it whether or not the gateway fails over.

    Anthropic  POST /{p}/v1/messages: x-api-key, anthropic-version, body shape
               (model, max_tokens, alternating user/assistant turns of typed
               blocks, system as text, tools with input_schema); answers and
               streams Messages API events.
    Bedrock    POST /{p}/model/{id}/converse[-stream]: the SigV4 signature is
               recomputed with botocore from the request as received and must
               match; Converse body shape; streams AWS event-stream frames.
    Vertex     POST /{p}/token: a service account's JWT bearer grant, its RS256
               signature verified with the key's public half; chat completions
               under /{p}/v1/projects/{project}/locations/{loc}/endpoints/openapi
               need a token the token endpoint issued.
    Azure      POST /{p}/openai/deployments/{d}/chat/completions: api-key and
               api-version.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import struct
import time
from typing import Any
from urllib.parse import parse_qs

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

AWS_KEY_ID = "AKIAMOCKGATEWAYTEST1"
AWS_SECRET = "mock/secret/for+sigv4+tests/only0123456789"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what Google checks, any token_uri


def service_account(token_uri: str, project: str = "mock-project") -> tuple[dict[str, Any], Any]:
    """A service account JSON key (a fresh RSA key) and the key's public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "mock-key-1",
        "private_key": pem,
        "client_email": f"gateway@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    return info, key.public_key()


def violation(behaviour, message: str) -> Response:
    behaviour.violations.append(message)
    return JSONResponse({"error": {"message": f"protocol violation: {message}"}}, 400)


def _text_answer(provider: str, model: str) -> str:
    return f"answer from {provider}/{model}"


# --------------------------------------------------------------------------- Anthropic


def check_anthropic(request: Request, body: Any, api_key: str) -> str | None:
    if request.headers.get("x-api-key") != api_key:
        return "x-api-key is missing or wrong"
    if "authorization" in request.headers:
        return "Anthropic takes the key in x-api-key, not Authorization"
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", request.headers.get("anthropic-version", "")):
        return "anthropic-version header is missing"
    if not request.headers.get("content-type", "").startswith("application/json"):
        return "content-type is not JSON"
    if not isinstance(body, dict):
        return "body is not an object"
    allowed = {
        "model", "messages", "max_tokens", "system", "tools", "tool_choice", "temperature",
        "top_p", "stop_sequences", "stream", "metadata",
    }  # fmt: skip
    if set(body) - allowed:
        return f"fields the Messages API does not have: {sorted(set(body) - allowed)}"
    if not isinstance(body.get("model"), str):
        return "model is not a string"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens is required"
    if "system" in body and not isinstance(body["system"], str):
        return "system is not text"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages is empty"
    for index, message in enumerate(messages):
        want = "user" if index % 2 == 0 else "assistant"
        if message.get("role") != want:
            return f"messages[{index}] should be {want}: turns alternate, user first"
        for block in message.get("content") or []:
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                continue
            if kind == "image":
                source = block.get("source") or {}
                if source.get("type") == "base64":
                    base64.b64decode(source.get("data", ""), validate=True)
                    if not source.get("media_type", "").startswith("image/"):
                        return "image media_type"
                elif source.get("type") != "url":
                    return "image source type"
                continue
            if kind == "tool_use" and block.get("id") and isinstance(block.get("input"), dict):
                continue
            if kind == "tool_result" and block.get("tool_use_id"):
                continue
            return f"messages[{index}] has a bad content block {block}"
    for tool in body.get("tools") or []:
        if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            return "a tool lacks name or input_schema"
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") not in ("auto", "any", "tool", "none"):
        return "tool_choice type"
    return None


def anthropic_blocks(provider: str, body: dict[str, Any]) -> tuple[list[dict], str]:
    tools = body.get("tools") or []
    if tools:
        tool = tools[-1]  # a forced JSON tool is added last
        forced = (body.get("tool_choice") or {}).get("type") in ("tool", "any")
        if forced or tool["name"] != "json_answer":
            arguments = {"answer": _text_answer(provider, body["model"])}
            block = {"type": "tool_use", "id": "toolu_1", "name": tool["name"], "input": arguments}
            # A forced tool is called at once; left to choose, the model says something first.
            preamble = [] if forced else [{"type": "text", "text": "calling"}]
            return [*preamble, block], "tool_use"
    return [{"type": "text", "text": _text_answer(provider, body["model"])}], "end_turn"


def anthropic_answer(
    provider: str, body: dict[str, Any], usage: tuple[int, int] = (11, 7)
) -> Response:
    blocks, stop = anthropic_blocks(provider, body)
    return JSONResponse(
        {
            "id": "msg_mock",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks,
            "stop_reason": stop,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }
    )


def anthropic_error(status: int, type_: str, message: str) -> Response:
    return JSONResponse({"type": "error", "error": {"type": type_, "message": message}}, status)


async def anthropic_events(provider: str, body: dict[str, Any], behaviour):
    def event(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    message = {"id": "msg_mock", "type": "message", "role": "assistant", "model": body["model"]}
    usage = {"input_tokens": 11, "output_tokens": 1}
    yield event("message_start", {"message": {**message, "content": [], "usage": usage}})
    blocks, stop = anthropic_blocks(provider, body)
    for index, block in enumerate(blocks):
        if index == behaviour.stall_after:
            await asyncio.sleep(2)
            return
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            yield event("content_block_start", {"index": index, "content_block": start})
            yield event("ping", {})
            for part in block["text"].split(" "):
                delta = {"type": "text_delta", "text": part + " "}
                yield event("content_block_delta", {"index": index, "delta": delta})
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            yield event("content_block_start", {"index": index, "content_block": start})
            text = json.dumps(block["input"])
            for part in (text[:5], text[5:]):
                delta = {"type": "input_json_delta", "partial_json": part}
                yield event("content_block_delta", {"index": index, "delta": delta})
        yield event("content_block_stop", {"index": index})
        await asyncio.sleep(behaviour.chunk_delay_s)
    yield event("message_delta", {"delta": {"stop_reason": stop}, "usage": {"output_tokens": 7}})
    yield event("message_stop", {})


# --------------------------------------------------------------------------- Bedrock

_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$"
)


def check_sigv4(request: Request, raw: bytes) -> str | None:
    """None when the request carries a valid SigV4 signature for service bedrock."""
    found = _SIGV4.match(request.headers.get("authorization", ""))
    if found is None:
        return "no SigV4 Authorization header"
    key_id, day, region, service, signed, signature = found.groups()
    if service != "bedrock":
        return f"signed for service {service}, not bedrock"
    if key_id != AWS_KEY_ID:
        return f"unknown access key {key_id}"
    amz_date = request.headers.get("x-amz-date", "")
    if not amz_date.startswith(day):
        return "x-amz-date does not match the credential scope"
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return "host and x-amz-date must be signed"
    headers = {name: request.headers.get(name, "") for name in names}
    path = request.scope["raw_path"].decode()
    query = request.scope.get("query_string", b"").decode()
    url = f"http://{request.headers['host']}{path}" + (f"?{query}" if query else "")
    rebuilt = AWSRequest(method=request.method, url=url, data=raw, headers=headers)
    rebuilt.context["timestamp"] = amz_date
    token = request.headers.get("x-amz-security-token")
    signer = SigV4Auth(Credentials(key_id, AWS_SECRET, token), service, region)
    expected = signer.signature(
        signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt
    )
    if not secrets.compare_digest(expected, signature):
        return "SigV4 signature does not verify"
    return None


def check_converse(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body is not an object"
    allowed = {"messages", "system", "inferenceConfig", "toolConfig"}
    if set(body) - allowed:
        return f"fields Converse does not have: {sorted(set(body) - allowed)}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages is empty"
    for index, message in enumerate(messages):
        want = "user" if index % 2 == 0 else "assistant"
        if message.get("role") != want:
            return f"messages[{index}] should be {want}"
        for block in message.get("content") or []:
            if len(block) != 1:
                return f"a content block has one key, not {sorted(block)}"
            (kind,) = block
            if kind == "image":
                image = block["image"]
                if image.get("format") not in ("png", "jpeg", "gif", "webp"):
                    return "image format"
                base64.b64decode(image["source"]["bytes"], validate=True)
            elif kind not in ("text", "toolUse", "toolResult"):
                return f"content block {kind}"
    for item in body.get("system") or []:
        if set(item) != {"text"}:
            return "system blocks are {text}"
    config = body.get("inferenceConfig") or {}
    if set(config) - {"maxTokens", "temperature", "topP", "stopSequences"}:
        return "inferenceConfig fields"
    tool_config = body.get("toolConfig")
    if tool_config is not None:
        for tool in tool_config.get("tools") or []:
            spec = tool.get("toolSpec") or {}
            if not spec.get("name") or "json" not in (spec.get("inputSchema") or {}):
                return "toolSpec needs name and inputSchema.json"
    return None


def converse_blocks(provider: str, model: str, body: dict[str, Any]) -> tuple[list[dict], str]:
    tool_config = body.get("toolConfig") or {}
    tools = tool_config.get("tools") or []
    if tools:
        name = tools[-1]["toolSpec"]["name"]
        use = {"toolUseId": "tooluse_1", "name": name, "input": {"answer": model}}
        forced = set(tool_config.get("toolChoice") or {}) & {"tool", "any"}
        preamble = [] if forced else [{"text": "calling"}]
        return [*preamble, {"toolUse": use}], "tool_use"
    return [{"text": _text_answer(provider, model)}], "end_turn"


def converse_answer(
    provider: str, model: str, body: dict[str, Any], usage: tuple[int, int] = (11, 7)
) -> Response:
    blocks, stop = converse_blocks(provider, model, body)
    return JSONResponse(
        {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": stop,
            "usage": {
                "inputTokens": usage[0],
                "outputTokens": usage[1],
                "totalTokens": sum(usage),
            },
            "metrics": {"latencyMs": 5},
        }
    )


def bedrock_error(status: int, kind: str, message: str) -> Response:
    return JSONResponse({"message": message}, status, headers={"x-amzn-errortype": kind})


def event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude, CRCs, string headers, payload."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude_crc = binascii.crc32(prelude) & 0xFFFFFFFF
    message = prelude + struct.pack(">I", prelude_crc) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message) & 0xFFFFFFFF)


def converse_event(name: str, data: dict) -> bytes:
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return event_frame(headers, json.dumps(data).encode())


async def converse_events(provider: str, model: str, body: dict[str, Any], behaviour):
    yield converse_event("messageStart", {"role": "assistant"})
    blocks, stop = converse_blocks(provider, model, body)
    for index, block in enumerate(blocks):
        if index == behaviour.stall_after:
            await asyncio.sleep(2)
            return
        if "text" in block:
            for part in block["text"].split(" "):
                delta = {"contentBlockIndex": index, "delta": {"text": part + " "}}
                yield converse_event("contentBlockDelta", delta)
        else:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            yield converse_event("contentBlockStart", {"contentBlockIndex": index, "start": start})
            text = json.dumps(use["input"])
            for part in (text[:4], text[4:]):
                delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}}
                yield converse_event("contentBlockDelta", delta)
        yield converse_event("contentBlockStop", {"contentBlockIndex": index})
        await asyncio.sleep(behaviour.chunk_delay_s)
    yield converse_event("messageStop", {"stopReason": stop})
    usage = {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18}
    yield converse_event("metadata", {"usage": usage, "metrics": {"latencyMs": 5}})


# --------------------------------------------------------------------------- Vertex


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenIssuer:
    """The OAuth token endpoint of a service account: verifies the JWT grant, mints tokens."""

    def __init__(self) -> None:
        self.public_keys: dict[str, Any] = {}  # client_email -> RSA public key
        self.issued: set[str] = set()
        self.grants = 0

    def trust(self, info: dict[str, Any], public_key: Any) -> None:
        self.public_keys[info["client_email"]] = public_key

    async def token(self, request: Request, behaviour) -> Response:
        form = parse_qs((await request.body()).decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return violation(behaviour, "token grant_type is not jwt-bearer")
        assertion = (form.get("assertion") or [""])[0]
        try:
            head, claims_part, signature = assertion.split(".")
            header = json.loads(_b64url_decode(head))
            claims = json.loads(_b64url_decode(claims_part))
        except ValueError:
            return violation(behaviour, "the assertion is not a JWT")
        if header.get("alg") != "RS256":
            return violation(behaviour, "the JWT is not RS256")
        key = self.public_keys.get(claims.get("iss"))
        if key is None:
            return violation(behaviour, f"unknown service account {claims.get('iss')}")
        try:
            key.verify(
                _b64url_decode(signature),
                f"{head}.{claims_part}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return violation(behaviour, "the JWT signature does not verify")
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, str(request.url)):
            return violation(behaviour, f"the JWT audience {claims.get('aud')} is not Google's")
        if "cloud-platform" not in claims.get("scope", ""):
            return violation(behaviour, "the JWT does not ask for the cloud-platform scope")
        if not claims.get("iat", 0) <= time.time() + 60 < claims.get("exp", 0) + 60:
            return violation(behaviour, "the JWT is not current")
        self.grants += 1
        token = f"ya29.mock-{secrets.token_hex(8)}"
        self.issued.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def check_bearer(self, request: Request) -> str | None:
        value = request.headers.get("authorization", "")
        if not value.startswith("Bearer ") or value[7:] not in self.issued:
            return "the Authorization bearer is not a token the token endpoint issued"
        return None
