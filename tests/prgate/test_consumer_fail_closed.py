"""A consumer's classification list and the fail-closed rule read unclassified data alike."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_policy
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.evaluator import decide
from routectl.core.request import Request

runner = CliRunner()

POLICY = """\
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu}
spec: {baseUrl: "https://eu.example/v1", jurisdiction: DE, credentials: {apiKey: env:EU_KEY}}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: us}
spec: {baseUrl: "https://us.example/v1", jurisdiction: US, credentials: {apiKey: env:US_KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: eu-model}
spec: {provider: eu, upstreamModel: m, contextWindow: 8000, maxOutputTokens: 1000,
       pricing: {input: 2.0, output: 2.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: us-model}
spec: {provider: us, upstreamModel: m, contextWindow: 8000, maxOutputTokens: 1000,
       pricing: {input: 1.0, output: 1.0}}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: pii}
spec: {allow: {jurisdictions: [EU]}}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: public}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec: {strategy: cheapest, targets: [{model: us-model}, {model: eu-model}]}
---
apiVersion: routectl.dev/v1
kind: Consumer
metadata: {name: both}
spec: {apiKey: env:BOTH_KEY, allow: {classifications: [pii, public]}}
---
apiVersion: routectl.dev/v1
kind: Consumer
metadata: {name: public-only}
spec: {apiKey: env:PUBLIC_KEY, allow: {classifications: [public]}}
"""


def test_a_consumer_allowed_every_class_may_send_unclassified_data(make_policy) -> None:
    policy = make_policy(POLICY)
    decision = decide(policy, Request(consumer="both"))
    assert decision.routable, decision.unroutable_reason
    assert decision.primary == "eu-model"  # fail-closed: only where pii may go too
    refused = decide(policy, Request(consumer="public-only"))
    assert not refused.routable
    assert "may not send unclassified data: it could be pii" in refused.unroutable_reason
    assert decide(policy, Request(consumer="public-only", classification="public")).routable


def test_explain_says_which_rule_applied(tmp_path: Path) -> None:
    write_policy(tmp_path / "p", POLICY)
    allowed = runner.invoke(app, ["explain", str(tmp_path / "p"), "--consumer", "both"])
    assert allowed.exit_code == 0, allowed.output
    assert "may send unclassified data: it may send every class" in allowed.stdout
    assert "treated as the strictest" in allowed.stdout
    refused = runner.invoke(app, ["explain", str(tmp_path / "p"), "--consumer", "public-only"])
    assert refused.exit_code == 1
    assert "it could be pii, which public-only may not send" in refused.stdout
