"""Failover: what happens after one attempt, declared once for the gateway and simulate.

A decision's chain (primary, then fallbacks) is tried in order. Each attempt
ends in an :class:`Outcome`; the table :data:`OUTCOMES` says which fallback
triggers (a route's ``fallback.triggers``) that outcome can fire, and
:func:`next_step` turns a chain, its triggers, the position tried and the
outcome into a :class:`Step`: hand the answer to the client, try the next
model, or stop.

Three kinds of outcome never reach an upstream (an open circuit, a missing
credential, a request the provider's adapter cannot serve): the model is
skipped whatever the triggers say, because nothing was tried. An outage
simulated by ``routectl simulate`` is ``unavailable``: the gateway would see
it as a 5xx, a refused connection or a timeout, so it fails over when the
route falls back on any of them. A model over its rpm/tpm limit is
``rate_limited``, exactly like an upstream's 429.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routectl.core.policy import Policy


class FallbackTrigger(StrEnum):
    """What a route may fall back on (``fallback.triggers``)."""

    rate_limited = "429"
    server_error = "5xx"
    timeout = "timeout"
    connection_error = "connection-error"
    context_length = "context-length"


# Fallback triggers of a route that sets none.
DEFAULT_TRIGGERS: tuple[FallbackTrigger, ...] = (
    FallbackTrigger.rate_limited,
    FallbackTrigger.server_error,
    FallbackTrigger.timeout,
    FallbackTrigger.connection_error,
)


class OutcomeKind(StrEnum):
    """How one attempt ended."""

    answered = "answered"  # an HTTP answer; its status decides (see outcome_of_http)
    server_error = "server-error"  # HTTP 5xx
    rate_limited = "rate-limited"  # HTTP 429, or the model/provider over its rpm/tpm limit
    context_length = "context-length"  # the upstream refused the prompt as too long
    timeout = "timeout"
    connection_error = "connection-error"
    unavailable = "unavailable"  # down (simulated outage): a 5xx, refused connection or timeout
    circuit_open = "circuit-open"  # not tried: the provider's breaker is open
    missing_credential = "missing-credential"  # not tried: a credential did not resolve
    unsupported = "unsupported"  # not tried: the provider cannot serve this request


@dataclass(frozen=True, slots=True)
class OutcomeRule:
    fires: frozenset[str]  # triggers this outcome may fire; failover when the route has one
    skipped: bool = False  # never sent: move on whatever the triggers
    provider_fault: bool = True  # counts against the provider's circuit breaker


_T = FallbackTrigger
OUTCOMES: dict[OutcomeKind, OutcomeRule] = {
    OutcomeKind.answered: OutcomeRule(frozenset(), provider_fault=False),
    OutcomeKind.server_error: OutcomeRule(frozenset({_T.server_error})),
    OutcomeKind.rate_limited: OutcomeRule(frozenset({_T.rate_limited})),
    # The request's fault, not the provider's.
    OutcomeKind.context_length: OutcomeRule(frozenset({_T.context_length}), provider_fault=False),
    OutcomeKind.timeout: OutcomeRule(frozenset({_T.timeout})),
    OutcomeKind.connection_error: OutcomeRule(frozenset({_T.connection_error})),
    OutcomeKind.unavailable: OutcomeRule(
        frozenset({_T.server_error, _T.connection_error, _T.timeout})
    ),
    OutcomeKind.circuit_open: OutcomeRule(frozenset(), skipped=True, provider_fault=False),
    OutcomeKind.missing_credential: OutcomeRule(frozenset(), skipped=True, provider_fault=False),
    OutcomeKind.unsupported: OutcomeRule(frozenset(), skipped=True, provider_fault=False),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    status: int | None = None  # the HTTP status, when an upstream answered
    detail: str | None = None

    @property
    def rule(self) -> OutcomeRule:
        return OUTCOMES[self.kind]


def outcome_of_http(status: int, body: bytes = b"") -> Outcome:
    """The outcome of an upstream's HTTP answer (OpenAI's error shape for context length)."""
    if status == 429:
        return Outcome(OutcomeKind.rate_limited, status)
    if status >= 500:
        return Outcome(OutcomeKind.server_error, status)
    if status == 400 and b"context_length_exceeded" in body:
        return Outcome(OutcomeKind.context_length, status)
    return Outcome(OutcomeKind.answered, status)


class Action(StrEnum):
    answer = "answer"  # give the client this attempt's answer (good or bad)
    next = "next"  # try ``Step.index`` of the chain
    fail = "fail"  # stop: no answer (the gateway's 502; simulate's failure of this kind)


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    index: int | None = None  # the chain position to try next (Action.next)
    trigger: str | None = None  # the trigger the outcome fired on this route, if any
    reason: str = ""

    @property
    def model_failed(self) -> bool:
        """Whether the attempt counts as a failure of the model (not an answer)."""
        return self.action is not Action.answer


def fired(outcome: Outcome, triggers: frozenset[str]) -> str | None:
    """The route trigger ``outcome`` fires (the first in trigger order), or None."""
    for trigger in FallbackTrigger:
        if trigger in outcome.rule.fires and trigger.value in triggers:
            return trigger.value
    return None


def next_step(chain: Sequence[str], triggers: frozenset[str], index: int, outcome: Outcome) -> Step:
    """After ``chain[index]`` ended in ``outcome`` on a route falling back on ``triggers``."""
    rule = outcome.rule
    model = chain[index]
    if outcome.kind is OutcomeKind.answered:
        return Step(Action.answer, reason=f"{model} answered {outcome.status}")
    trigger = fired(outcome, triggers)
    if not rule.skipped and trigger is None:
        shown = "/".join(sorted(rule.fires))
        if outcome.status is not None:
            # An upstream answered with an error the route does not fall back on: the
            # client gets that answer as the upstream gave it.
            return Step(
                Action.answer, reason=f"{model} answered {outcome.status}; no fallback on {shown}"
            )
        return Step(Action.fail, reason=f"{model}: {outcome.kind.value}; no fallback on {shown}")
    if index + 1 < len(chain):
        return Step(
            Action.next,
            index + 1,
            trigger,
            f"{model}: {outcome.kind.value}, next {chain[index + 1]}",
        )
    return Step(Action.fail, None, trigger, f"{model}: {outcome.kind.value}; chain exhausted")


@dataclass(frozen=True, slots=True)
class Walk:
    """Where a chain ends up: the model that answered (None: none did) and the attempts
    that failed before, with their outcomes."""

    answered: str | None
    failed: tuple[tuple[str, Outcome], ...]
    reason: str = ""


def walk(
    chain: Sequence[str], triggers: frozenset[str], outcome_of: Callable[[str], Outcome | None]
) -> Walk:
    """Follow ``chain`` as the gateway does; ``outcome_of(model)`` is how an attempt at
    ``model`` ends (None: it answers)."""
    failed: list[tuple[str, Outcome]] = []
    index = 0
    while index < len(chain):
        model = chain[index]
        outcome = outcome_of(model)
        if outcome is None:
            return Walk(model, tuple(failed))
        step = next_step(chain, triggers, index, outcome)
        if step.action is Action.answer:
            return Walk(model, tuple(failed), step.reason)
        failed.append((model, outcome))
        if step.action is Action.fail or step.index is None:
            return Walk(None, tuple(failed), step.reason)
        index = step.index
    return Walk(None, tuple(failed), "empty chain")


def down_models(policy: Policy, names: Iterable[str]) -> frozenset[str]:
    """The models that are down when the named providers or models are."""
    down: set[str] = set()
    for name in names:
        if name in policy.models:
            down.add(name)
        else:
            down.update(n for n, m in policy.models.items() if m.provider == name)
    return frozenset(down)


def outage(down: frozenset[str]) -> Callable[[str], Outcome | None]:
    """``outcome_of`` for :func:`walk` when the ``down`` models are unavailable."""
    unavailable = Outcome(OutcomeKind.unavailable)
    return lambda model: unavailable if model in down else None
