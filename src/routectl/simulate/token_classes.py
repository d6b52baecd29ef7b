"""Token counts, reduced to what routing can see of them.

The evaluator looks at a request's token counts in exactly four places (see
``routectl.core.evaluator._reject`` and the ``cheapest`` strategy): total
tokens against each model's context window, output tokens against each model's
output limit, a model's cost against a route's ``maxCostPerRequest``, and the
cost order of a cheapest route's targets. Every one is the sign of a linear
expression in (input, output). Two requests that agree on all those signs get
the same plan, so a replay groups traffic by the signs (computed in SQL) and
plans one representative request per group, instead of one plan per distinct
token pair (the Azure hour alone has 21,986). The cost expressions are written
exactly as :meth:`ModelInfo.cost` computes them (IEEE doubles, same order), so
the grouping agrees with the evaluator to the last bit; the tests check it
against per-request :func:`decide`.
"""

from __future__ import annotations

from collections.abc import Iterable

from routectl.core.policy import ModelInfo, Policy

IN = "input_tokens"
OUT = "output_tokens"


def _cost_sql(model: ModelInfo) -> str:
    return (
        f"(({IN}::DOUBLE * {model.price_input!r}::DOUBLE + "
        f"{OUT}::DOUBLE * {model.price_output!r}::DOUBLE) / 1000000.0::DOUBLE)"
    )


def conditions(policies: Iterable[Policy]) -> list[str]:
    """SQL expressions (each BOOLEAN or -1/0/1) whose values decide every plan."""
    found: dict[str, None] = {}  # ordered set
    for policy in policies:
        for model in policy.models.values():
            found[f"({IN} + {OUT} > {model.context_window})"] = None
            found[f"({OUT} > {model.max_output_tokens})"] = None
        for route in policy.routes:
            names = _route_models(route, policy)
            if route.max_cost_per_request is not None:
                for name in names:
                    cost = _cost_sql(policy.models[name])
                    found[f"({cost} > {route.max_cost_per_request!r}::DOUBLE)"] = None
            if route.strategy == "cheapest":
                targets = sorted({n for group in route.targets for n in group.models})
                for i, a in enumerate(targets):
                    for b in targets[i + 1 :]:
                        ca, cb = _cost_sql(policy.models[a]), _cost_sql(policy.models[b])
                        found[f"sign({ca} - {cb})"] = None
    return list(found)


def _route_models(route, policy: Policy) -> set[str]:
    names = {n for group in route.targets for n in group.models}
    names.update(route.fallback_chain)
    names.update(model for model, _ in route.shadows)
    names.update(e.candidate for e in route.experiments)
    return {n for n in names if n in policy.models}
