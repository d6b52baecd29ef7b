"""Streaming upstreams that answer 200 and then go silent: nothing waits forever.

Before the first body chunk nothing has reached the client, so a silent stream
is a timeout like any other: fail over, or 502 when the chain is exhausted.
After the first chunk the client has the answer's start; the stream is ended
with an OpenAI-shaped SSE error event (SDKs raise it) instead of a silent cut.
"""

from __future__ import annotations

import time

import orjson

from gateway.conftest import APP_KEY, read_log, route

BODY = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
TIMEOUT_S = 1.0  # the providers' timeoutSeconds in base_policy


def stream(gateway) -> tuple[int, dict, bytes, float]:
    started = time.perf_counter()
    with gateway.client.stream(
        "POST", "/v1/chat/completions", json=BODY, headers={"x-api-key": APP_KEY}
    ) as response:
        body = b"".join(response.iter_raw())
        return response.status_code, dict(response.headers), body, time.perf_counter() - started


def test_silent_stream_before_the_first_chunk_fails_over(configure, gateway, mock, tmp_path):
    gateway.await_revision(configure(route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")))
    mock["p-a"].stall_after = 0
    status, headers, body, seconds = stream(gateway)
    assert status == 200 and headers["x-routectl-model"] == "m-b"
    assert b"p-b#0" in body and b"p-a#" not in body and body.endswith(b"data: [DONE]\n\n")
    assert TIMEOUT_S <= seconds < TIMEOUT_S + 1.0
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    (stalled, served) = record["attempts"]
    assert (stalled["model"], stalled["status"]) == ("m-a", None)
    assert stalled["error"] == f"timeout after {TIMEOUT_S}s"
    assert stalled["latency_ms"] >= TIMEOUT_S * 1000
    assert (served["model"], served["status"]) == ("m-b", 200)


def test_silent_stream_with_nowhere_to_go_is_a_502_after_the_timeout(
    configure, gateway, mock, tmp_path
):
    gateway.await_revision(configure(route(targets="[{model: m-a}]")))
    mock["p-a"].stall_after = 0
    status, _, body, seconds = stream(gateway)
    assert status == 502
    assert orjson.loads(body)["error"]["code"] == "all_upstreams_failed"
    assert TIMEOUT_S <= seconds < TIMEOUT_S + 1.0
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert (record["status"], record["model"]) == (502, None)


def test_stream_going_silent_midway_ends_with_an_error_event(configure, gateway, mock, tmp_path):
    gateway.await_revision(configure(route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")))
    mock["p-a"].stall_after = 2
    status, headers, body, seconds = stream(gateway)
    # The client already has m-a's first chunks: no failover, the stream ends in an error event.
    assert status == 200 and headers["x-routectl-model"] == "m-a"
    assert b"p-a#0" in body and b"p-a#1" in body and b"[DONE]" not in body
    events = [line[len(b"data: ") :] for line in body.split(b"\n\n") if line]
    error = orjson.loads(events[-1])["error"]
    assert error["code"] == "stream_interrupted" and error["type"] == "upstream_error"
    assert "timeout" in error["message"]
    assert TIMEOUT_S <= seconds < TIMEOUT_S + 1.0
    assert mock["p-b"].received == []
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    (attempt,) = record["attempts"]
    assert (
        attempt["model"] == "m-a"
        and attempt["error"] == f"stream interrupted: timeout after {TIMEOUT_S}s"
    )
