"""Rate limits over the trace's own clock, in fixed one-minute windows.

In each minute every model and provider with ``rpm``/``tpm`` admits at most that
many requests/tokens (tokens = input + output). When demand is above the limit,
each flow reaching the model gets the same admitted share (no ordering inside a
minute is assumed); the rest gets a 429 and moves to the next step of its
chain if the route falls back on ``429``, or fails otherwise (the core's failover
rule, :func:`routectl.core.failover.next_step`, as in the gateway). Steps are
processed in rounds (all primaries, then all first fallbacks, …), so overflow
uses the capacity primaries left over.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from routectl.core.failover import Action, Outcome, OutcomeKind, next_step
from routectl.core.policy import Policy
from routectl.simulate.legs import Leg

LIMITED = Outcome(OutcomeKind.rate_limited)


@dataclass(frozen=True, slots=True)
class Flow:
    key: tuple[int, int, int]  # (uid, ostate, minute)
    leg_index: int
    leg: Leg
    requests: float
    tokens: float  # input + output


@dataclass(frozen=True, slots=True)
class Served:
    key: tuple[int, int, int]
    leg_index: int
    kind: str  # served | rate_limited | outage | unroutable
    model: str | None
    reason: str | None
    share: float  # of the flow


def has_limits(policy: Policy) -> bool:
    return any(m.rpm or m.tpm for m in policy.models.values()) or any(
        p.rpm or p.tpm for p in policy.providers.values()
    )


def simulate_minute(policy: Policy, flows: list[Flow]) -> list[Served]:
    """Where each flow of one minute ends up, as shares of the flow."""
    left: dict[tuple[str, str], float] = {}
    for name, model in policy.models.items():
        if model.rpm:
            left[("model-req", name)] = float(model.rpm)
        if model.tpm:
            left[("model-tok", name)] = float(model.tpm)
    for name, provider in policy.providers.items():
        if provider.rpm:
            left[("provider-req", name)] = float(provider.rpm)
        if provider.tpm:
            left[("provider-tok", name)] = float(provider.tpm)

    out: list[Served] = []
    # (flow, step, remaining share)
    active = []
    for flow in flows:
        if flow.leg.steps:
            active.append((flow, 0, 1.0))
        else:
            out.append(
                Served(
                    flow.key,
                    flow.leg_index,
                    flow.leg.kind_if_exhausted,
                    None,
                    flow.leg.reason_if_exhausted,
                    1.0,
                )
            )
    while active:
        demand_req: dict[str, float] = defaultdict(float)
        demand_tok: dict[str, float] = defaultdict(float)
        for flow, step, share in active:
            model = flow.leg.steps[step]
            demand_req[model] += flow.requests * share
            demand_tok[model] += flow.tokens * share
        ratio = {m: _ratio(left, "model", m, demand_req[m], demand_tok[m]) for m in demand_req}
        by_provider_req: dict[str, float] = defaultdict(float)
        by_provider_tok: dict[str, float] = defaultdict(float)
        for m, r in ratio.items():
            provider = policy.models[m].provider
            by_provider_req[provider] += demand_req[m] * r
            by_provider_tok[provider] += demand_tok[m] * r
        provider_ratio = {
            p: _ratio(left, "provider", p, by_provider_req[p], by_provider_tok[p])
            for p in by_provider_req
        }
        for m in ratio:
            ratio[m] *= provider_ratio[policy.models[m].provider]
            _consume(left, "model", m, demand_req[m] * ratio[m], demand_tok[m] * ratio[m])
        for p in provider_ratio:
            admitted_req = sum(
                demand_req[m] * ratio[m] for m in ratio if policy.models[m].provider == p
            )
            admitted_tok = sum(
                demand_tok[m] * ratio[m] for m in ratio if policy.models[m].provider == p
            )
            _consume(left, "provider", p, admitted_req, admitted_tok)

        next_active = []
        for flow, step, share in active:
            model = flow.leg.steps[step]
            served = share * ratio[model]
            if served > 0:
                out.append(Served(flow.key, flow.leg_index, "served", model, None, served))
            rejected = share - served
            if rejected <= 1e-12:
                continue
            after = next_step(flow.leg.steps, flow.leg.triggers, step, LIMITED)
            if after.action is Action.next:
                next_active.append((flow, after.index, rejected))
                continue
            if after.trigger is None:
                reason = (
                    f"rate limited at {model} and route {flow.leg.route} does not fall back on 429"
                )
                kind = "rate_limited"
            else:
                kind, reason = flow.leg.kind_if_exhausted, flow.leg.reason_if_exhausted
            out.append(Served(flow.key, flow.leg_index, kind, None, reason, rejected))
        active = next_active
    return out


def _ratio(
    left: dict[tuple[str, str], float], scope: str, name: str, req: float, tok: float
) -> float:
    ratio = 1.0
    cap = left.get((f"{scope}-req", name))
    if cap is not None and req > cap:
        ratio = min(ratio, cap / req)
    cap = left.get((f"{scope}-tok", name))
    if cap is not None and tok > cap:
        ratio = min(ratio, cap / tok)
    return max(ratio, 0.0)


def _consume(
    left: dict[tuple[str, str], float], scope: str, name: str, req: float, tok: float
) -> None:
    for kind, amount in (("req", req), ("tok", tok)):
        key = (f"{scope}-{kind}", name)
        if key in left:
            left[key] = max(0.0, left[key] - amount)
