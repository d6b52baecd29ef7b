"""Semantic intent detection: the encoders behind ``Intent.detect.examples``.

:func:`attach` builds one classifier per encoder group the resolved policy
declares (:mod:`routectl.core.detect`) and sets ``policy.detector``; every
edge that resolves a policy calls it (the CLI's loader, the gateway's runtime),
so explain, policy tests, simulate and the gateway classify alike.

An encoder that fails (endpoint down, answer outside the schema) yields a miss
naming the failure, so the request falls to the default intent rather than
failing: detection is a routing hint, not a dependency of serving.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from routectl.core.detect import IntentMatch, SemanticGroup, best_of
from routectl.core.policy import Policy, ProviderInfo

Credentials = Callable[[ProviderInfo], Mapping[str, str]]


class DetectorError(Exception):
    """An encoder declaration the policy cannot serve (a located message)."""


def env_credentials(provider: ProviderInfo) -> dict[str, str]:
    """Credential headers from ``env:``/``file:`` references on this host (the CLI's view)."""
    headers: dict[str, str] = {}
    refs = list(provider.header_refs)
    if provider.api_key_ref:
        refs.append(("authorization", provider.api_key_ref))
    for name, ref in refs:
        value = None
        if ref.startswith("env:"):
            value = os.environ.get(ref[4:])
        elif ref.startswith("file:"):
            try:
                value = Path(ref[5:]).expanduser().read_text(encoding="utf-8").strip()
            except OSError:
                value = None
        if value:
            headers[name.lower()] = f"Bearer {value}" if name == "authorization" else value
    return headers


class Detector:
    """The policy's detector: its groups in order (see :func:`routectl.core.detect.best_of`)."""

    def __init__(self, classifiers: list[Any]) -> None:
        self.classifiers = classifiers
        self.remote = any(c.remote for c in classifiers)

    def classify(self, prompt: str) -> IntentMatch | None:
        matches = []
        for classifier in self.classifiers:
            try:
                match = classifier.classify(prompt)
            except Exception as exc:  # noqa: BLE001 - any encoder failure is a miss, named
                match = IntentMatch(None, "", "", 0.0, 1.0, f"{classifier.label} failed: {exc}")
            matches.append(match)
            if match.intent is not None:
                break
        return best_of(matches)


def build_classifier(group: SemanticGroup, policy: Policy, credentials: Credentials) -> Any:
    encoder = group.encoder
    if encoder.type == "lexical":
        from routectl.detect.examples import NearestExample
        from routectl.detect.lexical import LexicalEncoder

        return NearestExample(group, LexicalEncoder(), "lexical")
    if encoder.type == "embeddings":
        from routectl.detect.embeddings import EmbeddingsEncoder
        from routectl.detect.examples import NearestExample

        provider = policy.providers.get(encoder.provider or "")
        if provider is None:
            raise DetectorError(
                f"intent {group.intents[0].name}: embeddings encoder names unknown provider "
                f"{encoder.provider}"
            )
        embedder = EmbeddingsEncoder(
            provider.base_url, encoder.model or "", credentials(provider), provider.timeout_seconds
        )
        return NearestExample(group, embedder, encoder.label)
    from routectl.detect.llm import LLMClassifier

    model = policy.models.get(encoder.model or "")
    if model is None:
        raise DetectorError(
            f"intent {group.intents[0].name}: llm encoder names unknown model {encoder.model}"
        )
    provider = policy.providers[model.provider]
    if provider.type != "openai-compatible":
        raise DetectorError(
            f"intent {group.intents[0].name}: llm encoder model {model.name} is on a "
            f"{provider.type} provider; only openai-compatible classifiers are served"
        )
    url = provider.base_url.rstrip("/") + "/chat/completions"
    return LLMClassifier(group, model, url, credentials(provider), provider.timeout_seconds)


def attach(policy: Policy, credentials: Credentials = env_credentials) -> Policy:
    """Give ``policy`` the detector its examples declare (none when no intent has examples)."""
    classifiers = [build_classifier(group, policy, credentials) for group in policy.semantic]
    for classifier in classifiers:
        if not classifier.remote:
            classifier.prepare()  # fit the lexical encoder now, not on the first request
    policy.detector = Detector(classifiers) if classifiers else None
    return policy
