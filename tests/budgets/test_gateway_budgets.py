"""Budgets and consumer limits on a live gateway (mock upstream: 11 input, 7 output tokens)."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.conftest import APP_KEY, route
from routectl.admin.openapi import Spend

# m-a: (11 * 3 + 7 * 15) / 1e6 = 138e-6 USD a request; m-c: (11 * 0.5 + 7 * 1) / 1e6 = 12.5e-6.
SPENDER_KEY = "key-spender-4471"
BUDGET = """
kind: Consumer
metadata: {name: spender}
spec:
  team: web
  apiKey: env:GW_TEST_SPENDER_KEY
  budget:
    amountUsd: 0.0006
    period: daily
    thresholds:
      - {at: 80%, action: downgrade, route: cheap}
      - {at: 100%, action: block}
"""
ROUTES = (
    route(targets="[{model: m-a}]", fallback="{chain: [m-b]}"),
    route("cheap", order=1000, targets="[{model: m-c}]"),
)
EXPECTED = ["m-a"] * 4 + ["m-c"] * 4 + [429]


def configure_budget(configure, *extra: str, **kwargs) -> int:
    return configure(*ROUTES, BUDGET, *extra, **kwargs)


@pytest.fixture(autouse=True)
def spender_key(monkeypatch):
    monkeypatch.setenv("GW_TEST_SPENDER_KEY", SPENDER_KEY)


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels``."""
    for family in text_string_to_metric_families(metrics):
        for item in family.samples:
            if item.name == name and labels.items() <= item.labels.items():
                return item.value
    raise AssertionError(f"no sample {name} {labels}")


def outcome(response: httpx.Response) -> str | int:
    if response.status_code == 200:
        return response.headers["x-routectl-model"]
    return response.status_code


def test_downgraded_past_80_percent_and_blocked_at_100(configure, start_gateway, store, mock):
    gateway = start_gateway(store)
    gateway.await_revision(configure_budget(configure))
    seen = [outcome(gateway.chat(SPENDER_KEY)) for _ in EXPECTED]
    assert seen == EXPECTED
    blocked = gateway.chat(SPENDER_KEY)
    assert blocked.status_code == 429
    error = blocked.json()["error"]
    assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
    assert "consumer/spender" in error["message"] and "blocked at 100%" in error["message"]

    spend = gateway.client.get(
        "/admin/v1/spend", headers={"authorization": "Bearer admin-token"}
    ).json()
    Spend.model_validate(spend)  # the documented shape (schemas/admin-openapi.json)
    (row,) = spend["budgets"]
    assert row["budget"] == "consumer/spender" and row["members"] == ["spender"]
    assert row["spentUsd"] == pytest.approx(4 * 138e-6 + 4 * 12.5e-6)
    assert row["action"] == "block"
    metrics = gateway.client.get("/metrics").text
    who = {"consumer": "spender", "team": "web"}
    assert sample(metrics, "routectl_gateway_limit_rejections_total", **who) == 2
    assert sample(metrics, "routectl_gateway_budget_downgrades_total", **who) == 4
    spent = sample(metrics, "routectl_gateway_spend_usd_total", line="consumer", **who)
    assert spent == pytest.approx(row["spentUsd"])
    assert sample(metrics, "routectl_gateway_budget_used_ratio", budget="consumer/spender") >= 1


def test_spend_survives_a_restart_through_the_store(configure, start_gateway, store, mock):
    first = start_gateway(store)
    first.await_revision(configure_budget(configure))
    assert [outcome(first.chat(SPENDER_KEY)) for _ in range(4)] == ["m-a"] * 4
    first.server.__exit__(None, None, None)  # shutdown flushes pending spend to the store
    assert sum(store.read_spend().values()) == pytest.approx(4 * 138e-6)
    second = start_gateway(store)
    assert outcome(second.chat(SPENDER_KEY)) == "m-c"


