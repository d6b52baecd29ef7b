"""Provider adapters, one module per provider type on the shared base in ``base``.

Importing this package registers every adapter; :func:`adapter_for` builds the
one a provider's type names. Which types exist and what each serves is
declared in :mod:`routectl.core.providers`; registration checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from routectl.core.policy import ProviderInfo
from routectl.gateway.providers import anthropic, azure_openai, bedrock, openai_compatible, vertex
from routectl.gateway.providers.base import (
    ADAPTERS,
    AdapterProblem,
    BadClientRequest,
    Outgoing,
    ProviderAdapter,
    Target,
)

__all__ = [
    "ADAPTERS",
    "AdapterProblem",
    "BadClientRequest",
    "Outgoing",
    "ProviderAdapter",
    "Target",
    "adapter_for",
    "anthropic",
    "azure_openai",
    "bedrock",
    "openai_compatible",
    "vertex",
]


def adapter_for(
    provider: ProviderInfo, api_key: str | None, headers: Mapping[str, str]
) -> ProviderAdapter:
    """The adapter of ``provider``; AdapterProblem when its type or configuration is unusable."""
    cls = ADAPTERS.get(provider.type)
    if cls is None:
        raise AdapterProblem(f"provider type {provider.type} is not served by this gateway")
    return cls(provider, api_key, headers)
