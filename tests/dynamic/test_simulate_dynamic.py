"""simulate: cascades at escalation rates, predicted quality, prompts classified once each."""

from __future__ import annotations

import json

import pytest

from simulate.helpers import EXAMPLES, TRAFFIC, simulate, simulate_json

LOCAL_FIRST = EXAMPLES / "local-first"
# m-local free; m-mid $1/$2; m-big $5/$15 per 1M tokens (tests/dynamic/conftest.py)
CASCADE = """
kind: Route
metadata: {name: c}
spec:
  strategy: cascade
  targets: [{model: m-local}, {model: m-mid}, {model: m-big}]
  cascade:
    escalationRates: {m-local: 0.5, m-mid: 0.2}
"""


def traffic(tmp_path, rows: list[dict]) -> str:
    path = tmp_path / "traffic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_cascade_cost_at_declared_rates_against_its_last_model(write_policy, tmp_path):
    policy = write_policy(CASCADE)
    requests = traffic(tmp_path, [{"input_tokens": 50_000, "output_tokens": 0}] * 100)
    report = simulate_json(policy, "--traffic", requests)
    served = {m["model"]: m for m in report["by_model"]}
    # 100 requests: 50 answered locally, 50 escalate; of those 40 answered by m-mid, 10 by m-big
    assert served["m-local"]["requests"] == pytest.approx(50)
    assert served["m-mid"]["requests"] == pytest.approx(40)
    assert served["m-big"]["requests"] == pytest.approx(10)
    assert served["m-mid"]["escalated_calls"] == pytest.approx(10)
    # paid: m-mid for 50 calls ($0.05 each), m-big for 10 ($0.25 each)
    assert report["cost"]["total"] == pytest.approx(50 * 0.05 + 10 * 0.25)
    route = report["cascade"]["routes"][0]
    assert route["last_model_cost"] == pytest.approx(100 * 0.25)
    assert route["saving_percent"] == pytest.approx(80.0)
    assert [(r["model"], r["rate"], r["source"]) for r in route["rates"]] == [
        ("m-local", 0.5, "declared"),
        ("m-mid", 0.2, "declared"),
    ]


def test_rates_measured_from_a_gateway_log_win_and_are_named(write_policy, tmp_path):
    policy = write_policy(CASCADE)
    log = tmp_path / "decisions.jsonl"
    steps = [[{"model": "m-local", "verdict": "accepted"}]] * 3 + [
        [
            {"model": "m-local", "verdict": "escalated", "reason": "truncated"},
            {"model": "m-mid", "verdict": "accepted"},
        ]
    ]
    log.write_text("".join(json.dumps({"cascade": s}) + "\n" for s in steps))
    requests = traffic(tmp_path, [{"input_tokens": 50_000, "output_tokens": 0}] * 100)
    report = simulate_json(policy, "--traffic", requests, "--escalation-log", log)
    rates = {r["model"]: (r["rate"], r["source"]) for r in report["cascade"]["routes"][0]["rates"]}
    assert rates == {"m-local": (0.25, "measured"), "m-mid": (0.0, "measured")}
    assert report["cost"]["total"] == pytest.approx(25 * 0.05)
    assert report["cascade"]["measured_from"] == str(log)


def test_an_unreadable_escalation_log_is_a_located_error(write_policy, tmp_path):
    log = tmp_path / "bad.jsonl"
    log.write_text('{"cascade": []}\nnot json\n')
    requests = traffic(tmp_path, [{"input_tokens": 10, "output_tokens": 10}])
    result = simulate(write_policy(CASCADE), "--traffic", requests, "--escalation-log", log)
    assert result.exit_code == 2
    assert f"{log}:2: not JSON" in result.output


