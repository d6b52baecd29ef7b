"""Semantic intents: the same detector in explain, policy tests and the gateway."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.evaluator import decide
from routectl.core.policy import resolve
from routectl.core.request import Request
from routectl.detect import attach
from routectl.detect.lexical import MAX_CHARS, LexicalEncoder
from routectl.loader.yaml_source import load_paths

ROOT = Path(__file__).resolve().parents[2]
MT_BENCH = ROOT / "benchmarks" / "data" / "mt-bench" / "question.jsonl.gz"
runner = CliRunner()

INTENTS = """
kind: Intent
metadata: {name: code}
spec:
  requires: [code]
  detect:
    keywords: [stacktrace]
    threshold: 0.2
    examples:
      - Write a Python function that sorts a list of numbers.
      - Fix the bug in this JavaScript loop.
      - Implement a linked list class in Java.
---
kind: Intent
metadata: {name: math}
spec:
  detect:
    threshold: 0.2
    examples:
      - Solve the equation 2x + 3 = 11.
      - What is the integral of x squared?
      - Compute the probability of two heads in three coin tosses.
---
kind: Intent
metadata: {name: chat}
spec: {default: true}
---
kind: Route
metadata: {name: code}
spec: {order: 1, match: {intents: [code]}, targets: [{model: m-big}]}
---
kind: Route
metadata: {name: math}
spec: {order: 2, match: {intents: [math]}, targets: [{model: m-mid}]}
---
kind: Route
metadata: {name: rest}
spec: {order: 3, targets: [{model: m-local}]}
"""


def load(directory: Path):
    result = load_paths([directory])
    assert result.ok, [str(e) for e in result.errors]
    return attach(resolve(d.doc for d in result.documents))


def test_fast_vectors_equal_scikit_learns_transform():
    prompts = [
        json.loads(line)["turns"][0]
        for line in gzip.decompress(MT_BENCH.read_bytes()).decode("utf-8").splitlines()
    ]
    encoder = LexicalEncoder()
    matrix = encoder.fit(prompts[:40])
    for prompt in prompts[40:] + ["", "!!!", "déjà vu  x^2\tdef f():"]:
        expected = (matrix @ encoder.encode([prompt[-MAX_CHARS:]]).T).toarray().ravel()
        assert np.allclose(encoder.similarities(prompt), expected, atol=1e-5)


def test_explain_names_the_nearest_example_and_its_score(write_policy):
    directory = write_policy(INTENTS)
    result = runner.invoke(
        app,
        [
            "explain",
            str(directory),
            "--prompt",
            "write a python function to reverse a list",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert (decision["intent"], decision["primary"]) == ("code", "m-big")
    step = decision["trace"][0]
    assert step["code"] == "intent.semantic"
    assert "Write a Python function that sorts a list of numbers." in step["detail"]
    assert "lexical" in step["detail"] and "score 0." in step["detail"]


def test_below_the_threshold_the_default_intent_and_the_near_miss_in_the_trace(write_policy):
    policy = load(write_policy(INTENTS))
    decision = decide(policy, Request(prompt="hello, how are you today?"))
    assert decision.intent == "chat" and decision.primary == "m-local"
    detail = decision.trace[0].detail
    assert decision.trace[0].code == "intent.default"
    assert "nearest example" in detail and "<" in detail


def test_keyword_rules_come_before_examples(write_policy):
    policy = load(write_policy(INTENTS))
    # most like a math example, but a code keyword is present: rules first
    decision = decide(policy, Request(prompt="solve the equation in this stacktrace"))
    assert decision.intent == "code"
    assert decision.trace[0].code == "intent.keyword"
    assert decide(policy, Request(prompt="solve the equation 5x - 1 = 9")).intent == "math"


def test_policy_tests_check_the_detected_intent(write_policy):
    tests = """
kind: PolicyTest
metadata: {name: intents}
spec:
  cases:
    - name: code prompt
      request: {prompt: "Implement a stack class in Java with push and pop"}
      expect: {intent: code, routesTo: m-big}
    - name: math prompt
      request: {prompt: "What is the probability of rolling a six?"}
      expect: {intent: math, routesTo: m-mid}
