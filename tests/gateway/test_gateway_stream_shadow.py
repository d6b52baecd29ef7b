"""Streaming passthrough (chunk by chunk, failover before the first byte) and shadow copies."""

from __future__ import annotations

import time

from gateway.conftest import APP_KEY, read_log, route

BODY = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def stream_chunks(gateway) -> tuple[list[tuple[float, bytes]], dict]:
    """(arrival time, chunk) for each chunk the client receives, and the response headers."""
    started = time.perf_counter()
    arrivals = []
    with gateway.client.stream(
        "POST", "/v1/chat/completions", json=BODY, headers={"x-api-key": APP_KEY}
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            arrivals.append((time.perf_counter() - started, chunk))
        return arrivals, dict(response.headers)


def test_stream_chunks_arrive_as_they_are_produced(configure, gateway, mock, tmp_path):
    gateway.await_revision(configure(route(targets="[{model: m-a}]")))
    mock["p-a"].chunks = 3
    mock["p-a"].chunk_delay_s = 0.25
    arrivals, headers = stream_chunks(gateway)
    assert headers["x-routectl-model"] == "m-a"
    assert headers["content-type"].startswith("text/event-stream")
    body = b"".join(chunk for _, chunk in arrivals)
    assert body.count(b"data: ") == 5 and body.endswith(b"data: [DONE]\n\n")
    assert b"p-a#0" in arrivals[0][1]
    # The first chunk arrives long before the upstream has finished producing the rest.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.6
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert (record["model"], record["status"], record["output_tokens"]) == ("m-a", 200, 3)


def test_stream_fails_over_before_the_first_byte(configure, gateway, mock):
    gateway.await_revision(configure(route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")))
    mock["p-a"].mode = "429"
    arrivals, headers = stream_chunks(gateway)
    assert headers["x-routectl-model"] == "m-b"
    assert b"p-b#0" in b"".join(chunk for _, chunk in arrivals)


def test_shadow_copy_reaches_the_candidate_without_touching_the_answer(
    configure, gateway, mock, tmp_path
):
    gateway.await_revision(
        configure(route(targets="[{model: m-a}]", shadows="[{model: m-c, percent: 100}]"))
    )
    mock["p-c"].mode = "500"  # a failing candidate must not matter to the client
    response = gateway.chat(headers={"x-request-id": "shadowed"})
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-a"
    assert response.json()["model"] == "m-a"
    deadline = time.monotonic() + 3
    while not mock["p-c"].received and time.monotonic() < deadline:
        time.sleep(0.02)
    (copy,) = mock["p-c"].received
    assert copy["model"] == "upstream-m-c"
    assert copy["messages"] == mock["p-a"].received[0]["messages"]
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert record["shadows"] == ["m-c"] and record["model"] == "m-a"


def test_shadows_are_bounded_and_never_slow_the_client(configure, store, start_gateway, mock):
    gateway = start_gateway(store, shadow_concurrency=2)
    gateway.await_revision(
        configure(route(targets="[{model: m-a}]", shadows="[{model: m-c, percent: 100}]"))
    )
    mock["p-c"].mode = "hang"  # every shadow holds its slot for the provider timeout
    started = time.perf_counter()
    for i in range(6):
        assert gateway.chat(headers={"x-request-id": f"r{i}"}).headers["x-routectl-model"] == "m-a"
    assert time.perf_counter() - started < 0.5 + 0.5  # no request waited on a shadow
    time.sleep(0.1)
    assert len(mock["p-c"].received) == 2
    metrics = gateway.client.get("/metrics").text
    assert (
        'routectl_gateway_shadow_requests_total{model="m-c",outcome="dropped",provider="p-c"} 4.0'
        in metrics
    )
