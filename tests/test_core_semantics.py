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


def test_the_memoised_cost_order_agrees_with_the_full_planner_around_a_crossing(make_policy):
    from routectl.core.evaluator import _plan_uncached

    policy = make_policy(TIER_POLICY)
    # The two members cost the same where 0.19 * input = 0.81 * output (81:19); around
    # it the order flips, and at it the name breaks the tie.
    requests = [
        Request(input_tokens=81 * k + di, output_tokens=19 * k + do)
        for k in (1, 7, 100, 5_000)
        for di in (-1, 0, 1)
        for do in (-1, 0, 1)
    ] + [Request(input_tokens=0, output_tokens=0), Request(input_tokens=5, output_tokens=0)]
    for request in requests * 2:  # the second round reads the memo
        assert plan(policy, request) == _plan_uncached(policy, request), request
    tie = decide(policy, Request(input_tokens=81, output_tokens=19))
    assert tie.chain() == ("cheap-input", "low-blend")


def test_a_pinned_model_is_granted_only_where_the_route_serves_it(make_policy):
    from routectl.core.request import refused_as_forbidden

    policy = make_policy(
        TIER_POLICY.replace(
            "  tier: standard\n  capabilities: [chat, vision]",
            "  tier: standard\n  aliases: [cheapo]\n  capabilities: [chat, vision]",
        )
    )
    pinned = decide(policy, Request(model="cheapo", input_tokens=100, output_tokens=4000))
    assert (pinned.primary, pinned.fallbacks, pinned.arm) == ("cheap-input", (), "pinned")
    assert decide(policy, Request(model="auto")).primary == "cheap-input"
    unknown = decide(policy, Request(model="gpt-9"))
    assert unknown.unroutable_code == "model.unknown"
    assert not refused_as_forbidden(unknown.unroutable_code)
    elsewhere = decide(policy, Request(model="elsewhere"))  # a model no target serves
    assert elsewhere.unroutable_code == "model.not_allowed"
    assert refused_as_forbidden(elsewhere.unroutable_code)
    unfit = decide(policy, Request(model="low-blend", requires=frozenset({"vision"})))
    assert unfit.unroutable_code == "model.unfit"
    assert "lacks capability vision" in unfit.unroutable_reason


def test_a_registered_filter_reaches_the_evaluator_its_memo_and_simulates_grouping(make_policy):
    """Later filters (budget state, rate state) plug in as declarations: nothing else
    needs to learn about them."""
    from routectl.core import filters
    from routectl.core.evaluator import _plan_uncached
    from routectl.core.tokens import Bound, Linear
    from routectl.simulate.token_classes import conditions

    def blocked(model, scope):
        return ("on the block list",) if model.name == "cheap-input" else None

    def short_inputs(model, scope):
        return Bound(Linear(1, 0), 5_000) if model.name == "low-blend" else None

    added = [
        filters.Filter("test-block", "{0} filtered out: {1}", static=blocked),
        filters.Filter(
            "test-input", "{0} filtered out: input {2:,} over {1:,}", bound=short_inputs
        ),
    ]
    try:
        for f in added:
            filters.register(f)
        policy = make_policy(TIER_POLICY)
        small = Request(input_tokens=1_000, output_tokens=10)
        d = decide(policy, small)
        assert d.chain() == ("low-blend",)
        assert any(s.detail == "cheap-input filtered out: on the block list" for s in d.trace)
        large = Request(input_tokens=9_000, output_tokens=10)
        assert not decide(policy, large).routable
        for request in (small, large, small, large):
            assert plan(policy, request) == _plan_uncached(policy, request)
        assert "((input_tokens) > 5000)" in {c.sql for c in conditions([policy])}
    finally:
        for f in added:
            filters.FILTERS.remove(f)
            del filters.BY_NAME[f.name]
