"""The core's declared semantics: strategies, filters, pinned models, required capabilities."""

from __future__ import annotations

from routectl.core.evaluator import decide, plan
from routectl.core.request import Request

TIER_POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: cloud}
spec: {baseUrl: "https://cloud.example/v1", jurisdiction: US, credentials: {apiKey: env:KEY}}
---
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: standard}
spec: {rank: 1}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: low-blend}
spec:
  provider: cloud
  upstreamModel: low-blend
  tier: standard
  capabilities: [chat]
  contextWindow: 128000
  maxOutputTokens: 4096
  pricing: {input: 0.59, output: 0.79}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: cheap-input}
spec:
  provider: cloud
  upstreamModel: cheap-input
  tier: standard
  capabilities: [chat, vision]
  contextWindow: 128000
  maxOutputTokens: 4096
  pricing: {input: 0.4, output: 1.6}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: elsewhere}
spec:
  provider: cloud
  upstreamModel: elsewhere
  capabilities: [chat, vision]
  contextWindow: 128000
  maxOutputTokens: 4096
  pricing: {input: 5, output: 15}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  strategy: cheapest
  targets: [{tier: standard}]
"""


def test_cheapest_ranks_every_tier_member_by_this_requests_cost(make_policy):
    policy = make_policy(TIER_POLICY)
    # Blended list price ranks low-blend first (0.64 vs 0.70 per 1M); for 10k input and
    # 100 output tokens it costs $0.005979 against cheap-input's $0.00416.
    d = decide(policy, Request(input_tokens=10_000, output_tokens=100))
    assert d.primary == "cheap-input"
    assert d.fallbacks == ("low-blend",)
    # A request heavy on output flips the order: the other member follows as fallback.
    d = decide(policy, Request(input_tokens=100, output_tokens=4000))
    assert d.primary == "low-blend"
    assert d.fallbacks == ("cheap-input",)


def test_a_request_that_needs_vision_skips_a_text_only_member(make_policy):
    policy = make_policy(TIER_POLICY)
    d = decide(
        policy, Request(input_tokens=100, output_tokens=4000, requires=frozenset({"vision"}))
    )
    assert d.primary == "cheap-input"
    assert "low-blend" not in d.chain()
    assert any(s.code == "filter" and s.model == "low-blend" for s in d.trace)
    assert plan(policy, Request(requires=frozenset({"vision"}))).routable
