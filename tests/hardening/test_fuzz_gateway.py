"""A live gateway under generated chat bodies, header sets and admin change sets (a fast
version of benchmarks/bench_reliability.py): no unlogged or unmetered 500, no traceback,
no secret in any answer, no pii at the US provider, every request answered."""

from __future__ import annotations

import httpx

from gateway.conftest import apply_policy, read_log
from gateway.servers import ServerThread
from hardening import gateway_fuzz as fz
from routectl.gateway.app import GatewaySettings, create_app

EXAMPLES = 250


def test_fuzzed_requests_are_all_answered_logged_and_contained(
    store, mock, policy_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("GW_TEST_PROVIDER_KEY", fz.PROVIDER_CANARY)
    monkeypatch.setenv("GW_TEST_APP_KEY", fz.APP_KEY)
    revision = apply_policy(store, fz.policy(mock.url), policy_dir())
    log = tmp_path / "fuzz.jsonl"
    app = create_app(
        store,
        admin_token=fz.ADMIN_TOKEN,
        log_path=log,
        settings=GatewaySettings(poll_interval_s=0.1, log_flush_interval_s=0.1),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        while client.get("/healthz").json()["revision"] != revision:
            pass
        prober = fz.Prober(client)
        fz.fuzz_chat(prober, EXAMPLES)
        fz.fuzz_headers(prober, EXAMPLES)
        fz.fuzz_admin(prober, EXAMPLES)
        metrics = client.get("/metrics").text
    assert prober.sent >= 3 * EXAMPLES
    assert prober.no_answer == []
    assert prober.tracebacks == []
    assert prober.secrets_found == []
    assert fz.sovereignty_violations(mock["p-us"].received) == 0
    assert prober.statuses[200] > 0 and prober.statuses[422] > 0  # it reached both planes
    records = read_log(log, 1)
    logged_500 = sum(r["status"] == 500 for r in records)
    metered_500 = fz.metric_total(
        metrics, "routectl_gateway_server_errors_total", status="500"
    ) + fz.metric_total(metrics, "routectl_gateway_requests_total", status="5xx")
    assert prober.errors_500 <= logged_500 and prober.errors_500 <= metered_500
