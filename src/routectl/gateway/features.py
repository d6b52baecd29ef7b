"""An OpenAI chat-completions request -> the evaluator's :class:`Request`.

Routing features come from headers first, then the body's ``metadata``:

    x-routectl-intent / metadata.intent                  intent (else the policy's rules)
    x-routectl-classification / metadata.classification  data classification
    x-routectl-language / metadata.language              ISO 639-1 language
    x-routectl-session / metadata.session                sticky key for sessions
    x-routectl-metadata-<key> / other metadata keys      route match metadata
    x-routectl-input-tokens                              the client's own input count

The prompt text for intent rules is the messages' text. Input tokens default to
an estimate (characters / 4); output tokens are ``max_tokens`` or
``max_completion_tokens`` or the gateway's default.

What the request needs of a model is read from the body (``Request.requires``):
an image part in any message needs ``vision``; ``tools`` (or a ``tool_choice``
other than ``none``) needs ``tools``; a ``response_format`` of ``json_object``
or ``json_schema`` needs ``json``. The body's ``model`` pins a model by name or
alias (``Request.model``); absent or ``auto`` leaves the choice to the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from routectl.core.request import AUTO_MODEL, Request

FEATURE_KEYS = ("intent", "classification", "language", "session")
_HEADER_PREFIX = b"x-routectl-"
_METADATA_PREFIX = b"x-routectl-metadata-"


class BadRequest(Exception):
    """A request the gateway cannot read; the message says what to send instead."""


def parse_body(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {role, content} objects")
    return messages


def prompt_text(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
    return "\n".join(parts)


def required_capabilities(body: dict[str, Any], messages: list[dict[str, Any]]) -> frozenset[str]:
    needs = set()
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(p, dict) and p.get("type") in ("image_url", "input_image") for p in content
        ):
            needs.add("vision")
            break
    tools, choice = body.get("tools"), body.get("tool_choice")
    if (isinstance(tools, list) and tools) or (choice is not None and choice != "none"):
        needs.add("tools")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        needs.add("json")
    return frozenset(needs)


def _int_field(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{name} must be a non-negative integer")
    return value


def requested_model(body: dict[str, Any]) -> str | None:
    """The model the client pinned: a Model's name or alias; None when absent or ``auto``."""
    model = body.get("model")
    if model is None or model == AUTO_MODEL:
        return None
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' must be a model name, an alias, or \"auto\"")
    return model


def requested_max_tokens(body: dict[str, Any]) -> int | None:
    """``max_tokens``, else ``max_completion_tokens``, else None."""
    value = _int_field(body.get("max_tokens"), "max_tokens")
    if value is None:
        value = _int_field(body.get("max_completion_tokens"), "max_completion_tokens")
    return value


def request_features(
    raw_headers: Sequence[tuple[bytes, bytes]],
    body: dict[str, Any],
    messages: list[dict[str, Any]],
    consumer: str | None,
    request_id: str,
    default_output_tokens: int,
) -> Request:
    given: dict[str, str] = {}
    metadata: dict[str, str] = {}
    body_metadata = body.get("metadata")
    if body_metadata is not None:
        if not isinstance(body_metadata, dict):
            raise BadRequest("'metadata' must be an object of string values")
        for key, value in body_metadata.items():
            if not isinstance(value, str):
                raise BadRequest(f"metadata.{key} must be a string")
            (given if key in FEATURE_KEYS else metadata)[key] = value
    input_tokens = None
    for name, value in raw_headers:
        if not name.startswith(_HEADER_PREFIX):
            continue
        if name.startswith(_METADATA_PREFIX):
            metadata[name[len(_METADATA_PREFIX) :].decode("latin-1")] = value.decode("latin-1")
            continue
        key = name[len(_HEADER_PREFIX) :].decode("latin-1")
        if key in FEATURE_KEYS:
            given[key] = value.decode("latin-1")
        elif key == "input-tokens":
            try:
                input_tokens = int(value)
            except ValueError:
                raise BadRequest("x-routectl-input-tokens must be an integer") from None
    prompt = prompt_text(messages)
    if input_tokens is None:
        input_tokens = len(prompt) // 4 + 1
    output_tokens = requested_max_tokens(body)
    return Request(
        intent=given.get("intent") or None,
        classification=given.get("classification") or None,
        language=given.get("language") or None,
        consumer=consumer,
        input_tokens=input_tokens,
        output_tokens=default_output_tokens if output_tokens is None else output_tokens,
        metadata=metadata,
        request_id=request_id,
        session=given.get("session") or None,
        prompt=prompt,
        requires=required_capabilities(body, messages),
        model=requested_model(body),
    )
