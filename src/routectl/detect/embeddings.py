"""An OpenAI-compatible ``/v1/embeddings`` endpoint as an encoder (TEI, vLLM, Ollama, …).

Declared like a chat upstream: a Provider gives the base URL, credentials and
timeout; the encoder names the embedding model. Vectors are cached per text
(the examples once, each distinct prompt once), so a replay or a gateway seeing
the same prompt again pays for one call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import httpx
import numpy as np

CACHE_SIZE = 16384


class EmbeddingsError(Exception):
    """The endpoint failed or answered something that is not embeddings."""


class EmbeddingsEncoder:
    remote = True

    def __init__(
        self, base_url: str, model: str, headers: Mapping[str, str], timeout_s: float
    ) -> None:
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.headers = dict(headers)
        self.timeout_s = timeout_s
        self.calls = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout_s, trust_env=False)

    def fit(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self._request(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = vector
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        with self._lock:
            return np.vstack([self._cache[t] for t in texts])

    def _request(self, texts: list[str]) -> list[np.ndarray]:
        self.calls += 1
        try:
            response = self._client.post(
                self.url, json={"model": self.model, "input": texts}, headers=self.headers
            )
        except httpx.HTTPError as exc:
            raise EmbeddingsError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise EmbeddingsError(f"{self.url} answered {response.status_code}")
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [np.asarray(item["embedding"], dtype=np.float64) for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingsError(f"{self.url}: not an embeddings answer ({exc})") from None
        if len(vectors) != len(texts):
            raise EmbeddingsError(f"{self.url}: {len(vectors)} vectors for {len(texts)} inputs")
        out = []
        for vector in vectors:
            norm = float(np.linalg.norm(vector))
            out.append(vector / norm if norm else vector)
        return out
