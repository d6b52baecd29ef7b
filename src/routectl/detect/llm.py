"""A small declared Model as the classifier, asked with structured output.

The prompt lists each intent with its examples; the answer must be
``{"intent": <one of them>, "confidence": 0..1}`` (an OpenAI ``json_schema``
response format). The confidence is the score the intent's threshold is
compared with. The call's latency and cost (the Model's list prices times the
usage it reports) travel with the match, into the trace and the decision log.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import httpx

from routectl.core.detect import IntentMatch, SemanticGroup
from routectl.core.policy import ModelInfo

CACHE_SIZE = 4096
EXAMPLES_PER_INTENT = 8  # enough to define an intent, few enough to keep the call cheap


class ClassifierError(Exception):
    """The classifying model failed or answered outside the schema."""


def instructions(group: SemanticGroup) -> str:
    lines = [
        "Classify the user's message into exactly one of these intents.",
        'Answer only with JSON: {"intent": "<name>", "confidence": <0..1>}.',
        "",
    ]
    for intent in group.intents:
        lines.append(f"intent {intent.name}, for example:")
        lines.extend(f"- {example}" for example in intent.examples[:EXAMPLES_PER_INTENT])
    return "\n".join(lines)


def response_format(names: list[str]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "intent",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "intent": {"type": "string", "enum": names},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "required": ["intent", "confidence"],
                "additionalProperties": False,
            },
        },
    }


class LLMClassifier:
    remote = True

    def __init__(
        self,
        group: SemanticGroup,
        model: ModelInfo,
        url: str,
        headers: Mapping[str, str],
        timeout_s: float,
    ) -> None:
        self.model = model
        self.url = url
        self.headers = dict(headers)
        self.label = f"llm {model.name}"
        self.names = [intent.name for intent in group.intents]
        self.thresholds = {intent.name: intent.threshold for intent in group.intents}
        self.system = instructions(group)
        self.format = response_format(self.names)
        self.calls = 0
        self._client = httpx.Client(timeout=timeout_s, trust_env=False)
        self._cache: OrderedDict[str, IntentMatch] = OrderedDict()
        self._lock = threading.Lock()

    def classify(self, prompt: str) -> IntentMatch:
        with self._lock:
            hit = self._cache.get(prompt)
        if hit is not None:
            return hit
        body = {
            "model": self.model.upstream_model,
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": prompt},
            ],
            "response_format": self.format,
            "temperature": 0,
            "max_tokens": 32,
        }
        started = time.perf_counter()
        self.calls += 1
        try:
            response = self._client.post(self.url, json=body, headers=self.headers)
        except httpx.HTTPError as exc:
            raise ClassifierError(f"{self.label}: {type(exc).__name__}: {exc}") from None
        latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
        if response.status_code != 200:
            raise ClassifierError(f"{self.label} answered {response.status_code}")
        try:
            answer = response.json()
            verdict = json.loads(answer["choices"][0]["message"]["content"])
            name, confidence = verdict["intent"], float(verdict["confidence"])
            usage = answer.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ClassifierError(f"{self.label}: answer outside the schema ({exc})") from None
        if name not in self.thresholds:
            raise ClassifierError(f"{self.label}: answered unknown intent {name!r}")
        cost = self.model.cost(
            int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        )
        threshold = self.thresholds[name]
        match = IntentMatch(
            name if confidence >= threshold else None,
            name,
            "",
            round(confidence, 6),
            threshold,
            self.label,
            round(cost, 10),
            latency_ms,
        )
        with self._lock:
            self._cache[prompt] = match
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return match
