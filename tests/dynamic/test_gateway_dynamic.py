"""The gateway end to end: cascades escalating on bad answers, semantic intents, quality."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from dynamic.conftest import APP_KEY, apply_policy
from gateway.conftest import read_log

CASCADE = """
kind: Route
metadata: {name: local-first}
spec:
  strategy: cascade
  targets: [{model: m-local}, {model: m-mid}, {model: m-big}]
  cascade:
    checks:
      refusal: ["\\\\bI can(no|')t help\\\\b"]
      json: true
      jsonSchema: {type: object, required: [total], properties: {total: {type: integer}}}
"""


@pytest.fixture
def serve(store, start_gateway, write_policy, tmp_path):
    """Apply the policy (base + ``extra``) to the store and start a gateway with a log."""

    def start(*extra: str):
        directory = write_policy(*extra)
        text = (directory / "policy.yaml").read_text()
        revision = apply_policy(store, text, tmp_path / "applied")
        gateway = start_gateway(store, log_path=tmp_path / "decisions.jsonl")
        gateway.await_revision(revision)
        return gateway

    return start


def chat(gateway, content="Give me the total as JSON", **body) -> httpx.Response:
    body.setdefault("messages", [{"role": "user", "content": content}])
    body.setdefault("model", "auto")
    return gateway.client.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {APP_KEY}"}
    )


@pytest.mark.parametrize(
    ("local", "mid", "answered", "reason"),
    [
        ("truncated", 'json:{"total": 3}', "m-mid", "truncated"),
        ("refusal", 'json:{"total": 3}', "m-mid", "refusal"),
        ("badjson", 'json:{"total": 3}', "m-mid", "not JSON"),
        ('json:{"total": "three"}', "badjson", "m-big", "fails the JSON Schema"),
    ],
)
def test_cascade_escalates_on_a_bad_answer(serve, llm, tmp_path, local, mid, answered, reason):
    llm["p-local"].answers = [local]
    llm["p-mid"].answers = [mid]
    llm["p-big"].answers = ['json:{"total": 7}']
    gateway = serve(CASCADE)
    response = chat(gateway)
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == answered
    record = read_log(tmp_path / "decisions.jsonl", 1, timeout_s=15)[-1]
    steps = record["cascade"]
    assert steps[0]["model"] == "m-local" and steps[0]["verdict"] == "escalated"
    assert reason in steps[0]["reason"]
    assert steps[-1] == {"model": answered, "verdict": "accepted"}
    assert record["model"] == answered
    # every answer is paid for: 100 in, 50 out at each model's prices
    prices = {"m-local": (0, 0), "m-mid": (1, 2), "m-big": (5, 15)}
    expected = sum((100 * prices[s["model"]][0] + 50 * prices[s["model"]][1]) / 1e6 for s in steps)
    assert record["cost"] == pytest.approx(expected)
    assert [a["model"] for a in record["attempts"]] == [s["model"] for s in steps]


def test_a_good_first_answer_stays_local(serve, llm, tmp_path):
    llm["p-local"].answers = ['json:{"total": 1}']
    gateway = serve(CASCADE)
    response = chat(gateway)
    assert response.headers["x-routectl-model"] == "m-local"
    assert llm["p-mid"].received == [] and llm["p-big"].received == []
    record = read_log(tmp_path / "decisions.jsonl", 1, timeout_s=15)[-1]
    assert record["cascade"] == [{"model": "m-local", "verdict": "accepted"}]


def test_the_last_answer_is_kept_when_every_step_fails_its_checks(serve, llm, tmp_path):
    for provider in ("p-local", "p-mid", "p-big"):
        llm[provider].answers = ["refusal"]
    gateway = serve(CASCADE)
    response = chat(gateway)
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-big"
    steps = read_log(tmp_path / "decisions.jsonl", 1, timeout_s=15)[-1]["cascade"]
    assert [s["verdict"] for s in steps] == ["escalated", "escalated", "kept"]


def test_transport_failure_fails_over_inside_the_cascade(serve, llm):
    llm["p-local"].answers = ["500"]
    llm["p-mid"].answers = ['json:{"total": 2}']
    gateway = serve(CASCADE)
    assert chat(gateway).headers["x-routectl-model"] == "m-mid"


def test_a_streaming_client_gets_only_the_final_answer_as_sse(serve, llm):
    llm["p-local"].answers = ["truncated"]
    llm["p-mid"].answers = ['json:{"total": 5}']
    gateway = serve(CASCADE)
    response = chat(gateway, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == '{"total": 5}'  # not a byte of the truncated local answer
    assert any(c["choices"] and c["choices"][0].get("finish_reason") == "stop" for c in chunks)
    assert all(body["stream"] is False for body in llm["p-local"].received + llm["p-mid"].received)


def test_judge_score_below_threshold_escalates_and_is_paid_for(serve, llm, tmp_path):
    judged = CASCADE.replace(
        "      json: true\n", "      json: true\n      judge: {model: m-judge, threshold: 0.7}\n"
    )
    llm["p-local"].answers = ['json:{"total": 1}']
    llm["p-mid"].answers = ['json:{"total": 2}']
    llm["p-judge"].answers = ["judge:0.3", "judge:0.9"]
    gateway = serve(judged)
    response = chat(gateway)
    assert response.headers["x-routectl-model"] == "m-mid"
    record = read_log(tmp_path / "decisions.jsonl", 1, timeout_s=15)[-1]
    assert record["cascade"][0]["judge_score"] == 0.3
    assert "judge m-judge scored 0.30 < 0.70" in record["cascade"][0]["reason"]
    judge_request = llm["p-judge"].received[0]
    assert judge_request["response_format"]["type"] == "json_schema"
    assert '{"total": 1}' in judge_request["messages"][1]["content"]
    judge_cost = 2 * (100 * 0.5 + 50 * 1.0) / 1e6
    assert record["cost"] == pytest.approx(judge_cost + (100 * 1 + 50 * 2) / 1e6)


def test_a_cascade_charges_every_call_it_made_to_the_budget(serve, llm, tmp_path):
    """The rejected answer and both judge calls are spend, as the decision log says."""
    judged = CASCADE.replace(
        "      json: true\n", "      json: true\n      judge: {model: m-judge, threshold: 0.7}\n"
    )
    team = "kind: Team\nmetadata: {name: web}\nspec:\n  budget: {amountUsd: 100, period: monthly}"
    llm["p-local"].answers = ['json:{"total": 1}']
    llm["p-mid"].answers = ['json:{"total": 2}']
    llm["p-judge"].answers = ["judge:0.3", "judge:0.9"]
    gateway = serve(judged + "\n---\n" + team)
    assert chat(gateway).headers["x-routectl-model"] == "m-mid"
    record = read_log(tmp_path / "decisions.jsonl", 1, timeout_s=15)[-1]
    expected = 2 * (100 * 0.5 + 50 * 1.0) / 1e6 + (100 * 1 + 50 * 2) / 1e6
    assert record["cost"] == pytest.approx(expected)
    deadline = time.monotonic() + 10
    while True:  # the charge goes out after the answer
        spend = gateway.client.get(
            "/admin/v1/spend", headers={"authorization": "Bearer admin-token"}
        ).json()
        (row,) = [b for b in spend["budgets"] if b["budget"] == "team/web"]
        if row["spentUsd"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row["spentUsd"] == pytest.approx(expected)


SEMANTIC = """
kind: Intent
metadata: {name: math}
spec:
  detect:
    threshold: 0.2
    examples: [Solve the equation 2x + 3 = 11., What is the integral of x squared?]
