"""Rule behaviour beyond the documented examples: the edges that decide false alarms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.lint.conftest import CLEAN, line_of, write

from routectl.core.policy import RouteInfo
from routectl.lint import lint_paths
from routectl.lint.matching import CoverIndex, covers
from routectl.lint.rules.rt010_inline_secret import Options, why_secret


def findings(tmp_path, text, code):
    path = write(tmp_path / "p", text)
    report = lint_paths([path.parent])
    return path, [f for f in report.findings if f.code == code]


def test_catch_all_gets_pii_when_the_pii_route_is_narrower(tmp_path):
    text = CLEAN.replace(
        "  match: {classifications: [pii]}", "  match: {classifications: [pii], intents: [code]}"
    )
    path, found = findings(tmp_path, text, "RT019")
    assert [f.location.line for f in found] == [line_of(path, "targets: [{model: big-us}]")]
    assert "pii" in found[0].message and "jurisdiction US" in found[0].message
    # pii takes the catch-all's EU fallback there: a warning, not RT005's error
    assert findings(tmp_path, text, "RT005")[1] == []


def test_route_limited_to_public_only_consumers_is_checked_for_public_only(tmp_path):
    consumer = (
        "---\napiVersion: routectl.dev/v1\nkind: Consumer\nmetadata: {name: site}\n"
        "spec: {anonymous: true, allow: {classifications: [public]}}\n"
        "---\napiVersion: routectl.dev/v1\nkind: Route\nmetadata: {name: site}\n"
        "spec:\n  order: 5\n  match: {consumers: [site]}\n  targets: [{model: big-us}]\n"
    )
    _, found = findings(tmp_path, CLEAN + consumer, "RT005")
    assert found == []


def test_disabled_experiment_is_not_checked_but_enabled_one_is(tmp_path):
    experiment = (
        "---\napiVersion: routectl.dev/v1\nkind: Experiment\nmetadata: {name: try-us}\n"
        "spec: {route: pii, candidate: big-us, percent: 5, enabled: ENABLED}\n"
    )
    _, found = findings(tmp_path, CLEAN + experiment.replace("ENABLED", "false"), "RT019")
    assert found == []
    path, found = findings(tmp_path, CLEAN + experiment.replace("ENABLED", "true"), "RT019")
    assert [f.location.line for f in found] == [line_of(path, "candidate: big-us")]


def test_tier_target_is_reported_only_when_no_member_is_allowed(tmp_path):
    tiers = "---\napiVersion: routectl.dev/v1\nkind: Tier\nmetadata: {name: any}\nspec: {rank: 1}\n"
    mixed = CLEAN.replace("  upstreamModel: small\n", "  upstreamModel: small\n  tier: any\n")
    mixed = mixed.replace("  upstreamModel: big\n", "  upstreamModel: big\n  tier: any\n")
    mixed = mixed.replace("targets: [{model: small-eu}]", "targets: [{tier: any}]")
    _, found = findings(tmp_path, mixed + tiers, "RT005")
    assert found == []
    us_only = CLEAN.replace("  upstreamModel: big\n", "  upstreamModel: big\n  tier: any\n")
    us_only = us_only.replace("targets: [{model: small-eu}]", "targets: [{tier: any}]")
    path, found = findings(tmp_path, us_only + tiers, "RT005")
    assert [f.location.line for f in found] == [line_of(path, "targets: [{tier: any}]")]


def test_intent_served_only_by_a_forbidden_model_is_unservable(tmp_path):
    text = CLEAN.replace(
        "  capabilities: [chat, code]\n  contextWindow: 128000",
        "  capabilities: [chat, code, vision]\n  contextWindow: 128000",
    )
    text += (
        "---\napiVersion: routectl.dev/v1\nkind: Intent\nmetadata: {name: see}\n"
        "spec: {requires: [vision]}\n"
    )
    _, found = findings(tmp_path, text, "RT007")
    assert found == []  # the catch-all serves it with the US model for public data
    only_pii = text.replace("  order: 100\n", "  order: 100\n  match: {classifications: [pii]}\n")
    path, found = findings(tmp_path, only_pii, "RT007")
    lines = [f.location.line for f in found]
    assert line_of(path, "metadata: {name: see}") in lines


def test_unknown_references_in_unroutable_test_cases_are_deliberate(tmp_path):
    tests = (
        "---\napiVersion: routectl.dev/v1\nkind: PolicyTest\nmetadata: {name: t}\nspec:\n"
        "  cases:\n"
        "    - name: stranger\n      request: {consumer: stranger}\n"
        "      expect: {unroutable: true}\n"
        "    - name: typo\n      request: {intent: chta}\n      expect: {routesTo: small-ue}\n"
    )
    path, found = findings(tmp_path, CLEAN + tests, "RT001")
    expected = [line_of(path, "intent: chta"), line_of(path, "routesTo: small-ue")]
    assert [f.location.line for f in found] == expected
    messages = " ".join(f.message + " " + (f.hint or "") for f in found)
    assert "did you mean 'chat'?" in messages and "did you mean 'small-eu'?" in messages


def test_weighted_route_with_a_tier_and_a_missing_weight(tmp_path):
    route = (
        "---\napiVersion: routectl.dev/v1\nkind: Route\nmetadata: {name: split}\nspec:\n"
        "  strategy: weighted\n  targets:\n    - {model: small-eu, weight: 100}\n"
        "    - {tier: cheap}\n"
    )
    path, found = findings(tmp_path, CLEAN + route, "RT003")
    line = line_of(path, "- {tier: cheap}")
    assert [f.location.line for f in found] == [line, line]


def test_secret_detection_has_no_false_alarms_on_ordinary_values():
    opts = Options()
    ordinary = [
        (("spec", "upstreamModel"), "claude-3-5-sonnet-20241022"),
        (("spec", "baseUrl"), "https://api.mistral.ai/v1"),
        (("metadata", "annotations", "commit"), "3f2a9c1d0b8e7f6a5c4d3e2f1a0b9c8d7e6f5a4b"),
        (("metadata", "annotations", "hypothesis"), "Mistral Small writes as well as GPT-4o"),
        (("metadata", "labels", "token-budget"), "high"),
        (("spec", "credentials", "apiKey"), "env:OPENAI_API_KEY"),
        (("spec", "description"), "keys are env:NAME references; sk- prefixes are refused"),
    ]
    assert [why_secret(p, v, opts) for p, v in ordinary] == [None] * len(ordinary)


def test_secret_detection_finds_tokens_in_free_text():
    opts = Options()
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
    assert "JSON Web Token" in why_secret(("metadata", "annotations", "x"), jwt, opts)
    assert "password" in why_secret(("spec", "baseUrl"), "https://u:p4ss@h.example/v1", opts)
    assert "query" in why_secret(("spec", "baseUrl"), "https://h.example/v1?api_key=abc123", opts)
    assert "suggests a secret" in why_secret(
        ("spec", "match", "metadata", "x-api-token"), "abcd1234efgh", opts
    )
    assert "AWS" in why_secret(("metadata", "labels", "k"), "AKIAIOSFODNN7EXAMPLE", opts)


names = st.sampled_from(["a", "b", "c"])
field = st.frozensets(names, max_size=2)


@st.composite
def routes(draw):
    out = []
    for position in range(draw(st.integers(1, 15))):
        out.append(
            RouteInfo(
                name=f"r{position}",
                order=position,
                position=position,
                intents=draw(field),
                classifications=draw(field),
                languages=draw(field),
                consumers=draw(field),
                teams=frozenset(),
                metadata=tuple(sorted(draw(st.dictionaries(names, names, max_size=1)).items())),
                strategy="priority",
                targets=(),
                fallback_chain=(),
                triggers=frozenset(),
                shadows=(),
                max_cost_per_request=None,
                min_context_window=None,
                requires=frozenset(),
                sticky_by="request_id",
            )
        )
    return out


@settings(max_examples=40, deadline=None)
@given(routes(), st.one_of(st.none(), names))
def test_cover_index_finds_what_comparing_every_pair_finds(all_routes, classification):
    index = CoverIndex()
    for later in all_routes:
        expected = next(
            (e for e in all_routes[: later.position] if covers(e, later, classification)), None
        )
        assert index.first_coverer(later, classification) == expected
        index.add(later)


TIERED = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: cloud}
spec: {baseUrl: "https://cloud.example/v1", jurisdiction: FR, credentials: {apiKey: env:KEY}}
---
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: light}
spec: {rank: 1}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: light-a}
spec: {provider: cloud, upstreamModel: a, tier: light, contextWindow: 32000,
       maxOutputTokens: 4096, pricing: {input: 0.1, output: 0.3}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: light-b}
spec: {provider: cloud, upstreamModel: b, tier: light, contextWindow: 32000,
       maxOutputTokens: 4096, pricing: {input: 0.2, output: 0.6}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: light}
spec:
  strategy: STRATEGY
  targets: [{tier: light}]
  fallback: {chain: [FALLBACK]}
"""


