"""Outages, rate limits and price changes over the trace's own clock."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import write_policy

from simulate.helpers import (
    CODE,
    CONV,
    CONV_ROWS,
    EXAMPLES,
    azure_rows,
    by_model,
    simulate,
    simulate_json,
)

TOTAL = 28_185


def every_nth(path: Path, n: int, target: Path) -> int:
    rows = azure_rows(path)[::n]
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
        writer.writerows(rows)
    return len(rows)


def test_madrid_primary_outage_moves_storefront_to_the_secondary(tmp_path):
    sample = tmp_path / "storefront.csv"
    count = every_nth(CONV, 10, sample)  # ~33 requests a minute: within Azure's limits
    args = ["--traffic", sample, "--set", "intent=product-qa", "--set", "classification=public",
            "--set", "language=es"]  # fmt: skip
    normal = simulate_json(EXAMPLES / "madrid-retailer", *args)
    assert by_model(normal) == {"gpt-4o-openai": pytest.approx(count)}

    down = simulate_json(EXAMPLES / "madrid-retailer", *args, "--outage", "openai")
    assert by_model(down) == {"gpt-4o-azure": pytest.approx(count)}
    assert down["unroutable"]["count"] == 0
    assert down["by_provider"][0]["name"] == "azure-westeurope"


def test_madrid_full_hour_overflows_the_secondarys_token_limit(tmp_path):
    report = simulate_json(
        EXAMPLES / "madrid-retailer", "--traffic", CONV, "--set", "intent=product-qa",
        "--set", "classification=public", "--outage", "openai",
    )  # fmt: skip
    # The storefront route fails over on 5xx only, so 429s from Azure are failures.
    reasons = report["unroutable"]["reasons"]
    assert reasons and all(r["kind"] == "rate_limited" for r in reasons)
    assert "gpt-4o-azure" in reasons[0]["reason"]
    served = sum(m["requests"] for m in report["by_model"])
    assert served + report["unroutable"]["count"] == pytest.approx(CONV_ROWS)
    assert report["scenario"]["rate_limited_minutes"] > 0


def test_paris_pii_is_unroutable_when_the_only_eu_provider_is_down():
    args = ["--traffic", CODE, "--traffic", CONV, "--set", "classification=pii"]
    report = simulate_json(EXAMPLES / "paris-insurer", *args, "--outage", "mistral")
    assert report["by_model"] == []
    assert report["unroutable"]["count"] == TOTAL
    assert {r["kind"] for r in report["unroutable"]["reasons"]} == {"outage"}

    normal = simulate_json(EXAMPLES / "paris-insurer", *args)
    assert normal["by_model"], "without the outage PII is served"
    assert {m["jurisdiction"] for m in normal["by_model"]} == {"FR"}
    served = sum(m["requests"] for m in normal["by_model"])
    assert served + normal["unroutable"]["count"] == pytest.approx(TOTAL)


TWO_PROVIDERS = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: pa}
spec: {baseUrl: "https://a.example", jurisdiction: DE, rateLimits: {rpm: RPM}}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: pb}
spec: {baseUrl: "https://b.example", jurisdiction: FR}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: ma}
spec: {provider: pa, upstreamModel: a, contextWindow: 200000, maxOutputTokens: 8000,
       pricing: {input: 1.0, output: 2.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: mb}
spec: {provider: pb, upstreamModel: b, contextWindow: 200000, maxOutputTokens: 8000,
       pricing: {input: 3.0, output: 4.0}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: main}
spec:
  targets: [{model: ma}]
  fallback: {chain: [mb], on: TRIGGERS}
"""


def policy(tmp_path: Path, rpm: int = 100000, triggers: str = '["5xx"]') -> Path:
    directory = tmp_path / f"policy-{rpm}-{abs(hash(triggers))}"
    write_policy(directory, TWO_PROVIDERS.replace("RPM", str(rpm)).replace("TRIGGERS", triggers))
    return directory


