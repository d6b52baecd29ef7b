"""What the gateway checks of a request before it trusts any of it.

Order matters, and is the order of :meth:`routectl.gateway.app.GatewayApp.chat`:

1. the request line and headers are bounded (:data:`MAX_HEADER_BYTES`, 431) before a
   header value is echoed, logged or hashed;
2. headers that decide something (credentials, request id, routing features) appear once
   (400 otherwise: which of two classifications was meant is not the gateway's guess);
3. the caller authenticates *before* the body is read, so a caller without a key cannot
   make the gateway buffer 32 MiB;
4. the JSON body is parsed no deeper than it can be re-encoded (:data:`MAX_JSON_DEPTH`):
   orjson parses 1,024 levels but encodes fewer (255 in 3.8, 254 in 3.13), and a body the
   gateway cannot forward is the client's error (400), not the gateway's (500).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from routectl.gateway.features import BadRequest

# Browsers send ~1-2 KB; OpenAI SDKs less. Past 32 KiB of header bytes a request is refused.
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADER_COUNT = 100


def _encodable_depth() -> int:
    """How deep orjson.dumps nests containers. Measured, not assumed: the limit moved
    between orjson releases, and a constant that overstates it lets a body through intake
    that the gateway then cannot forward."""
    low, high = 1, 1024  # low encodes; the answer is below high
    while high - low > 1:
        middle = (low + high) // 2
        value: list = []
        for _ in range(middle - 1):
            value = [value]
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            high = middle
        else:
            low = middle
    return low


# orjson.dumps refuses containers nested deeper than this; parse no deeper.
MAX_JSON_DEPTH = _encodable_depth()

_SINGULAR = frozenset((b"authorization", b"x-api-key", b"x-request-id", b"content-length"))
_ROUTING_PREFIX = b"x-routectl-"


class Refused(Exception):
    """A request refused at intake: status, OpenAI error code, message (never echoing input)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def check_headers(headers: Sequence[tuple[bytes, bytes]]) -> None:
    """Raise :class:`Refused` for oversized or ambiguous headers."""
    if len(headers) > MAX_HEADER_COUNT:
        raise Refused(431, "headers_too_large", f"more than {MAX_HEADER_COUNT} request headers")
    size = 0
    seen: set[bytes] = set()
    for name, value in headers:
        size += len(name) + len(value) + 4
        if name in _SINGULAR or name.startswith(_ROUTING_PREFIX):
            if name in seen:
                raise Refused(
                    400,
                    "duplicate_header",
                    f"header {name.decode('latin-1')[:64]} is given more than once; send it once",
                )
            seen.add(name)
    if size > MAX_HEADER_BYTES:
        raise Refused(
            431,
            "headers_too_large",
            f"the request headers are over {MAX_HEADER_BYTES // 1024} KiB",
        )


def parse_json(raw: bytes) -> Any:
    """The body as JSON; :class:`BadRequest` when it is nested deeper than it can be forwarded.

    Raises ``orjson.JSONDecodeError`` for text that is not JSON.
    """
    body = orjson.loads(raw)
    if isinstance(body, dict | list) and _too_deep(body):
        raise BadRequest(
            f"the body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep"
        )
    return body


def _too_deep(root: dict[str, Any] | list[Any]) -> bool:
    """Depth-first without recursion; stops at the first container past the limit."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_JSON_DEPTH:
                    return True
                if child:
                    stack.append((child, depth + 1))
    return False
