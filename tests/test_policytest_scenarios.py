"""PolicyTest and explain cover what routing depends on: sessions, needs, pinned models,
outages, shadows and experiment arms."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from routectl.cli.main import app

runner = CliRunner()

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: alpha}
spec: {baseUrl: "https://alpha.example/v1", jurisdiction: DE, credentials: {apiKey: env:A}}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: beta}
spec: {baseUrl: "https://beta.example/v1", jurisdiction: US, credentials: {apiKey: env:B}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: a-text}
spec:
  provider: alpha
  upstreamModel: text
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.1, output: 0.3}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: b-vision}
spec:
  provider: beta
  upstreamModel: vision
  aliases: [seer]
  capabilities: [chat, vision]
  contextWindow: 128000
  maxOutputTokens: 16384
  pricing: {input: 2.5, output: 10}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: b-next}
spec:
  provider: beta
  upstreamModel: next
  contextWindow: 128000
  maxOutputTokens: 16384
  pricing: {input: 1, output: 4}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: eu-only}
spec: {allow: {jurisdictions: [EU]}}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: public}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: a-text}]
  fallback: {chain: [b-vision]}
  shadows: [{model: b-next, percent: 100}]
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: next-model}
spec: {route: default, candidate: b-next, percent: 50, stickyBy: session}
"""

TESTS = """
apiVersion: routectl.dev/v1
kind: PolicyTest
metadata: {name: scenarios}
spec:
  cases:
    - name: an image request skips the text-only primary
      request: {classification: public, requires: [vision], session: s-1}
      expect: {routesTo: b-vision, fallbacks: []}
    - name: a pinned alias gets that model and no other
      request: {classification: public, model: seer, session: s-1}
      expect: {routesTo: b-vision, arm: pinned, fallbacks: [], shadows: [b-next]}
    - name: a pinned model the class forbids is refused
      request: {classification: eu-only, model: seer}
      expect: {unroutable: true}
    - name: alpha down fails over to beta
      request: {classification: public, session: s-1}
      down: [alpha]
      expect: {routesTo: a-text, servedBy: b-vision, arm: primary, shadows: [b-next]}
    - name: the session draws the experiment's candidate arm
      request: {classification: public, session: s-2}
      expect: {routesTo: b-next, arm: candidate, experiment: next-model, shadows: []}
"""

WRONG = """
apiVersion: routectl.dev/v1
kind: PolicyTest
metadata: {name: wrong}
spec:
  cases:
    - name: everything down
      request: {classification: public, session: s-1}
      down: [alpha, b-vision, nowhere]
      expect: {servedBy: b-vision, arm: candidate, experiment: next-model, shadows: []}
"""


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return directory


def test_cases_cover_needs_pins_outages_shadows_and_arms(tmp_path):
    policy = write(tmp_path / "p", policy=POLICY, tests=TESTS)
    result = runner.invoke(app, ["test", str(policy), "--format", "json"])
    doc = json.loads(result.stdout)
    assert [c["failures"] for c in doc["cases"]] == [[]] * 5
    assert result.exit_code == 0
    served = {c["case"]: c["served_by"] for c in doc["cases"]}
    assert served["alpha down fails over to beta"] == "b-vision"


def test_each_new_expectation_can_fail(tmp_path):
    policy = write(tmp_path / "p", policy=POLICY, tests=WRONG)
    result = runner.invoke(app, ["test", str(policy), "--format", "json"])
    assert result.exit_code == 1
    (case,) = json.loads(result.stdout)["cases"]
    assert case["failures"] == [
        "down: no provider or model named nowhere",
        "expected shadows [], got ['b-next']",
        "expected arm candidate, got primary",
        "expected experiment next-model, got none",
        "expected to be served by b-vision, got nothing (b-vision: unavailable; chain exhausted)",
    ]


def explain(*args: str):
    return runner.invoke(app, ["explain", *args, "--format", "json"])


def test_explain_takes_needs_a_pinned_model_a_session_and_outages(tmp_path):
    policy = str(write(tmp_path / "p", policy=POLICY))
    result = explain(policy, "--classification", "public", "--requires", "vision")
    assert json.loads(result.stdout)["primary"] == "b-vision"
    result = explain(policy, "--classification", "public", "--session", "s-2")
    assert json.loads(result.stdout)["arm"] == "candidate"
    result = explain(policy, "--classification", "public", "--session", "s-1", "--down", "alpha")
    doc = json.loads(result.stdout)
    assert (doc["primary"], doc["served_by"]) == ("a-text", "b-vision")
    assert doc["failed"] == [{"model": "a-text", "outcome": "unavailable"}]
    assert result.exit_code == 0
    result = explain(policy, "--classification", "public", "--down", "alpha", "--down", "beta")
    assert json.loads(result.stdout)["served_by"] is None
    assert result.exit_code == 1


def test_explain_pinned_models_unknown_and_not_allowed_are_told_apart(tmp_path):
    policy = str(write(tmp_path / "p", policy=POLICY))
    result = explain(policy, "--classification", "public", "--model", "seer")
    assert (json.loads(result.stdout)["primary"], result.exit_code) == ("b-vision", 0)
    result = explain(policy, "--classification", "public", "--model", "auto")
    assert json.loads(result.stdout)["primary"] in ("a-text", "b-next")
    result = explain(policy, "--classification", "public", "--model", "gpt-9")
    doc = json.loads(result.stdout)
    assert (doc["unroutable_code"], result.exit_code) == ("model.unknown", 1)
    result = explain(policy, "--classification", "eu-only", "--model", "b-vision")
    doc = json.loads(result.stdout)
    assert doc["unroutable_code"] == "model.not_allowed"
    assert "classification eu-only" in doc["unroutable"]
    result = explain(policy, "--classification", "public", "--model", "b-next")
    assert json.loads(result.stdout)["unroutable_code"] == "model.not_allowed"  # not on route


def test_explain_rejects_unknown_capabilities_and_outage_names(tmp_path):
    policy = str(write(tmp_path / "p", policy=POLICY))
    assert runner.invoke(app, ["explain", policy, "--requires", "telepathy"]).exit_code == 2
    assert runner.invoke(app, ["explain", policy, "--down", "nowhere"]).exit_code == 2
