"""What a client reads from the gateway: the upstream's own error, a failover, unknown paths."""

from __future__ import annotations

from gateway.conftest import route

CHAIN = route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")


def test_a_502_carries_each_upstreams_own_message(configure, gateway, mock):
    gateway.await_revision(configure(CHAIN))
    mock["p-a"].mode = "500"
    mock["p-b"].mode = "500"
    response = gateway.chat()
    assert response.status_code == 502
    error = response.json()["error"]
    assert [a["error"] for a in error["attempts"]] == [
        "upstream answered 500: boom",
        "upstream answered 500: boom",
    ]
    assert "m-a (upstream answered 500: boom)" in error["message"]


def test_a_header_says_a_failover_happened(configure, gateway, mock):
    gateway.await_revision(configure(CHAIN))
    direct = gateway.chat()
    assert direct.status_code == 200 and "x-routectl-failover" not in direct.headers
    mock["p-a"].mode = "500"
    response = gateway.chat()
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-b"
    assert response.headers["x-routectl-failover"] == "m-a (upstream answered 500: boom)"


def test_unknown_paths_answer_in_openais_error_shape(configure, gateway):
    gateway.await_revision(configure(CHAIN))
    response = gateway.client.post("/v1/embeddings", json={"model": "x", "input": "hi"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "not_found"
    assert "/v1/embeddings" in error["message"]
