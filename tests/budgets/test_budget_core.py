"""The pure budget semantics: windows, states, and what the evaluator does with them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from budgets.policies import PRICED
from routectl.core import manifest as m
from routectl.core.budgets import (
    budget_info,
    budget_state,
    charge_cost,
    period_start,
    spend_in_window,
    state_at,
    window,
)
from routectl.core.evaluator import decide
from routectl.core.request import Request


def _budget(**spec) -> m.Budget:
    return m.Budget.model_validate(spec)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_monthly_usd_shorthand_blocks_at_one_hundred_percent():
    info = budget_info("consumer", "app", _budget(monthlyUsd=10))
    assert info.amount_usd == 10 and info.period == "monthly"
    assert budget_state([info], {"consumer/app": 9.99}).action is None
    state = budget_state([info], {"consumer/app": 10.0})
    assert state.action == "block" and state.used == pytest.approx(1.0)


def test_percent_means_percent_not_a_fraction_nor_dollars():
    info = budget_info(
        "consumer",
        "app",
        _budget(amountUsd=1000, thresholds=[{"at": "80%", "action": "downgrade", "tier": "x"}]),
    )
    assert info.thresholds[0].fraction == pytest.approx(0.8)
    assert budget_state([info], {"consumer/app": 80.0}).action is None  # 8%, not 80 USD
    assert budget_state([info], {"consumer/app": 799.99}).action is None
    assert budget_state([info], {"consumer/app": 800.0}).action == "downgrade"
    # with explicit thresholds and no block, nothing blocks
    assert budget_state([info], {"consumer/app": 5000.0}).action == "downgrade"


def test_block_wins_over_downgrade_and_the_higher_downgrade_over_the_lower():
    consumer = budget_info(
        "consumer",
        "app",
        _budget(
            amountUsd=100,
            thresholds=[
                {"at": 50, "action": "downgrade", "tier": "mid"},
                {"at": 75, "action": "downgrade", "route": "cheap"},
                {"at": 60, "action": "alert"},
            ],
        ),
    )
    team = budget_info("team", "web", _budget(amountUsd=1000, period="daily"))
    state = budget_state([consumer, team], {"consumer/app": 80, "team/web": 10})
    assert (state.action, state.route, state.budget) == ("downgrade", "cheap", "consumer/app")
    assert state.alerts == (("consumer/app", 0.6),)
    state = budget_state([consumer, team], {"consumer/app": 80, "team/web": 1000})
    assert (state.action, state.budget) == ("block", "team/web")
    assert state.used == pytest.approx(1.0)


def test_calendar_windows_follow_the_stated_time_zone():
    monthly = budget_info("consumer", "a", _budget(monthlyUsd=1, timeZone="Europe/Istanbul"))
    # 22:30 UTC on Nov 30 is already Dec 1 in Istanbul (UTC+3)
    assert window(monthly, _ts("2026-11-30T22:30:00+00:00")).charge == "consumer/a@2026-12"
    assert window(monthly, _ts("2026-11-30T20:59:00+00:00")).charge == "consumer/a@2026-11"
    weekly = budget_info("consumer", "a", _budget(amountUsd=1, period="weekly"))
    assert window(weekly, _ts("2026-12-06T12:00:00+00:00")).charge == "consumer/a@w2026-11-30"
    assert window(weekly, _ts("2026-12-07T00:00:00+00:00")).charge == "consumer/a@w2026-12-07"
    daily = budget_info("consumer", "a", _budget(amountUsd=1, period="daily"))
    start = period_start(daily, _ts("2026-12-07T13:00:00+00:00"))
    assert start == datetime(2026, 12, 7, tzinfo=UTC)


def test_rolling_windows_sum_the_last_buckets_only():
    daily = budget_info("consumer", "a", _budget(amountUsd=10, period="daily", rolling=True))
    t0 = _ts("2026-12-07T10:15:00+00:00")
    buckets = {window(daily, t0).charge: 4.0}
    assert spend_in_window(daily, t0 + 23 * 3600, buckets) == 4.0
    assert spend_in_window(daily, t0 + 24 * 3600, buckets) == 0.0  # the hour left the window
    assert len(window(daily, t0).read) == 24


def test_cached_input_is_priced_as_cached_when_the_model_has_a_cached_price():
    assert charge_cost(2.0, 8.0, 0.5, 1000, 100, 400) == pytest.approx(
        (600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6
    )
    assert charge_cost(2.0, 8.0, None, 1000, 100, 400) == pytest.approx((1000 * 2 + 800) / 1e6)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"monthlyUsd": 5, "amountUsd": 5}, "exactly one"),
        ({"amountUsd": 5, "timeZone": "Mars/Base"}, "unknown time zone"),
        ({"amountUsd": 5, "thresholds": [{"at": 80, "action": "downgrade"}]}, "exactly one"),
        ({"amountUsd": 5, "thresholds": [{"at": 80, "action": "block", "tier": "x"}]}, "belong"),
        ({"amountUsd": 5, "thresholds": [{"at": "eighty", "action": "block"}]}, "percentage"),
        ({"monthlyUsd": 5, "period": "daily"}, "monthly"),
    ],
)
def test_bad_budgets_are_rejected_with_a_reason(spec, message):
    with pytest.raises(ValidationError, match=message):
        _budget(**spec)


BUDGETED = (
    PRICED
    + """
---
apiVersion: routectl.dev/v1
kind: Team
metadata: {name: web}
spec:
  budget: {amountUsd: 500, period: daily}
---
apiVersion: routectl.dev/v1
kind: Consumer
metadata: {name: app}
spec:
  apiKey: env:APP_KEY
  team: web
  budget:
    amountUsd: 100
    thresholds:
      - {at: 80%, action: downgrade, tier: lightweight}
      - {at: 100%, action: block}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: spenders}
