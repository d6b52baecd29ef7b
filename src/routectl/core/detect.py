"""Semantic intent detection: what the core declares, what an edge supplies.

An Intent may carry labelled ``examples``; a prompt that no keyword, regex or
language rule of any intent matched goes to the intent whose example it is most
like, if that similarity reaches the intent's ``threshold``. Comparing needs an
encoder (scikit-learn, an embeddings endpoint, a classifying model): those are
edges, so the core only declares *what* to compare (:class:`SemanticGroup`,
built at resolve) and the interface an edge implements (:class:`IntentDetector`).
``routectl.detect.attach`` builds the detector and puts it on the resolved
:class:`~routectl.core.policy.Policy`, so the gateway, explain, policy tests
and simulate all run the same one.

Intents that declare the same encoder form one group (one classification
among them). Groups are tried in the order of their first intent; the first
whose best match reaches its threshold names the intent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EncoderInfo:
    type: str  # lexical | embeddings | llm
    provider: str | None = None
    model: str | None = None

    @property
    def label(self) -> str:
        if self.type == "embeddings":
            return f"embeddings {self.provider}/{self.model}"
        if self.type == "llm":
            return f"llm {self.model}"
        return "lexical"


@dataclass(frozen=True, slots=True)
class SemanticIntent:
    name: str
    examples: tuple[str, ...]
    threshold: float


@dataclass(frozen=True, slots=True)
class SemanticGroup:
    encoder: EncoderInfo
    intents: tuple[SemanticIntent, ...]


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The best match of one prompt: the intent when it reached the threshold, else None.

    ``example`` is the nearest labelled example (empty for an llm classifier,
    which names no example); ``cost`` (USD) and ``latency_ms`` are what the
    classification itself took, counted like any upstream call.
    """

    intent: str | None
    nearest: str  # the intent of the best example
    example: str
    score: float
    threshold: float
    encoder: str
    cost: float = 0.0
    latency_ms: float = 0.0


class IntentDetector(Protocol):
    """What an edge implements; the policy holds one (``Policy.detector``)."""

    #: whether classify() does I/O (an HTTP encoder): the gateway then calls it off the loop
    remote: bool

    def classify(self, prompt: str) -> IntentMatch | None:
        """The best match over every group (None: no group has examples)."""
        ...


def best_of(matches: list[IntentMatch]) -> IntentMatch | None:
    """Across groups (in order): the first that names an intent, else the first miss."""
    for match in matches:
        if match.intent is not None:
            return match
    return matches[0] if matches else None
