"""What a route's plan does not owe to a request's token counts, worked out once.

Two requests that agree on route, intent, classification, language, required
capabilities and pinned model can only get different plans through their
token counts: a candidate's token bounds (:mod:`routectl.core.filters`) may
refuse it for one of them, and a strategy that ranks by cost
(:mod:`routectl.core.strategies`) orders by each request's. When every
candidate the static filters allow also meets its bounds (by far the common
case), the plan is the same for all of them, up to the strategy's order.
(The trace is part of the plan: a candidate refused by a static filter that
comes after a bound, such as language or the route's minimum context, must
meet the bounds before it too, or the full planner would give that bound as
the reason.) :class:`RouteFacts` knows those bounds, so the evaluator checks
the fit in a few comparisons and reuses the plan it built the first time. A
request that does not fit takes the full planner, so a reused plan is always
exactly what the full planner gives (the property tests compare the two).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from routectl.core.filters import Scope, StaticView, static_view
from routectl.core.policy import ModelInfo, Policy, RouteInfo
from routectl.core.request import Decision, RoutePlan
from routectl.core.strategies import STRATEGIES, Strategy
from routectl.core.tokens import Bound, Linear

# Bounds the memory a stream of odd requests can pin (e.g. unknown classifications).
MAX_FACTS = 50_000


@dataclass(slots=True)
class CachedPlan:
    plan: RoutePlan
    fixed: Decision | None = None  # the decision, when the plan leaves nothing to draw
    decisions: dict[Any, Decision] = field(default_factory=dict)  # by (arm index, shadows)


# One check of fits(): (input coefficient, output coefficient, scale, limit, exact forms).
# The coefficients dominate every form of the check; when the dominating form is over the
# limit, each exact form is checked (None: the dominating form is the only one).
_Check = tuple[float, float, float, float, tuple[Linear, ...] | None]


@dataclass(slots=True)
class RouteFacts:
    """Token-independent facts of one (route, classification, intent, language, requires)."""

    checks: tuple[_Check, ...]
    # the models a token-dependent strategy ranks, else None
    ranked: tuple[ModelInfo, ...] | None
    strategy: Strategy
    # where the ranking of all the route's ranked models changes, over the token mix
    segments: Segments | None = None
    # what the static filters said of each candidate, for planning a request that does
    # not fit without asking them again
    views: dict[str, StaticView] = field(default_factory=dict)
    plans: dict[Any, CachedPlan] = field(default_factory=dict)

    def fits(self, input_tokens: int, output_tokens: int) -> bool:
        """True when these token counts break no candidate's bound (so change no trace)."""
        for a, b, scale, limit, exact in self.checks:
            value = input_tokens * a + output_tokens * b
            if scale != 1:
                value = value / scale
            if value > limit:
                if exact is None:
                    return False
                for form in exact:
                    if form(input_tokens, output_tokens) > limit:
                        return False
        return True

    def order(self, input_tokens: int, output_tokens: int) -> Any:
        """A key that is equal for two token counts only when the strategy orders its
        candidates the same way for both (None: the order does not depend on tokens)."""
        if self.ranked is None:
            return None
        if self.segments is not None:
            segment = self.segments.find(input_tokens, output_tokens)
            if segment is not None:
                return segment
        ranked = self.strategy.ranked(self.ranked, input_tokens, output_tokens)
        return tuple(m.name for m in ranked)