spec:
  order: 10
  match: {budget: {usedAbove: 90%}}
  targets: [{model: small}]
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: main}
spec:
  order: 20
  targets: [{model: big}]
  fallback: {chain: [big, small]}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: long}
spec:
  order: 5
  match: {inputTokens: {min: 100001}}
  targets: [{model: big}]
"""
)


def test_evaluator_downgrades_blocks_and_matches_budget_routes(make_policy):
    policy = make_policy(BUDGETED)
    app = policy.consumers["app"]
    assert [b.key for b in app.budgets] == ["consumer/app", "team/web"]

    def primary(used: float | None) -> tuple[str | None, str | None]:
        budget = None if used is None else state_at(app.budgets, used)
        decision = decide(policy, Request(consumer="app", input_tokens=500, budget=budget))
        return decision.primary, decision.unroutable_reason

    assert primary(None) == ("big", None)
    assert primary(0.79) == ("big", None)
    assert primary(0.8)[0] == "small"  # downgraded to the lightweight tier
    decision = decide(policy, Request(consumer="app", budget=state_at(app.budgets, 0.85)))
    assert decision.fallbacks == ()  # big is dearer than the tier: not a fallback either
    details = [step.detail for step in decision.trace]
    assert any("downgraded to tier lightweight" in d for d in details)
    assert "big filtered out: budget consumer/app downgraded the request to tier lightweight" in (
        details
    )
    assert primary(1.0)[0] is None and "blocked at 100%" in primary(1.0)[1]


def test_route_matches_on_budget_use(make_policy):
    policy = make_policy(BUDGETED.replace("- {at: 80%, action: downgrade, tier: lightweight}", ""))
    app = policy.consumers["app"]

    def used(fraction: float) -> str | None:
        budget = state_at(app.budgets, fraction)
        return decide(policy, Request(consumer="app", budget=budget)).route

    assert used(0.9) == "main"  # strictly above
    assert used(0.91) == "spenders"


def test_request_size_routes(make_policy):
    policy = make_policy(BUDGETED)
    assert decide(policy, Request(input_tokens=100_000)).route == "main"
    assert decide(policy, Request(input_tokens=100_001)).route == "long"


def test_policy_tests_and_explain_take_a_budget_share(tmp_path):
    import json

    from tests.conftest import write_policy
    from typer.testing import CliRunner

    from routectl.cli.main import app

    write_policy(tmp_path, BUDGETED)
    write_policy(
        tmp_path,
        """
        apiVersion: routectl.dev/v1
        kind: PolicyTest
        metadata: {name: budget}
        spec:
          cases:
            - {name: fresh, request: {consumer: app}, expect: {routesTo: big}}
            - {name: spent, request: {consumer: app, budgetUsed: 85%}, expect: {routesTo: small}}
            - {name: gone, request: {consumer: app, budgetUsed: 100}, expect: {unroutable: true}}
        """,
        name="tests.yaml",
    )
    runner = CliRunner()
    result = runner.invoke(app, ["test", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["explain", str(tmp_path), "--consumer", "app", "--budget-used", "85%", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["primary"] == "small"
    result = runner.invoke(app, ["explain", str(tmp_path), "--budget-used", "85%"])
    assert result.exit_code == 2
    assert "--consumer" in result.output


def test_lint_reports_a_downgrade_to_an_unknown_tier_or_route(tmp_path):
    from tests.conftest import write_policy
    from typer.testing import CliRunner

    from routectl.cli.main import app

    write_policy(
        tmp_path,
        BUDGETED.replace("tier: lightweight}", "tier: lightwieght}")
        + """
---
apiVersion: routectl.dev/v1
kind: Team
metadata: {name: ops}
spec:
  budget:
    amountUsd: 10
    thresholds: [{at: 50%, action: downgrade, route: nowhere}]
""",
    )
    result = CliRunner().invoke(app, ["lint", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    findings = __import__("json").loads(result.stdout)["findings"]
    found = {(f["code"], f["message"]) for f in findings}
    assert ("RT001", "Consumer app: unknown Tier 'lightwieght'") in found
    assert ("RT001", "Team ops: unknown Route 'nowhere'") in found


def test_a_reviewer_sees_what_a_budget_change_means():
    from routectl.reconcile.semantic import _consumer

    lines, _ = _consumer(
        {"budget": {"monthlyUsd": 100}},
        {
            "budget": {
                "amountUsd": 150,
                "period": "daily",
                "thresholds": [{"at": 80.0, "action": "downgrade", "tier": "light"}],
            },
            "rateLimits": {"rpm": 5},
        },
    )
    assert lines == [
        "budget $100.00 -> $150.00 (+50%)",
        "budget period monthly (UTC) -> daily (UTC)",
        "budget thresholds block at 100% -> 80% downgrade to tier light",
        "rate limits none -> 5 rpm",
    ]


def test_a_downgrade_drops_shadow_copies_dearer_than_the_tier(make_policy):
    policy = make_policy(
        BUDGETED.replace(
            "  targets: [{model: big}]\n  fallback: {chain: [big, small]}",
            "  targets: [{model: small}]\n  shadows: [{model: big, percent: 100}]",
        )
    )
    app = policy.consumers["app"]
    fresh = decide(policy, Request(consumer="app", request_id="r1"))
    assert (fresh.route, fresh.primary, fresh.shadows) == ("main", "small", ("big",))
    spent = decide(
        policy, Request(consumer="app", request_id="r1", budget=state_at(app.budgets, 0.85))
    )
    assert (spent.primary, spent.shadows) == ("small", ())
