"""Nearest labelled example: one group of intents sharing a vector encoder."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from routectl.core.detect import IntentMatch, SemanticGroup

CACHE_SIZE = 4096  # distinct prompts remembered per group (a replay classifies each once)


class VectorEncoder(Protocol):
    remote: bool

    def fit(self, texts: Sequence[str]) -> Any: ...

    def encode(self, texts: Sequence[str]) -> Any: ...


class NearestExample:
    """Scores a prompt against every example of the group; the best one names the intent.

    The encoder is fitted on the examples on first use, not at load: a policy
    whose examples sit behind an embeddings endpoint still lints and explains
    requests that never reach semantic detection without that endpoint.
    """

    def __init__(self, group: SemanticGroup, encoder: VectorEncoder, label: str) -> None:
        self.encoder = encoder
        self.remote = encoder.remote
        self.label = label
        self.examples = [e for intent in group.intents for e in intent.examples]
        self.intents = [intent.name for intent in group.intents for _ in intent.examples]
        self.thresholds = {intent.name: intent.threshold for intent in group.intents}
        self._matrix: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, IntentMatch] = OrderedDict()

    def prepare(self) -> Any:
        if self._matrix is None:
            with self._lock:
                if self._matrix is None:
                    self._matrix = self.encoder.fit(self.examples)
        return self._matrix

    def scores(self, prompt: str) -> np.ndarray:
        """Cosine similarity of ``prompt`` with each example (vectors are unit length)."""
        matrix = self.prepare()
        if hasattr(self.encoder, "similarities"):  # the lexical encoder's fast path
            return self.encoder.similarities(prompt)
        product = matrix @ self.encoder.encode([prompt]).T
        return np.asarray(product.todense() if hasattr(product, "todense") else product).ravel()

    def classify(self, prompt: str) -> IntentMatch:
        hit = self._cache.get(prompt)
        if hit is not None:
            return hit
        scores = self.scores(prompt)
        best = int(np.argmax(scores))
        intent = self.intents[best]
        score = float(scores[best])
        threshold = self.thresholds[intent]
        match = IntentMatch(
            intent if score >= threshold else None,
            intent,
            self.examples[best],
            round(score, 6),
            threshold,
            self.label,
        )
        self._cache[prompt] = match
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return match
