"""Token counts, reduced to what routing can see of them.

The evaluator looks at a request's token counts in exactly five places (see
``routectl.core.evaluator._reject``, ``_route_matches`` and the ``cheapest``
strategy): total tokens against each model's context window, output tokens
against each model's output limit, a model's cost against a route's
``maxCostPerRequest``, the cost order of a cheapest route's targets, and a
route's request-size match (``inputTokens``, ``maxTokens``, ``totalTokens``). Every one is the sign of a linear
expression in (input, output). Two requests that agree on all those signs get
the same plan, so a replay groups traffic by the signs (computed in SQL, one
TINYINT column each) and plans one representative request per group, instead
of one plan per distinct token pair (the Azure hour alone has 21,986). A
condition that never changes over a trace costs one more group key. The cost
expressions are written exactly as :meth:`ModelInfo.cost` computes them (IEEE
doubles, same order), so the grouping agrees with the evaluator to the last
bit; the tests check it against per-request planning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from routectl.core.policy import ModelInfo, Policy, RouteInfo

IN = "input_tokens"
OUT = "output_tokens"


@dataclass(frozen=True)
class Condition:
    sql: str  # BOOLEAN (bits=1) or sign -1/0/1 (bits=2), per row
    bits: int


def _cost_sql(model: ModelInfo) -> str:
    return (
        f"(({IN}::DOUBLE * {model.price_input!r}::DOUBLE + "
        f"{OUT}::DOUBLE * {model.price_output!r}::DOUBLE) / 1000000.0::DOUBLE)"
    )


def conditions(policies: Iterable[Policy]) -> list[Condition]:
    """Expressions whose values, together, decide every plan of these policies."""
    found: dict[str, Condition] = {}
    for policy in policies:
        for model in policy.models.values():
            _add(found, f"({IN} + {OUT} > {model.context_window})", 1)
            _add(found, f"({OUT} > {model.max_output_tokens})", 1)
        for route in policy.routes:
            # Request-size matches: which routes a request can match at all.
            for expression, bounds in (
                (IN, route.input_tokens),
                (OUT, route.max_tokens),
                (f"({IN} + {OUT})", route.total_tokens),
            ):
                if bounds is not None:
                    low, high = bounds
                    if low is not None:
                        _add(found, f"({expression} >= {low})", 1)
                    if high is not None:
                        _add(found, f"({expression} <= {high})", 1)
            if route.max_cost_per_request is not None:
                cap = route.max_cost_per_request
                for name in sorted(_route_models(route, policy)):
                    _add(found, f"({_cost_sql(policy.models[name])} > {cap!r}::DOUBLE)", 1)
            if route.strategy == "cheapest":
                targets = sorted({n for group in route.targets for n in group.models})
                for x, a in enumerate(targets):
                    for b in targets[x + 1 :]:
                        ca, cb = _cost_sql(policy.models[a]), _cost_sql(policy.models[b])
                        _add(found, f"sign({ca} - {cb})", 2)
    return list(found.values())


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
