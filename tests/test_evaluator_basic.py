from routectl.core.evaluator import decide, plan
from routectl.core.request import Request

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: us-cloud}
spec: {baseUrl: "https://us.example/v1", jurisdiction: US, credentials: {apiKey: env:US_KEY}}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu-cloud}
spec:
  baseUrl: https://eu.example/v1
  jurisdiction: FR
  certifications: [gdpr-dpa]
  credentials: {apiKey: env:EU_KEY}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: big-us}
spec:
  provider: us-cloud
  upstreamModel: big
  capabilities: [chat, code]
  contextWindow: 128000
  maxOutputTokens: 16384
  pricing: {input: 2.5, output: 10}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-cloud
  upstreamModel: small
  capabilities: [chat]
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: pii}
spec: {allow: {jurisdictions: [EU], certifications: [gdpr-dpa]}}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: public}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
spec: {default: true, requires: [chat]}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: code}
spec: {requires: [code], detect: {keywords: [python, "stack trace"]}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: code}
spec:
  order: 10
  match: {intents: [code]}
  targets: [{model: big-us}]
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  order: 20
  strategy: cheapest
  targets: [{model: big-us}, {model: small-eu}]
  shadows: [{model: big-us, percent: 100}]
"""


def test_cheapest_picks_cheaper_and_falls_back_to_the_other(make_policy):
    policy = make_policy(POLICY)
    d = decide(policy, Request(classification="public", input_tokens=1000, output_tokens=100))
    assert d.route == "default"
    assert d.primary == "small-eu"
    assert d.fallbacks == ("big-us",)


def test_pii_never_reaches_a_us_model_even_as_a_shadow(make_policy):
    policy = make_policy(POLICY)
    rp = plan(policy, Request(classification="pii", input_tokens=1000, output_tokens=100))
    reachable = {a.primary for a in rp.arms} | {f for a in rp.arms for f in a.fallbacks}
    reachable |= {s.model for s in rp.shadows}
    assert reachable == {"small-eu"}


def test_unknown_classification_is_treated_as_strictest(make_policy):
    policy = make_policy(POLICY)
    d = decide(policy, Request(classification="bogus", input_tokens=10))
    assert d.primary == "small-eu"
    assert d.classification is None
    assert any(step.code == "classification.strictest" for step in d.trace)


def test_context_window_filters_and_can_make_a_request_unroutable(make_policy):
    policy = make_policy(POLICY)
    d = decide(policy, Request(classification="pii", input_tokens=40000, output_tokens=100))
    assert not d.routable
    assert "no eligible model" in d.unroutable_reason
    assert any("context window" in step.detail for step in d.trace)


def test_intent_detected_from_prompt_keyword(make_policy):
    policy = make_policy(POLICY)
    d = decide(policy, Request(classification="public", prompt="Fix this Python stack trace"))
    assert d.intent == "code"
    assert d.route == "code"
    assert d.primary == "big-us"
