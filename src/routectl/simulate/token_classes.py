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

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from routectl.core.policy import ModelInfo, Policy, RouteInfo

IN = "input_tokens"
OUT = "output_tokens"


@dataclass(frozen=True)
class Condition:
    """``sql`` evaluates per row; ``value`` is the same expression in Python (for pruning)."""

    sql: str
    value: Callable[[int, int], int]
    bits: int  # 1 for a comparison, 2 for a sign (-1/0/1)


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
            cw, mo = model.context_window, model.max_output_tokens
            _add(found, f"({IN} + {OUT} > {cw})", lambda i, o, cw=cw: int(i + o > cw), 1)
            _add(found, f"({OUT} > {mo})", lambda i, o, mo=mo: int(o > mo), 1)
        for route in policy.routes:
            if route.max_cost_per_request is not None:
                cap = route.max_cost_per_request
                for name in sorted(_route_models(route, policy)):
                    info = policy.models[name]
                    _add(
                        found,
                        f"({_cost_sql(info)} > {cap!r}::DOUBLE)",
                        lambda i, o, info=info, cap=cap: int(info.cost(i, o) > cap),
                        1,
                    )
            if route.strategy == "cheapest":
                targets = sorted({n for group in route.targets for n in group.models})
                for x, a in enumerate(targets):
                    for b in targets[x + 1 :]:
                        ma, mb = policy.models[a], policy.models[b]
                        _add(
                            found,
                            f"sign({_cost_sql(ma)} - {_cost_sql(mb)})",
                            lambda i, o, ma=ma, mb=mb: _sign(ma.cost(i, o) - mb.cost(i, o)),
                            2,
                        )
    return list(found.values())


def _add(
    found: dict[str, Condition], sql: str, value: Callable[[int, int], int], bits: int
) -> None:
    if sql not in found:
        found[sql] = Condition(sql, value, bits)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def varying(conds: list[Condition], box: tuple[int, int, int, int]) -> list[Condition]:
    """The conditions that are not constant over the traffic's token box.

    Each expression is linear in (input, output), so it keeps one sign over the
    box [min_in, max_in] x [min_out, max_out] when it has that sign at the four
    corners; such a condition separates nothing and is dropped before the scan.
    """
    lo_in, hi_in, lo_out, hi_out = box
    corners = [(lo_in, lo_out), (lo_in, hi_out), (hi_in, lo_out), (hi_in, hi_out)]
    return [c for c in conds if len({c.value(i, o) for i, o in corners}) > 1]


def packed_sql(conds: list[Condition]) -> list[str]:
    """The conditions packed into BIGINT bit fields (62 bits each): few, cheap group keys."""
    words: list[list[str]] = [[]]
    used = 0
    for cond in conds:
        if used + cond.bits > 62:
            words.append([])
            used = 0
        value = f"({cond.sql})::BIGINT" if cond.bits == 1 else f"(({cond.sql}) + 1)::BIGINT"
        words[-1].append(f"({value} << {used})" if used else value)
        used += cond.bits
    return [" | ".join(word) for word in words if word]


def _route_models(route: RouteInfo, policy: Policy) -> set[str]:
    names = {n for group in route.targets for n in group.models}
    names.update(route.fallback_chain)
    names.update(model for model, _ in route.shadows)
    names.update(e.candidate for e in route.experiments)
    return {n for n in names if n in policy.models}
