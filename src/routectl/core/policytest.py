"""Policy tests: requests with expected outcomes, checked against the evaluator.

``never_routes_to`` is checked against everything the request could reach,
not only the drawn arm: every arm, every fallback, every shadow of the plan.
A case's ``down`` list takes providers or models down; ``served_by`` is the
model that answers when the chain fails over past them, by the core's
failover rule (:func:`routectl.core.failover.walk`), as the gateway does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from routectl.core.budgets import state_at
from routectl.core.evaluator import choose, plan
from routectl.core.failover import Walk, down_models, outage, walk
from routectl.core.manifest import CaseSpec
from routectl.core.policy import Policy
from routectl.core.request import Decision, Request, RoutePlan


@dataclass(frozen=True)
class CaseResult:
    test: str  # PolicyTest name
    case: str
    failures: tuple[str, ...]
    decision: Decision
    path: tuple[str | int, ...]  # where the case sits in its document, for locating failures
    served: Walk | None = None  # where the chain ends up with the case's outages

    @property
    def passed(self) -> bool:
        return not self.failures


def request_of(case: CaseSpec, policy: Policy | None = None) -> Request:
    """The case's request; ``budgetUsed`` becomes the consumer's budget state in ``policy``."""
    r = case.request
    budget = None
    if r.budget_used is not None and policy is not None and r.consumer in policy.consumers:
        budget = state_at(policy.consumers[r.consumer].budgets, r.budget_used / 100.0)
    return Request(
        intent=r.intent,
        classification=r.classification,
        language=r.language,
        consumer=r.consumer,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        metadata=dict(r.metadata),
        request_id=r.request_id or f"test:{case.name}",
        prompt=r.prompt,
        budget=budget,
        session=r.session,
        requires=frozenset(r.requires),
        model=r.model,
    )


def reachable(route_plan: RoutePlan) -> set[str]:
    names: set[str] = set()
    arms = list(route_plan.arms) + ([route_plan.experiment] if route_plan.experiment else [])
    for arm in arms:
        names.add(arm.primary)
        names.update(arm.fallbacks)
    names.update(s.model for s in route_plan.shadows)
    return names


def served(policy: Policy, decision: Decision, down: frozenset[str]) -> Walk:
    """Where ``decision``'s chain ends up when the ``down`` models are unavailable."""
    return walk(decision.chain(), decision.triggers, outage(down))


def check_case(policy: Policy, case: CaseSpec) -> tuple[list[str], Decision, Walk | None]:
    request = request_of(case, policy)
    route_plan = plan(policy, request)
    decision = choose(route_plan, request)
    expect = case.expect
    failures: list[str] = []
    unknown = [n for n in case.down if n not in policy.models and n not in policy.providers]
    if unknown:
        failures.append(f"down: no provider or model named {', '.join(unknown)}")
    if expect.unroutable is True and decision.routable:
        failures.append(f"expected unroutable, but routes to {decision.primary}")
    if expect.unroutable is False and not decision.routable:
        failures.append(f"expected routable, but: {decision.unroutable_reason}")
    if expect.routes_to is not None and decision.primary != expect.routes_to:
        got = decision.primary or f"nothing ({decision.unroutable_reason})"
        failures.append(f"expected primary {expect.routes_to}, got {got}")
    if expect.intent is not None and decision.intent != expect.intent:
        failures.append(f"expected intent {expect.intent}, got {decision.intent or 'none'}")
    if expect.route is not None and decision.route != expect.route:
        failures.append(f"expected route {expect.route}, got {decision.route or 'none'}")
    if expect.fallbacks is not None and list(decision.fallbacks) != list(expect.fallbacks):
        failures.append(
            f"expected fallbacks {list(expect.fallbacks)}, got {list(decision.fallbacks)}"
        )
    if expect.shadows is not None and sorted(decision.shadows) != list(expect.shadows):
        failures.append(f"expected shadows {list(expect.shadows)}, got {sorted(decision.shadows)}")
    if expect.arm is not None and decision.arm != expect.arm:
        failures.append(f"expected arm {expect.arm}, got {decision.arm or 'none'}")
    if expect.experiment is not None and decision.experiment != expect.experiment:
        failures.append(
            f"expected experiment {expect.experiment}, got {decision.experiment or 'none'}"
        )
    forbidden = sorted(reachable(route_plan) & set(expect.never_routes_to))
    if forbidden:
        failures.append(f"may reach {', '.join(forbidden)}, which it must never route to")
    walked = None
    if case.down or expect.served_by is not None:
        walked = served(policy, decision, down_models(policy, case.down))
        if expect.served_by is not None and walked.answered != expect.served_by:
            got = walked.answered or f"nothing ({walked.reason or decision.unroutable_reason})"
            failures.append(f"expected to be served by {expect.served_by}, got {got}")
    return failures, decision, walked


def run_tests(policy: Policy, tests: Iterable[Any]) -> list[CaseResult]:
    """Run every case of the given PolicyTest documents, in order."""
    results = []
    for test in tests:
        for index, case in enumerate(test.spec.cases):
            failures, decision, walked = check_case(policy, case)
            results.append(
                CaseResult(
                    test.metadata.name,
                    case.name,
                    tuple(failures),
                    decision,
                    ("spec", "cases", index),
                    walked,
                )
            )
    return results