class Segments:
    """The token mixes over which a ranking by linear forms stays the same.

    Each form, per token, is ``r * a + (1 - r) * b`` for the mix ``r = input / (input +
    output)`` (``a``, ``b`` its coefficients over its scale), so two models swap places
    only where their lines cross. Around each crossing lies a guard band wide enough that
    outside it the floating-point costs compare as the exact ones do; between the bands
    the whole order is fixed, so the segment's number is a key for it. A mix inside a
    band (or no tokens at all) gets None, and the caller ranks that request itself.
    A ranking of n models costs n^2/2 crossings once per route; a request, one bisection.
    """

    __slots__ = ("starts", "ends")

    # The guard's width over the largest coefficient and the slope between two lines:
    # far above the few ulps the cost formula can be off by.
    RELATIVE_GUARD = 1e-9

    def __init__(self, forms: Sequence[Linear]) -> None:
        lines = sorted({(f.input / f.scale, f.output / f.scale) for f in forms})
        top = max((max(abs(a), abs(b)) for a, b in lines), default=0.0)
        bands: list[tuple[float, float]] = []
        for x, (ax, bx) in enumerate(lines):
            for ay, by in lines[x + 1 :]:
                da, db = ax - ay, bx - by
                slope = da - db
                if abs(slope) <= self.RELATIVE_GUARD * top:
                    if abs(db) <= self.RELATIVE_GUARD * top:  # (nearly) the same line
                        bands.append((float("-inf"), float("inf")))
                    continue  # parallel: one is always cheaper
                crossing = -db / slope
                guard = self.RELATIVE_GUARD * top / abs(slope)
                if crossing + guard >= 0.0 and crossing - guard <= 1.0:
                    bands.append((crossing - guard, crossing + guard))
        bands.sort()
        merged: list[list[float]] = []
        for start, end in bands:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [band[0] for band in merged]
        self.ends = [band[1] for band in merged]

    def find(self, input_tokens: int, output_tokens: int) -> int | None:
        total = input_tokens + output_tokens
        if total <= 0:
            return None
        mix = input_tokens / total
        k = bisect_right(self.starts, mix) - 1
        if k >= 0 and mix <= self.ends[k]:
            return None
        return k


def _checks(bounds: list[Bound]) -> tuple[_Check, ...]:
    """Few comparisons for many bounds.

    Identical forms keep their lowest limit. Forms sharing a scale and a limit (every
    candidate's cost against one cap) are checked first against one form whose
    coefficients are their maxima: with non-negative tokens and coefficients, rounding
    is monotone, so when that form is within the limit every one of them is.
    """
    tightest: dict[Linear, float] = {}
    for bound in bounds:
        limit = tightest.get(bound.form)
        if limit is None or bound.limit < limit:
            tightest[bound.form] = bound.limit
    by_limit: dict[tuple[float, float], list[Linear]] = {}
    for form, limit in tightest.items():
        by_limit.setdefault((form.scale, limit), []).append(form)
    out: list[_Check] = []
    for (scale, limit), forms in by_limit.items():
        if len(forms) == 1:
            form = forms[0]
            out.append((form.input, form.output, scale, limit, None))
        else:
            top_in = max(f.input for f in forms)
            top_out = max(f.output for f in forms)
            out.append((top_in, top_out, scale, limit, tuple(forms)))
    return tuple(out)


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
    requires = route.requires | requested
    intent_info = policy.intents.get(intent) if intent else None
    if intent_info is not None:
        requires = requires | intent_info.requires
    scope = Scope(
        policy,
        route,
        classification,
        policy.allowed_models(classification),
        requires,
        language,
        intent=intent,
    )
    strategy = STRATEGIES[route.strategy]
    models = policy.models
    views: dict[str, StaticView] = {}

    def view(name: str) -> StaticView:
        if name not in views:
            views[name] = static_view(models[name], scope)
        return views[name]

    # A target is served by its first allowed model (or, for a strategy over whole
    # targets, by every allowed member); the models after it matter only if that one
    # does not meet its bounds, and then fits() says no.
    names: list[str] = []
    ranked: list[str] = []
    for group in route.targets:
        for name in group.models:
            names.append(name)
            if view(name).refused is None:
                ranked.append(name)
                if not strategy.whole_groups:
                    break
    names += route.fallback_chain
    names += [experiment.candidate for experiment in route.experiments]
    names += [model for model, _ in route.shadows]
    bounds: list[Bound] = []
    for name in dict.fromkeys(names):
        bounds.extend(bound for _, bound in view(name).bounds)
    if strategy.rank is None:
        return RouteFacts(_checks(bounds), None, strategy, views=views)
    return RouteFacts(
        _checks(bounds),
        tuple(models[n] for n in dict.fromkeys(ranked)),
        strategy,
        _segments(policy, route, strategy),
        views=views,
    )


def _segments(policy: Policy, route: RouteInfo, strategy: Strategy) -> Segments:
    """One index per route, over every model it could rank: whatever subset a class or an
    intent leaves, its order is fixed wherever the whole route's order is."""
    cache = policy._plan_cache
    key = ("segments", route.position)
    found = cache.get(key)
    if found is None:
        rank = strategy.rank
        assert rank is not None
        names = {n for group in route.targets for n in group.models}
        found = cache[key] = Segments([rank(policy.models[n]) for n in names])
    return found