def test_outage_window_moves_only_the_requests_inside_it(tmp_path):
    stamps = [datetime.fromisoformat(t) for t, _, _ in azure_rows(CONV)]
    start = min(stamps)
    inside = sum(start + timedelta(minutes=10) <= s < start + timedelta(minutes=20) for s in stamps)
    report = simulate_json(policy(tmp_path), "--traffic", CONV, "--outage", "pa@+10m..+20m")
    assert by_model(report) == {
        "ma": pytest.approx(CONV_ROWS - inside),
        "mb": pytest.approx(inside),
    }

    absolute = (start + timedelta(minutes=10)).isoformat()
    same = simulate_json(policy(tmp_path), "--traffic", CONV, "--outage", f"ma@{absolute}..+20m")
    assert by_model(same) == by_model(report)


def test_outage_without_an_error_trigger_fails_the_requests(tmp_path):
    report = simulate_json(
        policy(tmp_path, triggers='["429"]'), "--traffic", CONV, "--outage", "pa"
    )
    assert report["by_model"] == []
    assert report["unroutable"]["reasons"][0]["kind"] == "outage"
    assert "does not fall back on 5xx" in report["unroutable"]["reasons"][0]["reason"]


def per_minute(path: Path) -> list[int]:
    counts: dict[datetime, int] = {}
    for stamp, _, _ in azure_rows(path):
        minute = datetime.fromisoformat(stamp).replace(second=0, microsecond=0)
        counts[minute] = counts.get(minute, 0) + 1
    return list(counts.values())


def test_rate_limit_overflows_down_the_chain_only_on_429(tmp_path):
    rpm = 300
    overflow = sum(max(0, n - rpm) for n in per_minute(CONV))
    assert overflow > 0
    report = simulate_json(policy(tmp_path, rpm, '["429"]'), "--traffic", CONV)
    assert by_model(report) == {
        "ma": pytest.approx(CONV_ROWS - overflow),
        "mb": pytest.approx(overflow),
    }
    assert report["unroutable"]["count"] == 0

    strict = simulate_json(policy(tmp_path, rpm, '["5xx"]'), "--traffic", CONV)
    assert by_model(strict) == {"ma": pytest.approx(CONV_ROWS - overflow)}
    assert strict["unroutable"]["count"] == pytest.approx(overflow)
    assert strict["unroutable"]["reasons"][0]["kind"] == "rate_limited"


def test_price_change_scales_the_models_cost(tmp_path):
    rows = azure_rows(CODE)
    plain = simulate_json(policy(tmp_path), "--traffic", CODE)
    raised = simulate_json(policy(tmp_path), "--traffic", CODE, "--price-change", "ma=+20%")
    expected = sum(i * 1.0 + o * 2.0 for _, i, o in rows) / 1e6
    assert plain["cost"]["total"] == pytest.approx(expected, rel=1e-9)
    assert raised["cost"]["total"] == pytest.approx(1.2 * expected, rel=1e-9)
    assert raised["scenario"]["price_changes"] == {"ma": "x1.2"}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--outage", "nobody"], "no provider or model named 'nobody'"),
        (["--outage", "pa@tomorrow"], "expected a window START..END"),
        (["--outage", "pa@soon..+5m"], "neither an ISO time nor an offset"),
        (["--price-change", "ma=twenty"], "expected MODEL=+20%"),
        (["--price-change", "zz=+5%"], "no model named 'zz'"),
    ],
)
def test_bad_scenarios_are_usage_errors(tmp_path, option, message):
    result = simulate(policy(tmp_path), "--traffic", CODE, *option)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_time_scenarios_on_a_trace_without_timestamps(tmp_path):
    trace = tmp_path / "untimed.csv"
    trace.write_text("input_tokens,output_tokens\n" + "100,10\n" * 500, encoding="utf-8")
    result = simulate(policy(tmp_path, rpm=100), "--traffic", trace, "--outage", "pa@+1m..+2m")
    assert result.exit_code == 2
    assert "needs request timestamps" in result.stderr
    report = simulate_json(policy(tmp_path, rpm=100), "--traffic", trace)
    assert report["scenario"]["rate_limits"] == "not applied: the traffic has no timestamps"
    assert by_model(report) == {"ma": 500}
