"""What each provider type's adapter serves: the declaration the manifest and the gateway share.

The gateway's adapters (``routectl.gateway.providers``, one module per type)
do the I/O; this table is the pure fact of which types exist and which request
features each serves, so the manifest can offer exactly the served types and
the core can reason about features without importing an edge. An adapter
registers only for a type listed here and must declare exactly these features
(the gateway's registry checks it at import).

    chat       text chat completions
    streaming  ``stream: true`` answered as OpenAI server-sent events
    tools      ``tools`` / ``tool_choice`` and tool calls in the answer
    vision     image parts in messages
    json       ``response_format`` json_object / json_schema
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

FEATURES = ("chat", "streaming", "tools", "vision", "json")

_ALL = frozenset(FEATURES)

SERVED: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "openai-compatible": _ALL,
        # JSON mode is answered through one forced tool whose input is the JSON
        # (Anthropic's documented way); the gateway turns it back into content.
        "anthropic": _ALL,
        "azure-openai": _ALL,
        "bedrock": _ALL,  # Converse: JSON the same way as Anthropic, through toolConfig
        "vertex": _ALL,
    }
)


def served_types() -> tuple[str, ...]:
    return tuple(SERVED)


def unserved(provider_type: str, needs: frozenset[str]) -> frozenset[str]:
    """The request features in ``needs`` a provider of ``provider_type`` cannot serve."""
    return needs & _ALL - SERVED.get(provider_type, frozenset())