---
kind: Intent
metadata: {name: writing}
spec:
  detect:
    threshold: 0.2
    examples: [Write a poem about the sea., Compose a short story about a dragon.]
---
kind: Intent
metadata: {name: chat}
spec: {default: true}
---
kind: Route
metadata: {name: math}
spec: {order: 1, match: {intents: [math]}, targets: [{model: m-big}]}
---
kind: Route
metadata: {name: rest}
spec: {order: 2, targets: [{model: m-local}]}
"""


def test_gateway_routes_by_semantic_intent_and_logs_the_match(serve, llm, tmp_path):
    gateway = serve(SEMANTIC)
    assert chat(gateway, "solve the equation 4x = 8").headers["x-routectl-model"] == "m-big"
    assert chat(gateway, "good morning!").headers["x-routectl-model"] == "m-local"
    records = read_log(tmp_path / "decisions.jsonl", 2, timeout_s=15)
    assert records[0]["intent"] == "math"
    detect = records[0]["detect"]
    assert detect["encoder"] == "lexical" and detect["example"].startswith("Solve the equation")
    assert records[1]["intent"] == "chat" and records[1]["detect"]["intent"] is None


def test_gateway_counts_the_llm_classifier(serve, llm, tmp_path):
    llm["p-classifier"].answers = ["classify"]
    gateway = serve(
        SEMANTIC.replace(
            "threshold: 0.2", "threshold: 0.5\n    encoder: {type: llm, model: m-classifier}"
        )
    )
    response = chat(gateway, "a math question please")
    assert response.headers["x-routectl-model"] == "m-big"
    record = read_log(tmp_path / "decisions.jsonl", 1, timeout_s=15)[-1]
    classifier_cost = (100 * 0.1 + 50 * 0.2) / 1e6
    assert record["detect"]["cost"] == pytest.approx(classifier_cost)
    assert record["cost"] == pytest.approx(classifier_cost + (100 * 5 + 50 * 15) / 1e6)


QUALITY = """
kind: Route
metadata: {name: good-enough}
spec:
  strategy: cheapest-above
  quality: 0.8
  match: {intents: [code]}
  targets: [{model: m-local}, {model: m-mid}, {model: m-big}]
