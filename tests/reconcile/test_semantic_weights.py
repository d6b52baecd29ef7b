"""The reviewer's diff reads weights the way the evaluator does."""

from __future__ import annotations

from routectl.core.state import Resource
from routectl.reconcile.semantic import semantic_diff


def _route(targets: list[dict]) -> dict[str, Resource]:
    spec = {"strategy": "weighted", "targets": targets, "fallback": {"chain": [], "on": []}}
    return {"route/r": Resource("Route", "r", spec)}


def test_a_target_without_weight_gets_no_traffic_in_the_diff():
    # The evaluator sends nothing to a weighted target without a weight: a-80/b-20 with an
    # unweighted c added changes no share, where counting c as 1 showed 80% -> 79.21%.
    base = _route([{"model": "a", "weight": 80}, {"model": "b", "weight": 20}])
    head = _route([{"model": "a", "weight": 80}, {"model": "b", "weight": 20}, {"model": "c"}])
    (change,) = semantic_diff(base, head)
    assert change.lines == ("target c added (0%)",)


def test_the_summary_of_a_new_weighted_route_shows_the_evaluators_shares():
    head = _route([{"model": "a", "weight": 3}, {"model": "b"}])
    (change,) = semantic_diff({}, head)
    assert change.lines == ("weighted over a 100%, b 0%; fallback (none)",)
