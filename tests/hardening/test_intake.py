"""Chat intake: bounded headers, no duplicate routing headers, authentication before the
body, JSON no deeper than it can be forwarded, and no 5xx that is not logged and metered."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from gateway.conftest import APP_KEY, read_log, route
from routectl.gateway.intake import MAX_JSON_DEPTH
from routectl.store.sqlite import SqliteStore

CHAIN = route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")


def _deep(levels: int) -> bytes:
    """A chat body nesting arrays to ``levels`` in all (the body itself is the first)."""
    inner = levels - 1
    deep = "[" * inner + '"x"' + "]" * inner
    messages = '[{"role": "user", "content": "hello"}]'
    return f'{{"model": "auto", "messages": {messages}, "user_data": {deep}}}'.encode()


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 300, 1000])
def test_deep_json_is_a_logged_400_not_a_500(configure, gateway, mock, tmp_path, levels):
    gateway.await_revision(configure(CHAIN))
    response = gateway.client.post(
        "/v1/chat/completions",
        content=_deep(levels),
        headers={"authorization": f"Bearer {APP_KEY}", "x-request-id": f"deep-{levels}"},
    )
    assert response.status_code == 400
    assert f"{MAX_JSON_DEPTH} levels" in response.json()["error"]["message"]
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert record["status"] == 400 and record["request_id"] == f"deep-{levels}"
    assert mock["p-a"].received == []


def test_json_as_deep_as_can_be_forwarded_is_forwarded(configure, gateway, mock):
    gateway.await_revision(configure(CHAIN))
    response = gateway.client.post(
        "/v1/chat/completions",
        content=_deep(MAX_JSON_DEPTH),
        headers={"authorization": f"Bearer {APP_KEY}"},
    )
    assert response.status_code == 200


def test_the_depth_limit_is_what_the_installed_orjson_encodes():
    """The limit moved between orjson releases (255 in 3.8, 254 in 3.13): it is measured."""
    import orjson

    def nested(levels):
        value = []
        for _ in range(levels - 1):
            value = [value]
        return value

    orjson.dumps(nested(MAX_JSON_DEPTH))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(nested(MAX_JSON_DEPTH + 1))


def test_oversized_headers_are_refused_before_they_are_echoed_or_logged(
    configure, gateway, mock, tmp_path
):
    gateway.await_revision(configure(CHAIN))
    huge = "R" * 64_000
    response = gateway.client.post(
        "/v1/chat/completions", json={"messages": []}, headers={"x-request-id": huge}
    )
    assert response.status_code == 431
    assert huge[:100] not in response.text
    assert all(huge[:100] not in value for value in response.headers.values())
    gateway.chat(headers={"x-request-id": "after"})  # flushes the log
    records = read_log(tmp_path / "decisions.jsonl", 1)
    assert [r["request_id"] for r in records] == ["after"]
    assert "RRRRRRRRRR" not in (tmp_path / "decisions.jsonl").read_text()
    metrics = gateway.client.get("/metrics").text
    assert 'routectl_gateway_rejected_requests_total{reason="headers_too_large"} 1.0' in metrics


def test_a_keyless_request_is_answered_401_before_its_body_is_sent(configure, gateway, mock):
    """Headers announce a chunked body that never comes: the 401 must not wait for it."""
    gateway.await_revision(configure(CHAIN))
    with socket.create_connection(("127.0.0.1", gateway.server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"100000\r\n" + b"[" * 1000  # the start of a 1 MiB chunk, and then silence
        )
        sock.settimeout(3)
        started = time.monotonic()
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            answer = b""
    assert answer.startswith(b"HTTP/1.1 401"), f"after {time.monotonic() - started:.1f} s"


def test_duplicate_routing_headers_are_a_400(configure, gateway, mock):
    gateway.await_revision(configure(CHAIN))
    response = gateway.client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers=[
            ("authorization", f"Bearer {APP_KEY}"),
            ("x-routectl-classification", "public"),
            ("x-routectl-classification", "pii"),
        ],
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_header"
    assert mock["p-a"].received == []


class FailingReads(SqliteStore):
    """A store whose snapshot reads fail while ``failing`` is set (a fault, not a mock)."""

    failing = False

    def snapshot(self, revision=None):
        if self.failing:
            raise RuntimeError("disk gone")
        return super().snapshot(revision)


def test_every_gateway_5xx_is_counted_and_logged(configure, start_gateway, mock, tmp_path):
    store = FailingReads(tmp_path / "flaky.db")
    gateway = start_gateway(store, log_path=tmp_path / "log.jsonl")
    gateway.await_revision(configure(CHAIN, target_store=store))
    store.failing = True
    response = httpx.get(
        f"{gateway.url}/admin/v1/config",
        headers={"authorization": "Bearer admin-token", "x-request-id": "admin-500"},
    )
    assert response.status_code == 500
    assert "disk gone" not in response.text and "Traceback" not in response.text
    metrics = gateway.client.get("/metrics").text
    assert 'routectl_gateway_server_errors_total{path="/admin/v1",status="500"} 1.0' in metrics
    (record,) = read_log(tmp_path / "log.jsonl", 1)
    assert record["status"] == 500 and record["request_id"] == "admin-500"
    store.close()