---
kind: Intent
metadata: {name: code}
"""


def with_quality(text: str) -> str:
    scores = {"m-local": 0.6, "m-mid": 0.85, "m-big": 0.95}
    for model, score in scores.items():
        text = text.replace(
            f"metadata: {{name: {model}}}\nspec:\n",
            f"metadata: {{name: {model}}}\nspec:\n  quality: [{{intent: code, score: {score}, "
            "source: internal eval, date: 2026-11-01}]\n",
        )
    return text


def test_cheapest_above_serves_the_cheapest_model_meeting_the_bar(serve, llm, store, tmp_path):
    gateway = serve(QUALITY)
    # without scores no model qualifies: unroutable, named
    response = chat(gateway, metadata={"intent": "code"})
    assert response.status_code == 400
    assert "route good-enough: no eligible model" in response.json()["error"]["message"]
    text = with_quality((tmp_path / "applied" / "policy.yaml").read_text())
    gateway.await_revision(apply_policy(store, text, tmp_path / "applied-2"))
    response = chat(gateway, metadata={"intent": "code"})
    assert response.headers["x-routectl-model"] == "m-mid"


def test_simulate_measures_escalation_from_the_gateways_own_log(serve, llm, tmp_path):
    from simulate.helpers import simulate_json

    llm["p-local"].answers = ["truncated", 'json:{"total": 1}', 'json:{"total": 1}', "badjson"]
    llm["p-mid"].answers = ['json:{"total": 2}']
    gateway = serve(CASCADE)
    for _ in range(4):
        assert chat(gateway).status_code == 200
    log = tmp_path / "decisions.jsonl"
    assert len(read_log(log, 4, timeout_s=15)) == 4
    policy = tmp_path / "policy-0"  # the directory serve() wrote
    report = simulate_json(policy, "--traffic", log, "--escalation-log", log)
    rates = {r["model"]: (r["rate"], r["source"]) for r in report["cascade"]["routes"][0]["rates"]}
    assert rates["m-local"] == (0.5, "measured")
    assert rates["m-mid"] == (0.0, "measured")


def test_gateway_classifies_with_an_embeddings_endpoint_off_its_loop(serve, llm, tmp_path):
    gateway = serve(
        SEMANTIC.replace(
            "threshold: 0.2",
            "threshold: 0.3\n    encoder: {type: embeddings, provider: p-embed, model: bge-small}",
        )
    )
    assert chat(gateway, "solve the equation 3x = 12").headers["x-routectl-model"] == "m-big"
    assert chat(gateway, "solve the equation 3x = 12").headers["x-routectl-model"] == "m-big"
    record = read_log(tmp_path / "decisions.jsonl", 2, timeout_s=15)[-1]
    assert record["detect"]["encoder"] == "embeddings p-embed/bge-small"
    assert record["detect"]["intent"] == "math"
    # the four examples once, the prompt once: the second request was answered from the cache
    assert [len(texts) for texts in llm["p-embed"].embedded] == [4, 1]
