"""Two live gateway replicas sharing Redis and one PostgreSQL store, and simulate on their logs.

The consumer's budget is crossed at 80% on one replica and the next request is
downgraded on the other; both block past 100%. simulate, replaying the two
replicas' decision logs, names the same crossing requests.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from budgets.test_gateway_budgets import BUDGET, ROUTES, SPENDER_KEY, outcome
from gateway.conftest import apply_policy, base_policy, join, read_log
from routectl.cli.main import app
from routectl.simulate.budgets import read_spend
from routectl.store import open_store


@pytest.fixture(autouse=True)
def spender_key(monkeypatch):
    monkeypatch.setenv("GW_TEST_SPENDER_KEY", SPENDER_KEY)


@pytest.mark.postgres
def test_two_replicas_downgrade_and_block_together_and_simulate_agrees(
    new_postgres_database, redis_url, start_gateway, mock, tmp_path
):
    url = new_postgres_database()
    writer, store_1, store_2 = open_store(url), open_store(url), open_store(url)
    policy_dir = tmp_path / "policy"
    try:
        revision = apply_policy(writer, join(base_policy(mock.url), *ROUTES, BUDGET), policy_dir)
        logs = [tmp_path / "replica-1.jsonl", tmp_path / "replica-2.jsonl"]
        replicas = [
            start_gateway(store, log_path=log, counters_url=redis_url, spend_flush_interval_s=0.1)
            for store, log in zip((store_1, store_2), logs, strict=True)
        ]
        for replica in replicas:
            replica.await_revision(revision)
        answers = []
        for index in range(10):  # alternate: each request on the other replica
            response = replicas[index % 2].chat(SPENDER_KEY)
            answers.append((index % 2, outcome(response), response.headers["x-request-id"]))
        got = [o for _, o, _ in answers]
        assert got == ["m-a"] * 4 + ["m-c"] * 4 + [429, 429]
        assert {r for r, o, _ in answers if o == "m-c"} == {0, 1}  # downgraded on both
        assert {r for r, o, _ in answers if o == 429} == {0, 1}  # blocked on both
        ids = [i for _, _, i in answers]

        # the shared spend is the gateway's: both replicas report it, and the store has it
        spend = [
            r.client.get("/admin/v1/spend", headers={"authorization": "Bearer admin-token"}).json()[
                "budgets"
            ][0]["spentUsd"]
            for r in replicas
        ]
        assert spend[0] == spend[1] == pytest.approx(4 * 138e-6 + 4 * 12.5e-6)
        # what simulate --spend URL reads
        assert read_spend(replicas[1].url, "admin-token") == {"consumer/spender": spend[0]}
        for replica in replicas:
            replica.server.__exit__(None, None, None)
        assert sum(writer.read_spend().values()) == pytest.approx(spend[0])

        records = read_log(logs[0], 5) + read_log(logs[1], 5)
        assert len(records) == 10
        result = CliRunner().invoke(
            app,
            [
                "simulate",
                str(policy_dir),
                "--traffic",
                str(logs[0]),
                "--traffic",
                str(logs[1]),
                "--format",
                "json",
            ],
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        spender = report["budgets"]["consumers"]["spender"]
        crossings = {c["threshold"]: c for c in spender["crossings"]}
        assert crossings["80%"]["request_id"] == ids[3]  # the 4th request crossed 80%
        assert crossings["100%"]["request_id"] == ids[7]
        assert spender["first_downgraded"] == ids[4]
        assert spender["first_blocked"] == ids[8]
        assert (spender["downgraded"], spender["blocked"]) == (4, 2)
        models = {m["model"]: round(m["requests"]) for m in report["by_model"]}
        assert models == {"m-a": 4, "m-c": 4}
        assert report["cost"]["total"] == pytest.approx(spend[0])
    finally:
        for store in (writer, store_1, store_2):
            store.close()
