"""What the evaluator takes and returns: plain, immutable values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from routectl.core.detect import IntentMatch

EMPTY: Mapping[str, str] = MappingProxyType({})
# A request's ``model`` that leaves the choice to the policy (as does no model at all).
AUTO_MODEL = "auto"


@dataclass(frozen=True, slots=True)
class BudgetState:
    """What a consumer's spend means for routing now (see :mod:`routectl.core.budgets`)."""

    used: float  # the highest share used of the consumer's budgets (its team's included)
    action: str | None = None  # "block" | "downgrade": the most severe threshold reached
    budget: str | None = None  # the budget whose threshold acts ("consumer/app")
    threshold: float | None = None
    amount_usd: float | None = None
    period: str | None = None
    tier: str | None = None  # downgrade target
    route: str | None = None
    alerts: tuple[tuple[str, float], ...] = ()  # (budget, threshold) alert thresholds reached


@dataclass(frozen=True, slots=True)
class Request:
    """The features of one LLM call that routing may depend on."""

    intent: str | None = None
    classification: str | None = None
    language: str | None = None
    consumer: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    request_id: str | None = None
    session: str | None = None
    prompt: str | None = None
    requires: frozenset[str] = frozenset()  # capabilities the request itself needs
    model: str | None = None  # a model name or alias the client asked for; None/"auto": any
    budget: BudgetState | None = None  # None: spend unknown or no budget; routes see 0% used
    # the examples' verdict on ``prompt``, when an edge classified it ahead (the gateway does,
    # off its event loop, for encoders that call out); else the policy's detector is asked
    detected: IntentMatch | None = None


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One reason in a decision's trace. ``code`` is stable; ``detail`` is prose.

    The prose is formatted only when read: a replay plans millions of requests
    and reads no trace, so the hot path stores the template's arguments only.
    """

    code: str
    template: str
    args: tuple[object, ...] = ()
    model: str | None = None

    @property
    def detail(self) -> str:
        return self.template.format(*self.args) if self.args else self.template

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True, slots=True)
class Arm:
    """One way a route may send a request, and the share of traffic it gets."""

    label: str
    fraction: float
    primary: str
    fallbacks: tuple[str, ...]
    experiment: str | None = None

    @property
    def chain(self) -> tuple[str, ...]:
        return (self.primary, *self.fallbacks)


@dataclass(frozen=True, slots=True)
class ShadowTarget:
    model: str
    fraction: float
    source: str  # "route:<name>" or "experiment:<name>"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Everything a request could be sent to, with expected shares.

    ``arms`` split the traffic not taken by ``experiment`` (fractions sum to 1).
    Replays aggregate over these fractions; :func:`decide` draws one arm.
    """

    intent: str | None
    classification: str | None  # None: unknown or missing, treated as the strictest
    route: str | None
    arms: tuple[Arm, ...]
    experiment: Arm | None
    experiment_sticky_by: str | None
    route_sticky_by: str
    shadows: tuple[ShadowTarget, ...]
    triggers: frozenset[str]
    trace: tuple[TraceStep, ...]
    unroutable_reason: str | None = None

    @property
    def routable(self) -> bool:
        return self.unroutable_reason is None

    @property
    def unroutable_code(self) -> str | None:
        return unroutable_code(self)


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one request goes: a primary, ordered fallbacks, shadow copies, and why."""

    intent: str | None
    classification: str | None
    route: str | None
    primary: str | None
    fallbacks: tuple[str, ...]
    shadows: tuple[str, ...]
    arm: str | None
    experiment: str | None
    triggers: frozenset[str]
    trace: tuple[TraceStep, ...]
    unroutable_reason: str | None = None

    @property
    def routable(self) -> bool:
        return self.primary is not None

    @property
    def unroutable_code(self) -> str | None:
        """The trace code of why not (``route.none``, ``model.unknown``, …), None if routable."""
        return unroutable_code(self)

    def chain(self) -> tuple[str, ...]:
        """Primary then fallbacks: the order the gateway tries."""
        return ((self.primary,) if self.primary else ()) + self.fallbacks

    def all_targets(self) -> tuple[str, ...]:
        return self.chain() + self.shadows


# Unroutable codes that mean the caller asked for something the policy forbids it (HTTP 403),
# where every other code is a request routing cannot serve as given (HTTP 400).
FORBIDDEN_CODES = frozenset(
    {"consumer.unknown", "consumer.intent", "consumer.classification", "model.not_allowed"}
)


def unroutable_code(outcome: RoutePlan | Decision) -> str | None:
    if outcome.unroutable_reason is None:
        return None
    return outcome.trace[-1].code if outcome.trace else "unroutable"


def refused_as_forbidden(code: str | None) -> bool:
    """Whether an unroutable code is a 403 (not allowed) rather than a 400 (cannot serve)."""
    return code in FORBIDDEN_CODES


def decision_as_dict(decision: Decision) -> dict[str, object]:
    """The JSON form of a decision (explain --format json, gateway decision logs)."""
    return {
        "intent": decision.intent,
        "classification": decision.classification,
        "route": decision.route,
        "primary": decision.primary,
        "fallbacks": list(decision.fallbacks),
        "shadows": list(decision.shadows),
        "arm": decision.arm,
        "experiment": decision.experiment,
        "fallback_on": sorted(decision.triggers),
        "unroutable": decision.unroutable_reason,
        "unroutable_code": decision.unroutable_code,
        "trace": [
            {"code": step.code, "detail": step.detail, "model": step.model}
            for step in decision.trace
        ],
    }
