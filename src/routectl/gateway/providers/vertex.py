"""``vertex``: Gemini (and partner models) through Vertex AI's OpenAI-compatible endpoint.

``{endpoint}/chat/completions``, where the endpoint is
``https://<location>-aiplatform.googleapis.com/v1/projects/<project>/locations/<location>/endpoints/openapi``:
the location comes from a regional base URL (``aiplatform.googleapis.com``
alone is ``global``), the project from the service account. A base URL that
already carries ``/projects/<p>/locations/<l>/`` is used as the endpoint as it
is (private endpoints, proxies). The protocol is OpenAI's, so requests and
answers are the ``openai-compatible`` adapter's; only the credential differs:
``credentials.apiKey`` references a service account's JSON key, and each
request carries an OAuth access token google-auth mints from it (refreshed
off the event loop, shortly before it expires, one refresh at a time).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

from routectl.core.policy import ProviderInfo
from routectl.core.providers import SERVED
from routectl.gateway.providers.base import AdapterProblem, Outgoing, Target, register
from routectl.gateway.providers.openai_compatible import OpenAICompatible

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_REGIONAL_HOST = re.compile(r"^(?:([a-z0-9-]+)-)?aiplatform\.googleapis\.com$")
REFRESH_MARGIN_S = 300.0  # renew a token this long before it expires


class TokenUnavailable(Exception):
    """No access token could be minted (the token endpoint failed or refused)."""


@register
class Vertex(OpenAICompatible):
    type = "vertex"
    serves = SERVED["vertex"]

    def __init__(
        self, provider: ProviderInfo, api_key: str | None, headers: Mapping[str, str]
    ) -> None:
        if not api_key:
            raise AdapterProblem("vertex needs credentials.apiKey: a service account JSON key")
        try:
            info = orjson.loads(api_key)
            self.credentials = service_account.Credentials.from_service_account_info(
                info, scopes=SCOPES
            )
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            raise AdapterProblem(
                f"credentials.apiKey is not a service account JSON key ({type(exc).__name__})"
            ) from None
        self.project = info.get("project_id")
        super().__init__(provider, None, headers)
        self.endpoint = self._endpoint()
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def _endpoint(self) -> str:
        split = urlsplit(self.base_url)
        if "/locations/" in split.path:
            return self.base_url
        found = _REGIONAL_HOST.match(split.hostname or "")
        if found is None:
            raise AdapterProblem(
                f"{self.base_url} is not a Vertex endpoint: use "
                "https://<location>-aiplatform.googleapis.com or a base URL ending in "
                "/projects/<project>/locations/<location>/endpoints/openapi"
            )
        if not self.project:
            raise AdapterProblem("the service account JSON has no project_id")
        location = found.group(1) or "global"
        project = quote(self.project, safe="")
        return f"{self.base_url}/v1/projects/{project}/locations/{location}/endpoints/openapi"

    def url(self, target: Target) -> str:
        return f"{self.endpoint}/chat/completions"

    async def token(self) -> str:
        if self._token is None or time.time() > self._expires - REFRESH_MARGIN_S:
            async with self._lock:  # one refresh for all the requests that found it stale
                if self._token is None or time.time() > self._expires - REFRESH_MARGIN_S:
                    try:
                        await asyncio.to_thread(self.credentials.refresh, AuthRequest())
                    except GoogleAuthError as exc:
                        raise TokenUnavailable(f"access token refresh failed: {exc}") from None
                    self._token = self.credentials.token
                    expiry = self.credentials.expiry  # naive UTC
                    self._expires = (
                        expiry.replace(tzinfo=UTC).timestamp() if expiry else time.time() + 3000
                    )
        assert self._token is not None
        return self._token

    async def prepare(self, body: dict[str, Any], target: Target, stream: bool) -> Outgoing:
        token = await self.token()
        body["model"] = target.upstream_model
        headers = {**self.headers, "authorization": f"Bearer {token}"}
        return Outgoing(self.url(target), headers, orjson.dumps(body))