"""
    result = runner.invoke(app, ["test", str(write_policy(INTENTS, tests)), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passed"] == 2
    wrong = tests.replace("expect: {intent: math", "expect: {intent: code")
    result = runner.invoke(app, ["test", str(write_policy(INTENTS, wrong)), "--format", "json"])
    assert result.exit_code == 1
    assert "expected intent code, got math" in result.stdout


EMBEDDINGS = INTENTS.replace(
    "    threshold: 0.2\n",
    "    threshold: 0.3\n    encoder: {type: embeddings, provider: p-embed, model: bge-small}\n",
)
CLASSIFIER = INTENTS.replace(
    "    threshold: 0.2\n", "    threshold: 0.5\n    encoder: {type: llm, model: m-classifier}\n"
)


def test_embeddings_encoder_classifies_and_caches(write_policy, llm):
    policy = load(write_policy(EMBEDDINGS))
    assert llm["p-embed"].embedded == []  # nothing is fetched before a prompt needs it
    decision = decide(policy, Request(prompt="solve the equation 7x = 21"))
    assert decision.intent == "math"
    assert "embeddings p-embed/bge-small" in decision.trace[0].detail
    calls = len(llm["p-embed"].embedded)
    assert calls == 2  # the six examples in one call, then the prompt
    decide(policy, Request(prompt="solve the equation 7x = 21"))
    assert len(llm["p-embed"].embedded) == calls  # cached


def test_embeddings_endpoint_down_is_a_named_miss_not_an_error(write_policy, llm):
    directory = write_policy(EMBEDDINGS.replace("p-embed", "p-nowhere"))
    (directory / "down.yaml").write_text(
        "apiVersion: routectl.dev/v1\nkind: Provider\nmetadata: {name: p-nowhere}\n"
        "spec: {baseUrl: 'http://127.0.0.1:9/v1', jurisdiction: DE, timeoutSeconds: 1}\n"
    )
    policy = load(directory)
    decision = decide(policy, Request(prompt="solve the equation 7x = 21"))
    assert decision.intent == "chat"
    assert "failed" in decision.trace[0].detail


def test_llm_classifier_uses_structured_output_and_counts_its_cost(write_policy, llm):
    llm["p-classifier"].answers = ["classify"]
    policy = load(write_policy(CLASSIFIER))
    match = policy.detector.classify("a math question: what is 2 + 2?")
    assert (match.intent, match.score) == ("math", 0.9)
    assert match.cost == pytest.approx((100 * 0.1 + 50 * 0.2) / 1e6)
    sent = llm["p-classifier"].received[0]
    assert sent["model"] == "up-m-classifier"
    enum = sent["response_format"]["json_schema"]["schema"]["properties"]["intent"]["enum"]
    assert enum == ["code", "math"]
    low = policy.detector.classify("tell me a story")  # confidence 0.2 < threshold 0.5
    assert low.intent is None and low.nearest == "code"


def test_unknown_encoder_provider_is_a_located_load_error(write_policy):
    directory = write_policy(EMBEDDINGS.replace("provider: p-embed", "provider: p-missing"))
    result = runner.invoke(app, ["explain", str(directory), "--prompt", "x"])
    assert result.exit_code == 2
    assert "unknown provider p-missing" in result.output


def test_threshold_or_encoder_without_examples_is_an_error():
    from routectl.core.manifest import parse_document

    intent = {"apiVersion": "routectl.dev/v1", "kind": "Intent", "metadata": {"name": "x"}}
    intent["spec"] = {"detect": {"threshold": 0.5}}
    with pytest.raises(ValueError, match="threshold apply to 'examples'; there are none"):
        parse_document(intent)
    intent["spec"] = {"detect": {"examples": ["a"], "threshold": 0.5}}
    assert parse_document(intent).spec.detect.threshold == 0.5


def test_lint_names_unknown_encoder_and_judge_models(write_policy):
    judged = """
kind: Route
metadata: {name: c}
spec:
  strategy: cascade
  targets: [{model: m-local}]
  cascade: {checks: {judge: {model: m-juge, threshold: 0.5}}}
"""
    directory = write_policy(CLASSIFIER.replace("m-classifier", "m-clasifier"), judged)
    result = runner.invoke(app, ["lint", str(directory), "--format", "json"])
    assert result.exit_code == 1
    messages = result.stdout
    assert "unknown Model 'm-clasifier'" in messages and "unknown Model 'm-juge'" in messages