def test_shadow_copies_are_charged_to_a_separate_line(configure, start_gateway, store, mock):
    gateway = start_gateway(store)
    shadowed = route(targets="[{model: m-c}]", shadows="[{model: m-a, percent: 100}]")
    gateway.await_revision(
        configure(shadowed, route("cheap", order=1000, targets="[{model: m-c}]"), BUDGET)
    )
    assert outcome(gateway.chat(SPENDER_KEY)) == "m-c"
    deadline = time.monotonic() + 5
    while True:
        (row,) = gateway.client.get(
            "/admin/v1/spend", headers={"authorization": "Bearer admin-token"}
        ).json()["budgets"]
        if row["shadowUsd"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row["spentUsd"] == pytest.approx(12.5e-6)
    assert row["shadowUsd"] == pytest.approx(138e-6)


def test_consumer_rpm_is_answered_with_a_429(configure, start_gateway, store, mock):
    gateway = start_gateway(store)
    limited = BUDGET.replace("  budget:", "  rateLimits: {rpm: 2}\n  budget:")
    gateway.await_revision(configure(*ROUTES, limited))
    if time.time() % 60 > 55:  # keep the three requests inside one minute window
        time.sleep(61 - time.time() % 60)
    answers = [gateway.chat(SPENDER_KEY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(answers[2].headers["retry-after"]) <= 60


@pytest.mark.parametrize("fail_closed, status", [(True, 503), (False, 200)])
def test_unreachable_redis_fails_closed_for_blocking_budgets(
    configure, start_gateway, store, mock, fail_closed, status
):
    gateway = start_gateway(
        store, counters_url="redis://127.0.0.1:9/0", counters_fail_closed=fail_closed
    )
    gateway.await_revision(configure_budget(configure))
    answer = gateway.chat(SPENDER_KEY)
    assert answer.status_code == status
    if status == 503:
        assert answer.json()["error"]["code"] == "limits_unavailable"
    assert "routectl_gateway_counter_errors_total" in gateway.client.get("/metrics").text


def test_a_consumer_without_budget_or_limits_is_untouched(configure, start_gateway, store, mock):
    gateway = start_gateway(store, counters_url="redis://127.0.0.1:9/0")
    gateway.await_revision(configure(*ROUTES))
    assert [outcome(gateway.chat(key=APP_KEY)) for _ in range(3)] == ["m-a"] * 3


def test_bad_bodies_of_a_metered_consumer_leave_the_counters_usable(
    configure, start_gateway, store, mock, redis_url
):
    gateway = start_gateway(store, counters_url=redis_url, counters_fail_closed=True)
    gateway.await_revision(configure_budget(configure))
    bad = gateway.client.post(
        "/v1/chat/completions",
        content=b"{not json",
        headers={"authorization": f"Bearer {SPENDER_KEY}"},
    )
    assert bad.status_code == 400
    time.sleep(1.5)  # past the counter timeout: an abandoned round trip must not break others
    assert [outcome(gateway.chat(SPENDER_KEY)) for _ in EXPECTED] == EXPECTED


def test_a_team_budget_is_shared_by_its_consumers(configure, start_gateway, store, mock):
    gateway = start_gateway(store)
    team = "kind: Team\nmetadata: {name: web}\nspec: {budget: {amountUsd: 0.0003, period: weekly}}"
    plain = BUDGET.split("  budget:")[0]  # the spender without a budget of its own
    gateway.await_revision(configure(*ROUTES, plain, team))
    # 138e-6 a request: the spender's third request takes the team past 100%
    assert [outcome(gateway.chat(SPENDER_KEY)) for _ in range(3)] == ["m-a"] * 3
    blocked = gateway.chat(APP_KEY)  # the base policy's consumer 'app', also of team web
    assert blocked.status_code == 429
    assert "team/web" in blocked.json()["error"]["message"]
    (row,) = gateway.client.get(
        "/admin/v1/spend", headers={"authorization": "Bearer admin-token"}
    ).json()["budgets"]
    assert row["budget"] == "team/web" and row["members"] == ["app", "spender"]
    assert row["period"] == "weekly" and row["spentUsd"] == pytest.approx(3 * 138e-6)


def test_a_restarted_redis_gets_the_spend_back_from_the_store(
    configure, start_gateway, store, mock
):
    import redisserver

    first = redisserver.start_server()
    second = None
    try:
        gateway = start_gateway(
            store, counters_url=first.url, spend_flush_interval_s=0.1, counters_fail_closed=True
        )
        gateway.await_revision(configure_budget(configure))
        assert [outcome(gateway.chat(SPENDER_KEY)) for _ in range(4)] == ["m-a"] * 4
        first.stop()
        assert gateway.chat(SPENDER_KEY).status_code == 503  # fail closed: it could block
        second = redisserver.start_server(port=first.port)  # empty, same address
        deadline = time.monotonic() + 10
        while True:
            answer = gateway.chat(SPENDER_KEY)
            if answer.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # the spend came back from the store: past 80%, so downgraded
        assert outcome(answer) == "m-c"
    finally:
        for server in (first, second):
            if server is not None:
                server.stop()


def test_consumer_tpm_counts_the_answers_tokens(configure, start_gateway, store, mock):
    gateway = start_gateway(store)
    limited = BUDGET.replace("  budget:", "  rateLimits: {tpm: 30}\n  budget:")
    gateway.await_revision(configure(*ROUTES, limited))
    if time.time() % 60 > 55:
        time.sleep(61 - time.time() % 60)
    # the mock answers with 11 + 7 = 18 tokens: 0 and 18 are under 30, 36 is not
    answers = [gateway.chat(SPENDER_KEY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "30 tpm" in answers[2].json()["error"]["message"]


LIMITED_MODEL = """kind: Model
metadata: {name: m-limited}
spec:
  provider: p-a
  upstreamModel: upstream-m-limited
  capabilities: [chat]
  contextWindow: 100000
  maxOutputTokens: 4096
  pricing: {input: 1.0, output: 1.0}
  rateLimits: {rpm: 2}"""


def test_a_model_rpm_is_shared_by_replicas_on_redis(
    configure, start_gateway, store, mock, redis_url
):
    """Provider and model limits are counted where budgets are: in Redis, across replicas."""
    first = start_gateway(store, counters_url=redis_url)
    second = start_gateway(store, counters_url=redis_url)
    revision = configure(
        LIMITED_MODEL,
        route(targets="[{model: m-limited}]", fallback="{chain: [m-b], triggers: ['429']}"),
    )
    first.await_revision(revision)
    second.await_revision(revision)
    if time.time() % 60 > 55:  # keep the three requests inside one minute window
        time.sleep(61 - time.time() % 60)
    answers = [first.chat(), second.chat(), first.chat(), second.chat()]
    assert [outcome(a) for a in answers] == ["m-limited", "m-limited", "m-b", "m-b"]
    assert len(mock["p-a"].received) == 2  # the limited attempts never reached it
