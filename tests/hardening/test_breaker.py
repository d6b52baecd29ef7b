"""Circuit breakers recover: the half-open probe is cleared by every outcome, a failed probe
re-opens for one cooldown counted from when it was sent, a new revision of a provider starts
it afresh, and /metrics shows state and transitions per provider."""

from __future__ import annotations

import time

from gateway.conftest import join, route

CHAIN = route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")
ALONE = route(targets="[{model: m-a}]")


def _open_circuit(gateway, mock, failures: int = 2) -> None:
    mock["p-a"].mode = "503"
    for _ in range(failures):
        gateway.chat()
    mock["p-a"].received.clear()


def _served_by_a_within(gateway, seconds: float, step: float = 0.05) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        response = gateway.chat()
        if response.status_code == 200 and response.headers["x-routectl-model"] == "m-a":
            return time.monotonic() - started
        time.sleep(step)
    return None


def test_a_context_length_answer_to_the_probe_does_not_leave_the_circuit_open(
    configure, store, start_gateway, mock
):
    gateway = start_gateway(store, breaker_failures=2, breaker_cooldown_s=0.5)
    gateway.await_revision(configure(CHAIN))
    _open_circuit(gateway, mock)
    time.sleep(0.6)
    mock["p-a"].mode = "400ctx"
    probe = gateway.chat()  # the half-open probe gets the request's fault, not the provider's
    assert probe.status_code == 400
    mock["p-a"].mode = "ok"
    assert _served_by_a_within(gateway, 3.0) is not None, "p-a got no traffic after recovering"


def test_a_route_without_fallback_recovers_after_a_context_length_probe(
    configure, store, start_gateway, mock
):
    gateway = start_gateway(store, breaker_failures=2, breaker_cooldown_s=0.5)
    gateway.await_revision(configure(ALONE))
    _open_circuit(gateway, mock)
    assert gateway.chat().status_code == 502  # circuit open, nothing else to try
    time.sleep(0.6)
    mock["p-a"].mode = "400ctx"
    assert gateway.chat().status_code == 400
    mock["p-a"].mode = "ok"
    time.sleep(0.6)
    assert gateway.chat().status_code == 200


def test_a_timed_out_probe_reopens_for_one_cooldown_from_when_it_was_sent(
    configure, store, start_gateway, mock, policy_dir
):
    """Provider timeout 1.5 s, cooldown 1.5 s: the next probe may go 1.5 s after the failed
    one was sent, not 1.5 s after it timed out (3 s)."""
    gateway = start_gateway(store, breaker_failures=2, breaker_cooldown_s=1.5)
    from gateway.conftest import apply_policy, base_policy

    gateway.await_revision(
        apply_policy(store, join(base_policy(mock.url, 1.5), CHAIN), policy_dir())
    )
    _open_circuit(gateway, mock)
    time.sleep(1.6)
    mock["p-a"].mode = "hang"
    probe_sent = time.monotonic()
    assert gateway.chat().headers["x-routectl-model"] == "m-b"  # probe timed out, failed over
    mock["p-a"].mode = "ok"  # recovers as soon as the probe has failed
    while _served_by_a_within(gateway, 0.05, 0.01) is None and time.monotonic() - probe_sent < 5:
        time.sleep(0.02)
    back_after = time.monotonic() - probe_sent
    assert back_after < 2.4, f"traffic came back {back_after:.2f} s after the probe was sent"


def test_a_new_revision_of_the_provider_closes_its_circuit(
    configure, store, start_gateway, mock, policy_dir
):
    gateway = start_gateway(store, breaker_failures=2, breaker_cooldown_s=60)
    gateway.await_revision(configure(CHAIN))
    _open_circuit(gateway, mock)
    assert gateway.chat().headers["x-routectl-model"] == "m-b"  # open
    mock["p-a"].mode = "ok"
    from gateway.conftest import apply_policy, base_policy

    # The operator repoints p-a (here: a new timeout); the old failures say nothing about it.
    text = join(base_policy(mock.url, timeout_s=0.7), CHAIN)
    gateway.await_revision(apply_policy(store, text, policy_dir()))
    assert gateway.chat().headers["x-routectl-model"] == "m-a"


def test_an_unchanged_provider_keeps_its_open_circuit_across_revisions(
    configure, store, start_gateway, mock
):
    gateway = start_gateway(store, breaker_failures=2, breaker_cooldown_s=60)
    gateway.await_revision(configure(CHAIN))
    _open_circuit(gateway, mock)
    mock["p-a"].mode = "ok"
    gateway.await_revision(
        configure(CHAIN, route(name="other", order=200, targets="[{model: m-c}]"))
    )
    assert gateway.chat().headers["x-routectl-model"] == "m-b"
    assert mock["p-a"].received == []


def test_metrics_show_breaker_state_and_transitions(configure, store, start_gateway, mock):
    gateway = start_gateway(store, breaker_failures=2, breaker_cooldown_s=0.5)
    gateway.await_revision(configure(CHAIN))
    _open_circuit(gateway, mock)
    text = gateway.client.get("/metrics").text
    assert 'routectl_gateway_breaker_state{provider="p-a",state="open"} 1.0' in text
    assert 'routectl_gateway_breaker_state{provider="p-a",state="closed"} 0.0' in text
    assert (
        'routectl_gateway_breaker_transitions_total{from_state="closed",provider="p-a",'
        'to_state="open"} 1.0' in text
    )
    mock["p-a"].mode = "ok"
    time.sleep(0.6)
    assert gateway.chat().headers["x-routectl-model"] == "m-a"
    text = gateway.client.get("/metrics").text
    assert 'routectl_gateway_breaker_state{provider="p-a",state="closed"} 1.0' in text
    assert (
        'routectl_gateway_breaker_transitions_total{from_state="half-open",provider="p-a",'
        'to_state="closed"} 1.0' in text
    )