def test_prompts_in_the_traffic_are_classified_once_each(write_policy, tmp_path):
    from dynamic.test_intents import INTENTS

    rows = [{"prompt": "solve the equation 9x = 27", "input_tokens": 10, "output_tokens": 5}] * 3
    rows += [{"prompt": "write a java function to reverse a list", "input_tokens": 10,
              "output_tokens": 5}]  # fmt: skip
    rows += [{"input_tokens": 10, "output_tokens": 5}]  # no prompt: the default intent
    report = simulate_json(write_policy(INTENTS), "--traffic", traffic(tmp_path, rows))
    by_intent = {i["name"]: i["requests"] for i in report["by_intent"]}
    assert by_intent == {"math": 3, "code": 1, "chat": 1}


def test_local_first_example_on_the_azure_traces_reports_saving_and_quality():
    report = simulate_json(
        LOCAL_FIRST,
        "--traffic",
        TRAFFIC / "azure-code-conv.yaml",
        "--set",
        "classification=internal",
    )
    routes = {r["route"]: r for r in report["cascade"]["routes"]}
    assert set(routes) == {"code", "chat"}
    code = routes["code"]
    assert code["cost"] < code["last_model_cost"]
    assert 0 < code["quality"] < code["last_model_quality"]
    assert report["quality"]["covered_requests"] == pytest.approx(report["requests"])
    assert report["cost"]["total"] == pytest.approx(report["cascade"]["cost"])
    text = simulate(
        LOCAL_FIRST, "--traffic", TRAFFIC / "azure-code-conv.yaml", "--set",
        "classification=internal",
    ).stdout  # fmt: skip
    assert "always on its last model" in text and "(declared)" in text
    assert "predicted quality" in text


def test_markdown_report_carries_the_cascade_and_quality_lines():
    result = simulate(
        LOCAL_FIRST, "--traffic", TRAFFIC / "azure-code-conv.yaml", "--set",
        "classification=internal", "--format", "markdown",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cascade code:" in result.stdout and "always on its last model" in result.stdout
    assert "predicted quality" in result.stdout


def test_base_and_head_quality_side_by_side(tmp_path):
    import shutil

    head = tmp_path / "head"
    shutil.copytree(LOCAL_FIRST, head)
    routes = head / "routes.yaml"
    routes.write_text(routes.read_text().replace("quality: 0.85", "quality: 0.9"))
    rows = [{"prompt": "Write a poem about rain.", "input_tokens": 500, "output_tokens": 300,
             "classification": "internal"}] * 10  # fmt: skip
    report = simulate_json(head, "--traffic", traffic(tmp_path, rows), "--base", LOCAL_FIRST)
    # the bar moves from 0.85 (gpt-4o-mini, 0.88) to 0.9 (gpt-4o, 0.95): dearer, better
    assert report["delta"]["quality"] == {"base": pytest.approx(0.88), "head": pytest.approx(0.95)}
    assert report["delta"]["cost"]["absolute"] > 0


def test_an_llm_classifier_is_paid_once_per_distinct_prompt(write_policy, llm, tmp_path):
    from dynamic.test_intents import CLASSIFIER

    llm["p-classifier"].answers = ["classify"]
    rows = [{"prompt": "a math question", "input_tokens": 10, "output_tokens": 0}] * 5
    rows += [{"prompt": "some code please", "input_tokens": 10, "output_tokens": 0}] * 5
    report = simulate_json(write_policy(CLASSIFIER), "--traffic", traffic(tmp_path, rows))
    per_call = (100 * 0.1 + 50 * 0.2) / 1e6
    assert report["detection"] == {"prompts": 2, "cost": pytest.approx(2 * per_call)}
    assert len(llm["p-classifier"].received) == 2
    served = 5 * 10 * 5.0 / 1e6 + 5 * 10 * 1.0 / 1e6  # code on m-big, math on m-mid
    assert report["cost"]["total"] == pytest.approx(2 * per_call + served)
    assert {i["name"]: i["requests"] for i in report["by_intent"]} == {"math": 5, "code": 5}
