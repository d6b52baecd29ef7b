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
from routectl.core.policy import Policy, RouteInfo
from routectl.core.strategies import STRATEGIES

IN = "input_tokens"
OUT = "output_tokens"


@dataclass(frozen=True)
class Condition:
    sql: str  # BOOLEAN (bits=1) or sign -1/0/1 (bits=2), per row
    bits: int


def conditions(policies: Iterable[Policy]) -> list[Condition]:
    """Expressions whose values, together, decide every plan of these policies."""
    found: dict[str, Condition] = {}
    for policy in policies:
        for route in policy.routes:
            for bound in route.size:  # the route's request-size match
                _add(found, bound.sql_broken(IN, OUT), 1)
            strategy = STRATEGIES[route.strategy]
            for name in sorted(_route_models(route, policy)):
                for bound in bounds_of(policy.models[name], _scope(policy, route)):
                    _add(found, bound.sql_broken(IN, OUT), 1)
            if strategy.rank is not None:
                targets = sorted({n for group in route.targets for n in group.models})
                forms = [strategy.rank(policy.models[n]).sql(IN, OUT) for n in targets]
                for x, a in enumerate(forms):
                    for b in forms[x + 1 :]:
                        _add(found, f"sign({a} - {b})", 2)
    return list(found.values())


def _scope(policy: Policy, route: RouteInfo) -> Scope:
    # The bounds read only the model and the route; the rest of the scope is static.
    return Scope(policy, route, None, frozenset(), frozenset(), None)


def _add(found: dict[str, Condition], sql: str, bits: int) -> None:
    found.setdefault(sql, Condition(sql, bits))


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
