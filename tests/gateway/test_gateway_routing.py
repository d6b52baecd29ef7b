"""The data plane end to end: real gateway, real mock upstreams, over HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest

from gateway.conftest import APP_KEY, PROVIDER_KEY, read_log, route
from routectl.gateway.decisionlog import FIELDS
from routectl.gateway.metrics import GatewayMetrics


def test_priority_forwards_to_the_primary_and_records_the_decision(
    configure, gateway, mock, tmp_path
):
    gateway.await_revision(configure(route(targets="[{model: m-a}, {model: m-b}]")))
    response = gateway.chat(
        headers={"x-request-id": "req-1", "x-routectl-classification": "public"},
        max_tokens=50,
        metadata={"language": "en"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-routectl-model"] == "m-a"
    assert response.headers["x-routectl-route"] == "main"
    assert response.headers["x-request-id"] == "req-1"
    assert response.json()["model"] == "m-a"  # one name per model, not the upstream id
    # The upstream got the upstream model id, the provider's key, and no routing metadata.
    (sent,) = mock["p-a"].received
    assert sent["model"] == "upstream-m-a" and "metadata" not in sent
    assert mock["p-a"].authorization == [f"Bearer {PROVIDER_KEY}"]
    assert mock["p-b"].received == []

    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert tuple(record) == FIELDS
    assert record["ts"].endswith("Z")
    assert record["request_id"] == "req-1"
    assert record["consumer"] == "app"
    assert (record["classification"], record["language"]) == ("public", "en")
    assert (record["route"], record["model"], record["status"]) == ("main", "m-a", 200)
    assert (record["input_tokens"], record["output_tokens"]) == (11, 7)  # upstream usage
    assert record["cost"] == (11 * 3.0 + 7 * 15.0) / 1_000_000
    assert [a["model"] for a in record["attempts"]] == ["m-a"]
    assert record["attempts"][0]["status"] == 200
    log_text = (tmp_path / "decisions.jsonl").read_text()
    assert PROVIDER_KEY not in log_text and APP_KEY not in log_text


def test_cheapest_strategy_picks_the_cheapest_eligible_model(configure, gateway):
    gateway.await_revision(
        configure(route(strategy="cheapest", targets="[{model: m-a}, {model: m-c}, {model: m-b}]"))
    )
    response = gateway.chat()
    assert response.headers["x-routectl-model"] == "m-c"


def test_weighted_split_follows_the_weights(configure, gateway, mock):
    gateway.await_revision(
        configure(
            route(
                strategy="weighted", targets="[{model: m-a, weight: 70}, {model: m-b, weight: 30}]"
            )
        )
    )
    total = 200  # fixed request ids: the sticky hash makes the outcome deterministic
    models = [
        gateway.chat(headers={"x-request-id": f"req-{i}"}).headers["x-routectl-model"]
        for i in range(total)
    ]
    share_b = models.count("m-b") / total
    assert 0.23 <= share_b <= 0.37, share_b
    assert models.count("m-a") + models.count("m-b") == total


def test_models_lists_what_the_callers_routes_reach(configure, gateway):
    gateway.await_revision(configure(route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")))
    body = gateway.client.get("/v1/models", headers={"x-api-key": APP_KEY}).json()
    assert [m["id"] for m in body["data"]] == ["m-a", "m-b"]
    assert gateway.client.get("/v1/models").status_code == 401


def test_unroutable_request_is_refused_with_the_reason(configure, gateway, mock):
    gateway.await_revision(
        configure(
            """
        kind: Classification
        metadata: {name: secret}
        spec: {allow: {jurisdictions: [TR]}}
        """,
            route(targets="[{model: m-a}]"),
        )
    )
    response = gateway.chat(headers={"x-routectl-classification": "secret"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "unroutable" and error["code"] == "route.no_eligible"
    assert "no eligible model" in error["message"]
    assert mock["p-a"].received == []


def test_consumer_access_rules_are_enforced(configure, gateway, mock, monkeypatch):
    monkeypatch.setenv("GW_TEST_LIMITED_KEY", "limited-key-3141")
    revision = configure(
        "kind: Intent\nmetadata: {name: chat}\nspec: {detect: {keywords: [hello]}}",
        "kind: Intent\nmetadata: {name: code}\nspec: {detect: {keywords: [python]}}",
        """
        kind: Consumer
        metadata: {name: limited}
        spec: {apiKey: env:GW_TEST_LIMITED_KEY, allow: {intents: [chat]}}
        """,
        route(targets="[{model: m-a}]"),
    )
    gateway.await_revision(revision)
    allowed = gateway.chat(key="limited-key-3141")  # "hello there": intent chat by keyword
    assert allowed.status_code == 200
    denied = gateway.chat(key="limited-key-3141", headers={"x-routectl-intent": "code"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "consumer.intent"
    detected = gateway.chat(
        key="limited-key-3141", messages=[{"role": "user", "content": "write python for me"}]
    )
    assert detected.status_code == 403
    assert len(mock["p-a"].received) == 1


def test_bad_body_is_a_located_400(configure, gateway):
    gateway.await_revision(configure(route(targets="[{model: m-a}]")))
    response = gateway.client.post(
        "/v1/chat/completions",
        content=b"{not json",
        headers={"authorization": f"Bearer {APP_KEY}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_json"
    response = gateway.chat(messages=[])
    assert response.status_code == 400
    assert "messages" in response.json()["error"]["message"]


def test_metrics_count_requests_tokens_and_cost_by_route_and_model(configure, gateway):
    gateway.await_revision(configure(route(targets="[{model: m-b}]")))
    for _ in range(3):
        gateway.chat()
    assert gateway.client.get("/v1/chat/completions").status_code == 405
    text = gateway.client.get("/metrics").text
    labels = 'model="m-b",provider="p-b",route="main"'
    assert f'routectl_gateway_requests_total{{{labels},status="2xx"}} 3.0' in text
    assert f'routectl_gateway_tokens_total{{direction="output",{labels}}} 21.0' in text
    (cost_line,) = [
        ln for ln in text.splitlines() if ln.startswith("routectl_gateway_cost_usd_total")
    ]
    assert float(cost_line.split()[-1]) == pytest.approx(3 * (11 * 1.0 + 7 * 2.0) / 1e6)
    assert f"routectl_gateway_request_duration_seconds_count{{{labels}}} 3.0" in text
    # Request ids and consumers never become labels.
    assert "request_id" not in text and 'consumer="' not in text


def test_upstream_cookies_are_not_carried_to_later_requests(configure, gateway, mock):
    """One client session serves every consumer: nothing an answer sets may ride along."""
    # By host name: a client cookie jar ignores cookies from bare IP addresses anyway.
    by_name = mock.url.replace("127.0.0.1", "localhost")
    gateway.await_revision(
        configure(
            f"""
            kind: Provider
            metadata: {{name: p-named}}
            spec: {{baseUrl: "{by_name}/p-named", jurisdiction: DE}}
            """,
            """
            kind: Model
            metadata: {name: m-named}
            spec: {provider: p-named, upstreamModel: upstream-named, contextWindow: 100000,
                   maxOutputTokens: 4096, pricing: {input: 1, output: 1}}
            """,
            route(targets="[{model: m-named}]"),
        )
    )
    for _ in range(2):
        assert gateway.chat().status_code == 200
    assert mock["p-named"].cookies == [None, None]


def test_latency_buckets_include_their_upper_bound():
    metrics = GatewayMetrics()
    for seconds in (0.01, 0.0100001, 500.0):
        metrics.answered("r", "m", "p", 200, seconds, 1, 1, 0.0)
    text = metrics.render().decode()
    bucket = "routectl_gateway_request_duration_seconds_bucket"
    bucket += '{{le="{}",model="m",provider="p",route="r"}}'
    assert f"{bucket.format('0.005')} 0.0" in text
    assert f"{bucket.format('0.01')} 1.0" in text
    assert f"{bucket.format('0.025')} 2.0" in text
    assert f"{bucket.format('120.0')} 2.0" in text
    assert f"{bucket.format('+Inf')} 3.0" in text
