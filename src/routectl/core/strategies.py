"""Routing strategies, declared once: how a route orders (or splits) its eligible targets.

A :class:`Strategy` says

- which members of a target group are candidates (``whole_groups``: every
  eligible member of a tier target, else only its first eligible one);
- its ordering (``rank``): a per-model key linear in the request's tokens,
  for strategies that rank by this request's cost, or none (target order);
- whether it depends on tokens (``token_dependent``, derived from ``rank``)
  and whether it draws an arm per request (``draws``);
- how the ordered groups become the plan's arms (``arms``).

The evaluator, the plan cache, simulate's token grouping and lint read these
declarations; nothing outside this module compares strategy names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from routectl.core.request import Arm, TraceStep
from routectl.core.tokens import Linear, cost_form

if TYPE_CHECKING:
    from routectl.core.policy import ModelInfo


@dataclass(frozen=True, slots=True)
class Group:
    """A route target after the hard filters: its eligible members in target order."""

    members: tuple[ModelInfo, ...]
    weight: int | None


# (groups, fallback chain, input tokens, output tokens) -> (arms, trace step)
ArmsOf = Callable[[Sequence[Group], Sequence[str], int, int], "tuple[list[Arm], TraceStep]"]


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    arms: ArmsOf
    whole_groups: bool = False
    rank: Callable[[ModelInfo], Linear] | None = None  # rank by this form, then tier, name
    draws: bool = False
    weights: bool = False  # targets carry weights (lint: a weight elsewhere means nothing)
    # the gateway checks each answer against the route's ``cascade`` and escalates
    escalates: bool = False
    quality_bar: bool = False  # the route declares a ``quality`` its models must meet

    @property
    def token_dependent(self) -> bool:
        return self.rank is not None

    def candidates(self, groups: Sequence[Group]) -> list[ModelInfo]:
        """The models the strategy orders, once each, in target order."""
        out: dict[str, ModelInfo] = {}
        for group in groups:
            for model in group.members if self.whole_groups else group.members[:1]:
                out.setdefault(model.name, model)
        return list(out.values())

    def ranked(
        self, models: Sequence[ModelInfo], input_tokens: int, output_tokens: int
    ) -> list[ModelInfo]:
        """``models`` in this strategy's order for a request (target order without ``rank``)."""
        rank = self.rank
        if rank is None:
            return list(models)
        keyed = [(rank(m)(input_tokens, output_tokens), m.tier_rank, m.name, m) for m in models]
        keyed.sort(key=lambda k: k[:3])
        return [k[3] for k in keyed]


def dedupe(names: Sequence[str], exclude: str | None = None) -> list[str]:
    seen = {exclude} if exclude else set()
    out = []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _one_arm(name: str, ordered: list[str], chain: Sequence[str]) -> tuple[list[Arm], TraceStep]:
    primary = ordered[0] if ordered else chain[0]
    arm = Arm("primary", 1.0, primary, tuple(dedupe([*ordered, *chain], exclude=primary)))
    return [arm], TraceStep(f"strategy.{name}", "{}: primary {}", (name, primary), primary)


def _ordered_arms(name: str) -> ArmsOf:
    def arms(
        groups: Sequence[Group], chain: Sequence[str], input_tokens: int, output_tokens: int
    ) -> tuple[list[Arm], TraceStep]:
        strategy = STRATEGIES[name]
        models = strategy.ranked(strategy.candidates(groups), input_tokens, output_tokens)
        return _one_arm(name, [m.name for m in models], chain)

    return arms


class _Split(tuple):
    """Formats a weighted split for the trace only when it is read."""

    def __format__(self, spec: str) -> str:
        return ", ".join(f"{model} {fraction:.0%}" for model, fraction in self)


def shares(weights: Sequence[int | None]) -> list[float]:
    """Each weighted target's share of traffic (fractions summing to 1).

    A target without a weight gets none; when no target has a positive weight, the
    first one gets everything.
    """
    if not weights:
        return []
    plain = [weight or 0 for weight in weights]
    total = sum(plain)
    if total <= 0:
        return [1.0] + [0.0] * (len(plain) - 1)
    return [weight / total for weight in plain]


def _weighted_arms(
    groups: Sequence[Group], chain: Sequence[str], input_tokens: int, output_tokens: int
) -> tuple[list[Arm], TraceStep]:
    # Each target is served by its first eligible model.
    served = [(g.members[0].name, g.weight or 0) for g in groups if g.members]
    if not served:
        return _one_arm("weighted", [], chain)
    by_weight = [name for name, _ in sorted(served, key=lambda s: -s[1])]
    arms = [
        Arm(
            name,
            share,
            name,
            tuple(dedupe([*(n for n in by_weight if n != name), *chain], exclude=name)),
        )
        for (name, _), share in zip(served, shares([w for _, w in served]), strict=True)
        if share > 0
    ]
    split = _Split(tuple((a.primary, a.fraction) for a in arms))
    return arms, TraceStep("strategy.weighted", "weighted split {}", (split,))


STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> None:
    """Declare a strategy. The manifest accepts exactly the registered names, read when
    :mod:`routectl.core.manifest` is imported: register here, next to the others."""
    if strategy.name in STRATEGIES:
        raise ValueError(f"strategy {strategy.name!r} is already declared")
    STRATEGIES[strategy.name] = strategy


register(Strategy("priority", _ordered_arms("priority")))
register(Strategy("cheapest", _ordered_arms("cheapest"), whole_groups=True, rank=cost_form))
register(Strategy("weighted", _weighted_arms, draws=True, weights=True))


def _cascade_arms(
    groups: Sequence[Group], chain: Sequence[str], input_tokens: int, output_tokens: int
) -> tuple[list[Arm], TraceStep]:
    # The targets in order, then the fallbacks: the order a cascade escalates in (the
    # gateway checks each answer against the route's cascade.checks; routectl.gateway.cascade).
    arms, _ = _one_arm("cascade", [g.members[0].name for g in groups if g.members], chain)
    steps = " -> ".join((arms[0].primary, *arms[0].fallbacks))
    step = TraceStep(
        "strategy.cascade",
        "cascade {} (the next model when an answer fails the route's checks)",
        (steps,),
        arms[0].primary,
    )
    return arms, step


# The cheapest eligible model; the route's quality bar is a hard filter (filters.py,
# "quality"), so every model it may reach, fallbacks included, meets the bar.
register(
    Strategy(
        "cheapest-above",
        _ordered_arms("cheapest-above"),
        whole_groups=True,
        rank=cost_form,
        quality_bar=True,
    )
)
register(Strategy("cascade", _cascade_arms, escalates=True))

DEFAULT = "priority"


def strategy_of(name: str) -> Strategy:
    return STRATEGIES[name]
