"""Replaying the gateway's own decision log reproduces the gateway's choices.

A real gateway (``create_app`` on uvicorn, 127.0.0.1) in front of the mock
upstream answers requests with sticky request ids on a 50/50 split and writes
its decision log; ``routectl simulate`` reads that log with no mapping and must
put every request on the model the gateway used.
"""

from __future__ import annotations

from collections import Counter

import httpx

from gateway.conftest import APP_KEY, apply_policy, base_policy, join, read_log, route
from gateway.mock_upstream import MockUpstream
from gateway.servers import ServerThread
from routectl.gateway.app import GatewaySettings, create_app
from routectl.store.sqlite import SqliteStore
from simulate.helpers import simulate_json


def test_replaying_the_gateway_log_matches_its_decisions(tmp_path, monkeypatch):
    monkeypatch.setenv("GW_TEST_PROVIDER_KEY", "sk-provider-test")
    monkeypatch.setenv("GW_TEST_APP_KEY", APP_KEY)
    upstream = MockUpstream()
    store = SqliteStore(tmp_path / "gateway.db")
    log = tmp_path / "decisions.jsonl"
    with ServerThread(upstream.app) as mock:
        upstream.url = mock.url  # type: ignore[attr-defined]
        policy = join(
            base_policy(mock.url),
            route(
                strategy="weighted", targets="[{model: m-a, weight: 50}, {model: m-b, weight: 50}]"
            ),
        )
        apply_policy(store, policy, tmp_path / "policy")
        app = create_app(
            store, admin_token="t", log_path=log, settings=GatewaySettings(poll_interval_s=0.1)
        )
        with ServerThread(app) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as client:
            for n in range(40):
                answer = client.post(
                    "/v1/chat/completions",
                    json={"model": "auto", "messages": [{"role": "user", "content": "hi " * n}]},
                    headers={"authorization": f"Bearer {APP_KEY}", "x-request-id": f"r-{n}"},
                )
                assert answer.status_code == 200, answer.text
        records = read_log(log, 40)
    store.close()
    assert len(records) == 40
    used = Counter(r["model"] for r in records)
    assert set(used) == {"m-a", "m-b"}  # the split drew both

    report = simulate_json(tmp_path / "policy", "--traffic", log)
    assert report["requests"] == 40
    assert {m["model"]: m["requests"] for m in report["by_model"]} == dict(used)
    assert report["input_tokens"] == sum(r["input_tokens"] for r in records)
