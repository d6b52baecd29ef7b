"""Policy tests: requests with expected outcomes, checked against the evaluator.

``never_routes_to`` is checked against everything the request could reach,
not only the drawn arm: every arm, every fallback, every shadow of the plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from routectl.core.budgets import state_at
from routectl.core.evaluator import choose, plan
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
    )


def reachable(route_plan: RoutePlan) -> set[str]:
    names: set[str] = set()
    arms = list(route_plan.arms) + ([route_plan.experiment] if route_plan.experiment else [])
    for arm in arms:
        names.add(arm.primary)
        names.update(arm.fallbacks)
    names.update(s.model for s in route_plan.shadows)
    return names


def check_case(policy: Policy, case: CaseSpec) -> tuple[list[str], Decision]:
    request = request_of(case, policy)
    route_plan = plan(policy, request)
    decision = choose(route_plan, request)
    expect = case.expect
    failures: list[str] = []
    if expect.unroutable is True and decision.routable:
        failures.append(f"expected unroutable, but routes to {decision.primary}")
    if expect.unroutable is False and not decision.routable:
        failures.append(f"expected routable, but: {decision.unroutable_reason}")
    if expect.routes_to is not None and decision.primary != expect.routes_to:
        got = decision.primary or f"nothing ({decision.unroutable_reason})"
        failures.append(f"expected primary {expect.routes_to}, got {got}")
    if expect.route is not None and decision.route != expect.route:
        failures.append(f"expected route {expect.route}, got {decision.route or 'none'}")
    if expect.fallbacks is not None and list(decision.fallbacks) != list(expect.fallbacks):
        failures.append(
            f"expected fallbacks {list(expect.fallbacks)}, got {list(decision.fallbacks)}"
        )
    forbidden = sorted(reachable(route_plan) & set(expect.never_routes_to))
    if forbidden:
        failures.append(f"may reach {', '.join(forbidden)}, which it must never route to")
    return failures, decision


def run_tests(policy: Policy, tests: Iterable[Any]) -> list[CaseResult]:
    """Run every case of the given PolicyTest documents, in order."""
    results = []
    for test in tests:
        for index, case in enumerate(test.spec.cases):
            failures, decision = check_case(policy, case)
            results.append(
                CaseResult(
                    test.metadata.name,
                    case.name,
                    tuple(failures),
                    decision,
                    ("spec", "cases", index),
                )
            )
    return results
