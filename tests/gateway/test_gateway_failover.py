"""Failover down the chain, circuit breaking, and the 502 when everything fails."""

from __future__ import annotations

import time

import pytest

from gateway.conftest import read_log, route

CHAIN = route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")


@pytest.mark.parametrize("mode", ["429", "500", "hang"])
def test_failover_on_trigger(configure, gateway, mock, mode):
    gateway.await_revision(configure(CHAIN))
    mock["p-a"].mode = mode
    response = gateway.chat()
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-b"
    assert len(mock["p-a"].received) == 1 and len(mock["p-b"].received) == 1


def test_failover_on_connection_refused(configure, gateway, mock):
    gateway.await_revision(configure(route(targets="[{model: m-down}]", fallback="{chain: [m-b]}")))
    response = gateway.chat()
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-b"


def test_answer_outside_the_triggers_goes_back_to_the_client(configure, gateway, mock):
    gateway.await_revision(
        configure(route(targets="[{model: m-a}]", fallback="{chain: [m-b], on: ['429']}"))
    )
    mock["p-a"].mode = "500"
    response = gateway.chat()
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "boom"
    assert mock["p-b"].received == []


def test_all_upstreams_failing_is_a_502_listing_the_attempts(configure, gateway, mock, tmp_path):
    gateway.await_revision(configure(CHAIN))
    mock["p-a"].mode = "429"
    mock["p-b"].mode = "500"
    response = gateway.chat(headers={"x-request-id": "doomed"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "all_upstreams_failed"
    assert [(a["model"], a["status"]) for a in error["attempts"]] == [("m-a", 429), ("m-b", 500)]
    metrics = gateway.client.get("/metrics").text
    assert (
        'routectl_gateway_failovers_total{model="m-a",provider="p-a",reason="429",route="main"} 1.0'
        in metrics
    )


def test_circuit_opens_after_failures_and_half_opens_after_the_cooldown(
    configure, store, start_gateway, mock
):
    gateway = start_gateway(store, breaker_failures=2, breaker_cooldown_s=0.5)
    gateway.await_revision(configure(CHAIN))
    mock["p-a"].mode = "500"
    for _ in range(2):
        assert gateway.chat().headers["x-routectl-model"] == "m-b"
    assert len(mock["p-a"].received) == 2
    # Open: m-a is skipped without a request, and the skip is an attempt.
    response = gateway.chat()
    assert response.headers["x-routectl-model"] == "m-b"
    assert len(mock["p-a"].received) == 2
    mock["p-a"].mode = "ok"
    time.sleep(0.6)
    # Half-open: one probe goes through; it succeeds, so the circuit closes.
    assert gateway.chat().headers["x-routectl-model"] == "m-a"
    assert gateway.chat().headers["x-routectl-model"] == "m-a"
    assert len(mock["p-a"].received) == 4


def test_open_circuit_is_recorded_as_a_skipped_attempt(
    configure, store, start_gateway, mock, tmp_path
):
    log_path = tmp_path / "skips.jsonl"
    gateway = start_gateway(store, log_path=log_path, breaker_failures=1, breaker_cooldown_s=30)
    gateway.await_revision(configure(CHAIN))
    mock["p-a"].mode = "429"
    gateway.chat(headers={"x-request-id": "first"})
    gateway.chat(headers={"x-request-id": "second"})
    records = {r["request_id"]: r for r in read_log(log_path, 2)}
    assert [(a["model"], a["status"]) for a in records["first"]["attempts"]] == [
        ("m-a", 429),
        ("m-b", 200),
    ]
    skipped, served = records["second"]["attempts"]
    assert skipped == {
        "model": "m-a",
        "provider": "p-a",
        "status": None,
        "error": "circuit open",
        "latency_ms": 0.0,
    }
    assert served["model"] == "m-b"


def test_failover_record_lists_every_attempt_in_order(configure, gateway, mock, tmp_path):
    """429, connection refused, timeout, then an answer: four attempts, each with its cause."""
    gateway.await_revision(
        configure(route(targets="[{model: m-a}]", fallback="{chain: [m-down, m-b, m-c]}"))
    )
    mock["p-a"].mode = "429"
    mock["p-b"].mode = "hang"
    response = gateway.chat(headers={"x-request-id": "long-way-round"})
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-c"
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    attempts = record["attempts"]
    assert [(a["model"], a["provider"], a["status"]) for a in attempts] == [
        ("m-a", "p-a", 429),
        ("m-down", "p-down", None),
        ("m-b", "p-b", None),
        ("m-c", "p-c", 200),
    ]
    assert attempts[0]["error"] == "upstream answered 429: slow down"
    assert "connect" in attempts[1]["error"].lower()  # refused
    # loop timers may fire a little early
    assert attempts[2]["error"] == "timeout after 1.0s" and attempts[2]["latency_ms"] >= 950
    assert attempts[3]["error"] is None
    assert (record["model"], record["status"]) == ("m-c", 200)
    assert record["latency_ms"] >= sum(a["latency_ms"] for a in attempts)
    assert (record["input_tokens"], record["output_tokens"]) == (11, 7)  # the answer's usage
    metrics = gateway.client.get("/metrics").text
    for model, provider, reason in [
        ("m-a", "p-a", "429"),
        ("m-down", "p-down", "connection-error"),
        ("m-b", "p-b", "timeout"),
    ]:
        labels = f'model="{model}",provider="{provider}",reason="{reason}",route="main"'
        assert f"routectl_gateway_failovers_total{{{labels}}} 1.0" in metrics
