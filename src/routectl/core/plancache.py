"""What a route's plan does not owe to a request's token counts, worked out once.

Two requests that agree on route, intent, classification, language and
required capabilities can only get different plans through their token
counts: a candidate may be too small or too expensive for one of them, and
``cheapest`` orders by each request's cost. When every candidate the
classification, capabilities, language and route minimum allow also fits the
tokens (by far the common case), the plan is the same for all of them, up to
the ``cheapest`` order. (The trace is part of the plan: a candidate refused for
its language or the route's minimum context must not be too small for the tokens
either, or the full planner would give that as the reason.) :class:`RouteFacts`
knows which candidates those are,
so the evaluator can check the fit in a few comparisons and reuse the plan it
built the first time. A request that does not fit every candidate takes the
full planner, so a reused plan is always exactly what the full planner gives
(the property tests compare the two).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routectl.core.policy import ModelInfo, Policy, RouteInfo
from routectl.core.request import Decision, RoutePlan

# Bounds the memory a stream of odd requests can pin (e.g. unknown classifications).
MAX_FACTS = 50_000


@dataclass(slots=True)
class CachedPlan:
    plan: RoutePlan
    fixed: Decision | None = None  # the decision, when the plan leaves nothing to draw
    decisions: dict[Any, Decision] = field(default_factory=dict)  # by (arm index, shadows)


@dataclass(slots=True)
class RouteFacts:
    """Token-independent facts of one (route, classification, intent, language, requires)."""

    max_cost: float | None
    # every candidate allowed before tokens count
    allowed: tuple[ModelInfo, ...]
    # the model each target group serves when strategy is cheapest, else None
    cheapest: tuple[ModelInfo, ...] | None
    # candidates refused for language or the route's minimum context: the full planner
    # checks the token limits first, so their trace reason depends on the tokens
    late: tuple[ModelInfo, ...] = ()
    plans: dict[Any, CachedPlan] = field(default_factory=dict)
    # the tightest limits among ``allowed`` and ``late``: one comparison each on the hot path
    min_context: int = 0
    min_output: int = 0
    top_prices: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        limited = self.allowed + self.late
        if limited:
            self.min_context = min(m.context_window for m in limited)
            self.min_output = min(m.max_output_tokens for m in limited)
        if self.allowed:
            self.top_prices = (
                max(m.price_input for m in self.allowed),
                max(m.price_output for m in self.allowed),
            )

    def fits(self, input_tokens: int, output_tokens: int) -> bool:
        """True when these token counts filter no candidate and change no trace reason."""
        if not self.allowed and not self.late:
            return True
        if input_tokens + output_tokens > self.min_context or output_tokens > self.min_output:
            return False
        max_cost = self.max_cost
        if max_cost is None or not self.allowed:
            return True
        # An upper bound on every candidate's cost (same formula as ModelInfo.cost)...
        top_in, top_out = self.top_prices
        if (input_tokens * top_in + output_tokens * top_out) / 1_000_000 <= max_cost:
            return True
        # ...and when it is not enough, the exact cost the full planner compares.
        return all(m.cost(input_tokens, output_tokens) <= max_cost for m in self.allowed)

    def order(self, input_tokens: int, output_tokens: int) -> tuple[str, ...] | None:
        """The cheapest strategy's order of the target groups for these token counts."""
        if self.cheapest is None:
            return None
        ranked = sorted(
            self.cheapest,
            key=lambda m: (m.cost(input_tokens, output_tokens), m.tier_rank, m.name),
        )
        return tuple(m.name for m in ranked)


def statically_allowed(
    model: ModelInfo,
    allowed: frozenset[str],
    requires: frozenset[str],
    route: RouteInfo,
    language: str | None,
) -> bool:
    """The evaluator's hard filters that do not look at token counts."""
    return (
        model.name in allowed
        and requires <= model.capabilities
        and not (route.min_context_window and model.context_window < route.min_context_window)
        and not (language and model.languages and language not in model.languages)
    )


def route_facts(
    policy: Policy,
    route: RouteInfo,
    classification: str | None,
    intent: str | None,
    language: str | None,
    requested: frozenset[str],
) -> RouteFacts:
    cache = policy._plan_cache
    key = (route.position, classification, intent, language, requested)
    facts = cache.get(key)
    if facts is None:
        if len(cache) >= MAX_FACTS:
            cache.clear()
        facts = cache[key] = _work_out(policy, route, classification, intent, language, requested)
    return facts


def _work_out(
    policy: Policy,
    route: RouteInfo,
    classification: str | None,
    intent: str | None,
    language: str | None,
    requested: frozenset[str],
) -> RouteFacts:
    allowed_names = policy.allowed_models(classification)
    requires = route.requires | requested
    intent_info = policy.intents.get(intent) if intent else None
    if intent_info is not None:
        requires = requires | intent_info.requires
    models = policy.models

    def ok(name: str) -> bool:
        return statically_allowed(models[name], allowed_names, requires, route, language)

    # A target group is served by its first allowed model; the models after it
    # matter only if that one does not fit the tokens, and then fits() says no.
    names = []
    for group in route.targets:
        for name in group.models:
            names.append(name)
            if ok(name):
                break
    names += route.fallback_chain
    names += [experiment.candidate for experiment in route.experiments]
    names += [model for model, _ in route.shadows]
    allowed = {name: models[name] for name in names if ok(name)}
    late = {
        name: models[name]
        for name in names
        if name not in allowed and name in allowed_names and requires <= models[name].capabilities
    }
    cheapest = None
    if route.strategy == "cheapest":
        chosen = (next((n for n in group.models if n in allowed), None) for group in route.targets)
        cheapest = tuple(models[name] for name in chosen if name is not None)
    return RouteFacts(
        max_cost=route.max_cost_per_request,
        allowed=tuple(allowed.values()),
        cheapest=cheapest,
        late=tuple(late.values()),
    )
