"""From one plan to the shares of traffic it sends where: arms, outages, shadows.

A :class:`Leg` is the part of a request group that takes one arm of the plan;
its ``steps`` are the models the gateway would try, in order, with models that
are down already skipped. Whether a down model is skipped, and whether a
rate-limited one overflows to the next step, is the core's failover rule
(:func:`routectl.core.failover.next_step`), the one the gateway follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from routectl.core.evaluator import sticky_key
from routectl.core.failover import Action, Outcome, OutcomeKind, next_step
from routectl.core.request import Arm, Decision, Request, RoutePlan

DOWN = Outcome(OutcomeKind.unavailable)


@dataclass(frozen=True, slots=True)
class Leg:
    weight: float  # share of the group's requests
    intent: str | None
    route: str | None
    arm: str | None
    experiment: str | None
    steps: tuple[str, ...]  # models to try, in order; empty: the leg fails
    kind_if_exhausted: str  # "unroutable" (policy) | "outage" | "rate_limited"
    reason_if_exhausted: str
    triggers: frozenset[str]  # the route's fallback.triggers


@dataclass(frozen=True, slots=True)
class ShadowLeg:
    weight: float
    model: str
    source: str
    intent: str | None
    route: str | None


def legs(
    plan: RoutePlan, down: frozenset[str], drawn: Decision | None = None
) -> tuple[list[Leg], list[ShadowLeg]]:
    """Shares by expected fractions, or, given the gateway's ``drawn`` decision for a keyed
    request, all of it on the drawn arm and the drawn shadows."""
    if not plan.routable:
        reason = plan.unroutable_reason or "unroutable"
        # A consumer's own rate limit refuses like a 429 (routectl.simulate.budgets).
        limited = bool(plan.trace) and plan.trace[-1].code == "consumer.rate_limited"
        kind = "rate_limited" if limited else "unroutable"
        leg = Leg(1.0, plan.intent, plan.route, None, None, (), kind, reason, frozenset())
        return [leg], []
    experiment = plan.experiment
    rest = 1.0 - (experiment.fraction if experiment else 0.0)
    arms = [(arm, rest * arm.fraction) for arm in plan.arms]
    if experiment is not None:
        arms.append((experiment, experiment.fraction))
    if drawn is not None:
        # One arm takes the request: two arms may look alike (a model target and a tier
        # target whose cheapest member is that model), and counting both doubled it.
        first = next((i for i, (arm, _) in enumerate(arms) if _is_drawn(arm, drawn)), None)
        arms = [(arm, 1.0 if i == first else 0.0) for i, (arm, _) in enumerate(arms)]
    out: list[Leg] = []
    shadows: list[ShadowLeg] = []
    for arm, weight in arms:
        if weight <= 0:
            continue
        steps: list[str] = []
        kind, reason = "unroutable", ""
        chain = (arm.primary, *arm.fallbacks)
        for index, model in enumerate(chain):
            if model not in down:
                steps.append(model)
                continue
            step = next_step(chain, plan.triggers, index, DOWN)
            if step.action is Action.fail and step.trigger is None:
                kind = "outage"
                reason = (
                    f"{model} is down and route {plan.route} does not fall back on "
                    + "/".join(sorted(DOWN.rule.fires))
                )
                break
        else:
            kind = "rate_limited"
            reason = f"route {plan.route}: every model of the chain is rate limited"
            if not steps:
                kind = "outage"
                reason = f"route {plan.route}: every model of the chain is down"
        if not steps and kind == "unroutable":  # pragma: no cover - arms always have a primary
            reason = f"route {plan.route}: empty chain"
        out.append(
            Leg(
                weight,
                plan.intent,
                plan.route,
                arm.label,
                arm.experiment,
                tuple(steps),
                kind,
                reason,
                plan.triggers,
            )
        )
        for shadow in plan.shadows:
            if shadow.model != arm.primary and shadow.model not in down:
                share = shadow.fraction
                if drawn is not None:
                    share = 1.0 if shadow.model in drawn.shadows else 0.0
                shadows.append(
                    ShadowLeg(
                        weight * share,
                        shadow.model,
                        shadow.source,
                        plan.intent,
                        plan.route,
                    )
                )
    return out, shadows


def _is_drawn(arm: Arm, drawn: Decision) -> bool:
    return arm.label == drawn.arm and arm.primary == drawn.primary


def needs_draw(plan: RoutePlan) -> bool:
    """Whether the gateway draws anything for this plan (an arm, an experiment, a shadow)."""
    return plan.routable and (
        len(plan.arms) > 1 or plan.experiment is not None or bool(plan.shadows)
    )


def keyed(plan: RoutePlan, request: Request) -> bool:
    """Whether ``request`` carries every key the plan's draws hash; a keyless request would
    be drawn on the empty key, so it is counted with expected fractions instead."""
    if plan.experiment is not None and not sticky_key(request, plan.experiment_sticky_by):
        return False
    if len(plan.arms) > 1 and not sticky_key(request, plan.route_sticky_by):
        return False
    return not (plan.shadows and not request.request_id)
