"""Quality scores and strategy cheapest-above in the core, explain and policy tests."""

from __future__ import annotations

import json

import pytest
from tests.conftest import policy_from_text
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.evaluator import decide, plan
from routectl.core.manifest import parse_document
from routectl.core.request import Request

runner = CliRunner()

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: p}
spec: {baseUrl: 'https://p.example.com/v1', jurisdiction: DE}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small}
spec:
  provider: p
  upstreamModel: small
  contextWindow: 100000
  maxOutputTokens: 4096
  pricing: {input: 0.1, output: 0.4}
  quality:
    - {intent: code, score: 0.7, source: team eval v2, date: 2026-11-01}
    - {score: 0.9, source: team eval v2, date: 2026-11-01}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: medium}
spec:
  provider: p
  upstreamModel: medium
  contextWindow: 100000
  maxOutputTokens: 4096
  pricing: {input: 1, output: 4}
  quality: [{intent: code, score: 0.86, source: team eval v2, date: 2026-11-01}]
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: large}
spec:
  provider: p
  upstreamModel: large
  contextWindow: 100000
  maxOutputTokens: 4096
  pricing: {input: 5, output: 20}
  quality: [{intent: code, score: 0.95, source: team eval v2, date: 2026-11-01}]
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: code}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: r}
spec:
  strategy: cheapest-above
  quality: 0.85
  targets: [{model: large}, {model: small}, {model: medium}]
"""


def test_cheapest_model_meeting_the_bar_for_the_intent(tmp_path):
    policy = policy_from_text(tmp_path, POLICY)
    decision = decide(policy, Request(intent="code", input_tokens=1000, output_tokens=200))
    assert decision.primary == "medium" and decision.fallbacks == ("large",)
    details = [step.detail for step in decision.trace]
    assert any(
        "small filtered out: quality 0.7 below the route's 0.85 for intent code "
        "(team eval v2, 2026-11-01)" in d
        for d in details
    )
    # chat: small's general score (0.9) applies; medium and large have none for chat
    decision = decide(policy, Request(intent="chat", input_tokens=1000, output_tokens=200))
    assert decision.primary == "small" and decision.fallbacks == ()
    assert any("medium filtered out: quality none" in d for d in map(str, decision.trace))


def test_plan_cache_and_full_planner_agree_across_token_counts(tmp_path):
    policy = policy_from_text(tmp_path, POLICY)
    for tokens in (10, 1000, 50_000):
        request = Request(intent="code", input_tokens=tokens, output_tokens=100)
        assert decide(policy, request).primary == "medium"
        assert plan(policy, request) == plan(policy, request)


def test_quality_bar_and_strategy_go_together():
    route = {
        "apiVersion": "routectl.dev/v1",
        "kind": "Route",
        "metadata": {"name": "r"},
        "spec": {"targets": [{"model": "m"}], "quality": 0.5},
    }
    with pytest.raises(ValueError, match="cheapest-above needs 'quality'"):
        parse_document(route)
    route["spec"] = {"targets": [{"model": "m"}], "strategy": "cheapest-above"}
    with pytest.raises(ValueError, match="cheapest-above needs 'quality'"):
        parse_document(route)


def test_explain_shows_the_bar(tmp_path):
    policy_from_text(tmp_path, POLICY)
    result = runner.invoke(app, ["explain", str(tmp_path), "--intent", "code", "--format", "json"])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert decision["primary"] == "medium"
    assert any(s["code"] == "strategy.cheapest-above" for s in decision["trace"])
