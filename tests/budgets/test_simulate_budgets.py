"""simulate replays budgets over the trace's clock, from a starting spend."""

from __future__ import annotations

import json

import pytest
from tests.conftest import write_policy
from typer.testing import CliRunner

from budgets.test_budget_core import BUDGETED
from routectl.cli.main import app

# big: (20000 * 3 + 1000 * 15) / 1e6 = 0.075 USD a request; small: 0.0024.
POLICY = BUDGETED.replace("amountUsd: 100\n", "amountUsd: 1.0\n")
runner = CliRunner()


def replay(tmp_path, *extra: str) -> dict:
    write_policy(tmp_path / "policy", POLICY)
    traffic = tmp_path / "traffic.csv"
    rows = [f"2026-12-07 10:{i // 60:02d}:{i % 60:02d},app,r{i},20000,1000" for i in range(100)]
    traffic.write_text("ts,consumer,request_id,input_tokens,output_tokens\n" + "\n".join(rows))
    result = runner.invoke(
        app,
        [
            "simulate",
            str(tmp_path / "policy"),
            "--traffic",
            str(traffic),
            "--format",
            "json",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_thresholds_fire_on_the_crossing_request(tmp_path):
    report = replay(tmp_path)
    app_report = report["budgets"]["consumers"]["app"]
    crossings = {c["threshold"]: c for c in app_report["crossings"]}
    assert crossings["80%"]["request_id"] == "r10"  # 11 x 0.075 = 0.825
    assert crossings["80%"]["ts"] == "2026-12-07T10:00:10.000000Z"
    assert app_report["first_downgraded"] == "r11"
    # 0.825 + 73 x 0.0024 = 1.0002: the 84th request crosses 100%
    assert crossings["100%"]["request_id"] == "r83"
    assert app_report["first_blocked"] == "r84"
    assert (app_report["downgraded"], app_report["blocked"]) == (73, 16)
    models = {m["model"]: round(m["requests"]) for m in report["by_model"]}
    assert models == {"big": 11, "small": 73}
    assert round(report["unroutable"]["count"]) == 16
    assert report["cost"]["total"] == pytest.approx(11 * 0.075 + 73 * 0.0024)


def test_a_starting_spend_moves_the_crossing(tmp_path):
    spend = tmp_path / "spend.json"
    # the admin API's answer is accepted as it is
    spend.write_text(json.dumps({"budgets": [{"budget": "consumer/app", "spentUsd": 0.52}]}))
    app_report = replay(tmp_path, "--spend", str(spend))["budgets"]["consumers"]["app"]
    crossings = {c["threshold"]: c for c in app_report["crossings"]}
    assert crossings["80%"]["request_id"] == "r3"  # 0.52 + 4 x 0.075 = 0.82
    assert app_report["first_downgraded"] == "r4"


def test_a_bad_spend_file_is_a_usage_error(tmp_path):
    spend = tmp_path / "spend.json"
    spend.write_text('{"consumer/app": "lots"}')
    write_policy(tmp_path / "policy", POLICY)
    traffic = tmp_path / "traffic.csv"
    traffic.write_text("ts,input_tokens,output_tokens\n2026-12-07 10:00:00,1,1\n")
    result = runner.invoke(
        app,
        ["simulate", str(tmp_path / "policy"), "--traffic", str(traffic), "--spend", str(spend)],
    )
    assert result.exit_code == 2
    assert "consumer/app" in result.output and "Traceback" not in result.output


def test_consumer_rate_limits_refuse_like_a_429_per_minute(tmp_path):
    write_policy(
        tmp_path / "policy",
        POLICY.replace("  team: web\n", "  team: web\n  rateLimits: {rpm: 2}\n"),
    )
    traffic = tmp_path / "traffic.csv"
    # 5 requests in minute 10:00, 1 in 10:01
    times = ["10:00:01", "10:00:02", "10:00:03", "10:00:30", "10:00:59", "10:01:00"]
    rows = [f"2026-12-07 {t},app,q{i},100,10" for i, t in enumerate(times)]
    traffic.write_text("ts,consumer,request_id,input_tokens,output_tokens\n" + "\n".join(rows))
    result = runner.invoke(
        app, ["simulate", str(tmp_path / "policy"), "--traffic", str(traffic), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["budgets"]["consumers"]["app"]["rate_limited"] == 3
    reasons = {(r["kind"], r["reason"]): r["requests"] for r in report["unroutable"]["reasons"]}
    assert reasons == {("rate_limited", "consumer app is over its rate limit of 2 rpm"): 3}
    assert round(sum(m["requests"] for m in report["by_model"])) == 3


def test_a_json_line_the_quick_reader_refuses_leaves_the_budget_replay_unchanged(tmp_path):
    # A malformed line makes the JSON reader refuse the file midway through the budget
    # pass; the file is read again line by line, the line skipped, the rest replayed.
    expected = replay(tmp_path)
    write_policy(tmp_path / "policy", POLICY)
    lines = [
        json.dumps(
            {
                "ts": f"2026-12-07 10:{i // 60:02d}:{i % 60:02d}",
                "consumer": "app",
                "request_id": f"r{i}",
                "input_tokens": 20000,
                "output_tokens": 1000,
            }
        )  # fmt: skip
        for i in range(100)
    ]
    lines.insert(50, '{"ts": "2026-12-07 10:00:50", "consumer": "app",')
    traffic = tmp_path / "traffic.jsonl"
    traffic.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["simulate", str(tmp_path / "policy"), "--traffic", str(traffic), "--format", "json"]
    result = runner.invoke(app, [*args, "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["traffic"]["errors"] == [f"{traffic}:51: malformed JSON"]
    assert report["budgets"] == expected["budgets"]
    assert report["by_model"] == expected["by_model"]
    failed = runner.invoke(app, args)
    assert failed.exit_code == 2
    assert f"{traffic}:51: malformed JSON" in failed.stderr
