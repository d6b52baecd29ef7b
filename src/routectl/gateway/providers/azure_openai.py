"""``azure-openai``: Azure OpenAI deployments, OpenAI's protocol at Azure's addresses.

``{baseUrl}/openai/deployments/{upstreamModel}/chat/completions?api-version=...``
with the key in ``api-key``; the deployment name is the Model's ``upstreamModel``.
"""

from __future__ import annotations

from routectl.core.providers import SERVED
from routectl.gateway.providers.base import Target, register
from routectl.gateway.providers.openai_compatible import OpenAICompatible

API_VERSION = "2024-10-21"


@register
class AzureOpenAI(OpenAICompatible):
    type = "azure-openai"
    serves = SERVED["azure-openai"]

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.api_key} if self.api_key else {}

    def url(self, target: Target) -> str:
        return (
            f"{self.base_url}/openai/deployments/{target.upstream_model}/chat/completions"
            f"?api-version={API_VERSION}"
        )