def test_a_fallback_to_another_member_of_a_priority_tier_target_is_no_cycle(tmp_path):
    text = TIERED.replace("STRATEGY", "priority")
    _, found = findings(tmp_path / "other", text.replace("FALLBACK", "light-b"), "RT004")
    assert found == []  # the tier picks light-a; light-b is a different model
    path, found = findings(tmp_path / "same", text.replace("FALLBACK", "light-a"), "RT004")
    assert [f.location.line for f in found] == [line_of(path, "chain: [light-a]")]
    assert "picks" in found[0].message


def test_a_fallback_to_a_member_of_a_tier_cheapest_ranks_repeats_it(tmp_path):
    text = TIERED.replace("STRATEGY", "cheapest").replace("FALLBACK", "light-b")
    path, found = findings(tmp_path, text, "RT004")
    assert [f.location.line for f in found] == [line_of(path, "chain: [light-b]")]


def test_one_route_may_serve_classes_that_skip_some_of_its_targets(tmp_path):
    # pii and public share a route: pii skips the US target and takes the EU fallback.
    shared = CLEAN.replace(
        "  match: {classifications: [pii]}\n  targets: [{model: small-eu}]",
        "  match: {classifications: [pii, public]}\n  targets: [{model: big-us}]\n"
        "  fallback: {chain: [small-eu]}",
    )
    path, errors = findings(tmp_path, shared, "RT005")
    assert errors == []
    _, warnings = findings(tmp_path, shared, "RT019")
    assert [f.location.line for f in warnings] == [line_of(path, "targets: [{model: big-us}]")]
    assert "skipped by classification pii" in warnings[0].message


def test_a_class_with_no_model_left_on_the_route_is_an_error(tmp_path):
    alone = CLEAN.replace(
        "  match: {classifications: [pii]}\n  targets: [{model: small-eu}]",
        "  match: {classifications: [pii, public]}\n  targets: [{model: big-us}]",
    )
    path, errors = findings(tmp_path, alone, "RT005")
    assert [f.location.line for f in errors] == [line_of(path, "targets: [{model: big-us}]")]
    assert "classification pii reaches it" in errors[0].message
