"""Token counts, reduced to what routing can see of them.

The evaluator reads a request's token counts only through declared linear
forms: every hard filter's bound (:mod:`routectl.core.filters`: context
window, output limit, a route's cost cap), a route's request-size match
(``RouteInfo.size``) and the ranking of a strategy that orders by this
request's cost (:mod:`routectl.core.strategies`). Each is the
sign of a linear expression in (input, output). Two requests that agree on
all those signs get the same plan, so a replay groups traffic by the signs
(computed in SQL, one TINYINT column each) and plans one representative
request per group, instead of one plan per distinct token pair (the Azure
hour alone has 21,986). A condition that never changes over a trace costs one
more group key. The SQL is generated from the same forms
(:meth:`routectl.core.tokens.Linear.sql`, IEEE doubles in the same order), so
the grouping agrees with the evaluator to the last bit; the tests check it
against per-request planning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from routectl.core.filters import Scope, bounds_of
from routectl.core.policy import ModelInfo, Policy, RouteInfo
from routectl.core.strategies import STRATEGIES
from routectl.core.tokens import Bound, Linear

IN = "input_tokens"
OUT = "output_tokens"


@dataclass(frozen=True)
class Condition:
    sql: str  # a small whole number per row (TINYINT): a truth, a count or a sign


def conditions(policies: Iterable[Policy]) -> list[Condition]:
    """Expressions whose values, together, decide every plan of these policies.

    Two reductions keep the group keys few (each costs every row of the scan):
    the bounds on one form become one count (how many of its limits the request
    breaks, which says which ones, as a form that breaks a limit breaks every lower
    one), and a pair of ranked models whose order no request can change adds no sign.
    """
    limits: dict[Linear, set[float]] = {}
    signs: dict[str, None] = {}
    for policy in policies:
        for route in policy.routes:
            bounds = list(route.size)  # the route's request-size match
            strategy = STRATEGIES[route.strategy]
            for name in sorted(_route_models(route, policy)):
                bounds.extend(bounds_of(policy.models[name], _scope(policy, route)))
            for bound in bounds:
                limits.setdefault(bound.form, set()).add(bound.limit)
            if strategy.rank is not None:
                names = sorted({n for group in route.targets for n in group.models})
                ranked = [policy.models[n] for n in names]
                for x, a in enumerate(ranked):
                    for b in ranked[x + 1 :]:
                        if _order_varies(strategy.rank(a), a, strategy.rank(b), b):
                            fa, fb = strategy.rank(a).sql(IN, OUT), strategy.rank(b).sql(IN, OUT)
                            signs.setdefault(f"sign({fa} - {fb})")
    found = [_count_broken(form, sorted(found)) for form, found in limits.items()]
    return [*found, *(Condition(sql) for sql in signs)]


def _count_broken(form: Linear, limits: list[float]) -> Condition:
    """How many of ``limits`` the request's ``form`` exceeds (one limit: whether it does),
    each compared exactly as the evaluator compares it."""
    tests = [Bound(form, limit).sql_broken(IN, OUT) for limit in limits]
    if len(tests) == 1:
        return Condition(tests[0])
    whens = " ".join(f"WHEN {test} THEN {n}" for n, test in reversed(list(enumerate(tests, 1))))
    return Condition(f"CASE {whens} ELSE 0 END")


def _order_varies(fa: Linear, a: ModelInfo, fb: Linear, b: ModelInfo) -> bool:
    """Whether some request ranks ``a`` before ``b`` and another ``b`` before ``a``.

    Ranking sorts by (cost, tier, name). Where one form is at least the other in both
    coefficients (same scale), its cost is at least the other's for every request:
    the arithmetic is IEEE rounding of products, a sum and a quotient of non-negative
    numbers, each monotone. Then the order is fixed when the cheaper one also wins a
    tie; only a tie that the dearer one wins needs the sign."""
    if fa.scale != fb.scale or fa.scale <= 0 or min(fa.input, fa.output, fb.input, fb.output) < 0:
        return True
    for dear, cheap, dear_model, cheap_model in ((fa, fb, a, b), (fb, fa, b, a)):
        if dear.input >= cheap.input and dear.output >= cheap.output:
            cheap_wins_tie = (cheap_model.tier_rank, cheap_model.name) < (
                dear_model.tier_rank,
                dear_model.name,
            )
            return not cheap_wins_tie
    return True


def _scope(policy: Policy, route: RouteInfo) -> Scope:
    # The bounds read only the model and the route; the rest of the scope is static.
    return Scope(policy, route, None, frozenset(), frozenset(), None)


def condition_columns(conds: list[Condition]) -> list[str]:
    """One small column per condition. (Packing them into BIGINT bit fields made the
    scan twice as slow: shifts and ORs cost more than wider group keys.)"""
    return [f"({cond.sql})::TINYINT" for cond in conds]


def _route_models(route: RouteInfo, policy: Policy) -> set[str]:
    names = {n for group in route.targets for n in group.models}
    names.update(route.fallback_chain)
    names.update(model for model, _ in route.shadows)
    names.update(e.candidate for e in route.experiments)
    return {n for n in names if n in policy.models}
