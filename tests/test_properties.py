"""Properties of the evaluator over generated policies and requests (hypothesis).

- Sovereignty: nothing a request can reach (primary, fallbacks, every arm of the
  plan, the experiment arm, shadows) is a model its classification forbids. The
  allowed set is worked out here from the raw rules, with a region table of its
  own, not with routectl's code; an unknown or missing classification may only
  reach what every classification allows.
- The evaluator never raises, and ``decide`` is deterministic, also across a
  fresh resolution of the same documents (no state leaks between requests).
- The memoised planner gives exactly what the full planner gives.
- A request that pins a model gets that model alone, or is unroutable.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routectl.core.evaluator import _plan_uncached, choose, decide, detect_intent, plan
from routectl.core.manifest import parse_document
from routectl.core.policy import resolve
from routectl.core.policytest import reachable
from routectl.core.request import Request

COUNTRIES = ["DE", "FR", "SE", "IT", "NO", "US", "TR", "SA", "AE", "AZ"]
# Real-world membership, restricted to the countries generated above.
REGIONS = {
    "EU": {"DE", "FR", "SE", "IT"},
    "EEA": {"DE", "FR", "SE", "IT", "NO"},
    "GCC": {"SA", "AE"},
}
JURISDICTIONS = COUNTRIES + list(REGIONS)
HOSTING = ["hosted", "on-prem", "sovereign"]
CERTS = ["iso27001", "soc2", "hipaa-baa", "gdpr-dpa", "tisax"]
CAPABILITIES = ["chat", "code", "vision", "tools", "json", "reasoning"]
LANGUAGES = ["en", "tr", "ar", "de"]
TRIGGERS = ["429", "5xx", "timeout", "connection-error", "context-length"]

names = st.sampled_from


def subset(values: list[str], max_size: int | None = None) -> st.SearchStrategy[list[str]]:
    if not values:
        return st.just([])
    return st.lists(st.sampled_from(values), unique=True, max_size=max_size or len(values))


def doc(kind: str, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": "routectl.dev/v1",
        "kind": kind,
        "metadata": {"name": name},
    }
    if spec is not None:
        out["spec"] = spec
    return out


@st.composite
def policies(draw: st.DrawFn) -> list[dict[str, Any]]:
    providers = [f"p{i}" for i in range(draw(st.integers(1, 4)))]
    models = [f"m{i}" for i in range(draw(st.integers(1, 8)))]
    tiers = [f"t{i}" for i in range(draw(st.integers(0, 3)))]
    classes = [f"c{i}" for i in range(draw(st.integers(0, 4)))]
    intents = [f"i{i}" for i in range(draw(st.integers(0, 3)))]
    routes = [f"r{i}" for i in range(draw(st.integers(1, 5)))]
    consumers = [f"u{i}" for i in range(draw(st.integers(0, 2)))]
    # A few dangling references: resolution drops them, lint reports them.
    model_refs = models + ["ghost"]

    docs = [doc("Tier", t, {"rank": i}) for i, t in enumerate(tiers)]
    for p in providers:
        spec = {
            "baseUrl": "https://llm.example/v1",
            "jurisdiction": draw(names(JURISDICTIONS)),
            "hosting": draw(names(HOSTING)),
            "certifications": draw(subset(CERTS, 3)),
            "credentials": {"apiKey": "env:KEY"},
        }
        docs.append(doc("Provider", p, spec))
    for m in models:
        context = draw(names([4096, 32000, 128000, 1_000_000]))
        spec = {
            "provider": draw(names(providers)),
            "upstreamModel": m,
            "capabilities": draw(subset(CAPABILITIES)),
            "languages": draw(subset(LANGUAGES, 2)),
            "openWeight": draw(st.booleans()),
            "contextWindow": context,
            "maxOutputTokens": draw(st.integers(1, context)),
            "pricing": {"input": draw(st.floats(0, 20)), "output": draw(st.floats(0, 80))},
            "certifications": draw(subset(CERTS, 2)),
        }
        if tiers and draw(st.booleans()):
            spec["tier"] = draw(names(tiers))
        docs.append(doc("Model", m, spec))
    for c in classes:
        allow = {
            "jurisdictions": draw(subset(JURISDICTIONS, 3)),
            "hosting": draw(subset(HOSTING, 2)),
            "certifications": draw(subset(CERTS, 2)),
            "openWeightOnly": draw(st.booleans()),
        }
        docs.append(doc("Classification", c, {"allow": allow}))
    default = draw(st.sampled_from([None, *intents]))
    for i in intents:
        spec = {
            "requires": draw(subset(CAPABILITIES, 2)),
            "default": i == default,
            "detect": {
                "keywords": [f"kw-{i}"],
                "regex": draw(st.sampled_from([[], [rf"\bre-{i}\b"]])),
                "languages": draw(subset(LANGUAGES, 2)),
            },
        }
        docs.append(doc("Intent", i, spec))
    for r in routes:
        strategy = draw(names(["priority", "cheapest", "weighted"]))
        target = st.one_of(
            names(model_refs).map(lambda m: {"model": m}),
            names(tiers or ["no-tier"]).map(lambda t: {"tier": t}),
        )
        targets = draw(st.lists(target, min_size=1, max_size=3))
        if strategy == "weighted":
            for t in targets:
                t["weight"] = draw(st.integers(0, 100))
        spec = {
            "order": draw(st.integers(0, 3)),
            "match": {
                "intents": draw(subset(intents, 2)),
                "classifications": draw(subset(classes, 2)),
                "languages": draw(subset(LANGUAGES, 1)),
            },
            "strategy": strategy,
            "targets": targets,
            "fallback": {
                "chain": draw(st.lists(names(model_refs), max_size=3)),
                "on": draw(subset(TRIGGERS, 3)),
            },
            "shadows": [
                {"model": m, "percent": draw(st.floats(0.5, 100))}
                for m in draw(subset(model_refs, 2))
            ],
            "constraints": {
                "maxCostPerRequest": draw(st.one_of(st.none(), st.floats(0.001, 1))),
                "requires": draw(subset(CAPABILITIES, 1)),
            },
            "stickyBy": draw(names(["consumer", "session", "request_id"])),
        }
        docs.append(doc("Route", r, spec))
    for e in range(draw(st.integers(0, 2))):
        spec = {
            "route": draw(names(routes)),
            "candidate": draw(names(model_refs)),
            "percent": draw(st.floats(0.5, 100)),
            "mode": draw(names(["live", "shadow"])),
            "stickyBy": draw(names(["consumer", "session", "request_id"])),
        }
        docs.append(doc("Experiment", f"e{e}", spec))
    for u in consumers:
        spec = {
            "apiKey": "env:CONSUMER_KEY",
            "team": draw(names(["a", "b"])),
            "allow": {"classifications": draw(subset(classes, 2))},
        }
        docs.append(doc("Consumer", u, spec))
    return docs


@st.composite
def requests(draw: st.DrawFn, docs: list[dict[str, Any]]) -> Request:
    def defined(kind: str) -> list[str]:
        return [d["metadata"]["name"] for d in docs if d["kind"] == kind]

    intent = draw(st.sampled_from([None, "unknown-intent", *defined("Intent")]))
    return Request(
        intent=intent,
        classification=draw(st.sampled_from([None, "bogus", *defined("Classification")])),
        language=draw(st.sampled_from([None, *LANGUAGES])),
        consumer=draw(st.sampled_from([None, *defined("Consumer")])),
        input_tokens=draw(st.integers(0, 200_000)),
        output_tokens=draw(st.integers(0, 20_000)),
        request_id=draw(st.text(max_size=8)),
        session=draw(st.one_of(st.none(), st.text(max_size=4))),
        prompt=draw(st.sampled_from([None, "", "please KW-i0", "kw-i1 and kw-i2", "re-i1", "x"])),
        requires=frozenset(draw(subset(CAPABILITIES, 1))),
        model=draw(st.sampled_from([None, None, "auto", "ghost", *defined("Model")])),
    )


def within(jurisdiction: str, code: str) -> bool:
    if jurisdiction == code:
        return True
    if code not in REGIONS:
        return False  # a region never satisfies a single-country allow-list
    return (REGIONS.get(jurisdiction) or {jurisdiction}) <= REGIONS[code]


def allowed_models(docs: list[dict[str, Any]], classification: str | None) -> set[str]:
    """The models ``classification`` may reach, from the raw documents alone."""
    providers = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Provider"}
    rules = {
        d["metadata"]["name"]: d["spec"]["allow"] for d in docs if d["kind"] == "Classification"
    }

    def permits(allow: dict[str, Any], model: dict[str, Any]) -> bool:
        provider = providers[model["provider"]]
        certs = set(model["certifications"]) | set(provider["certifications"])
        return (
            (
                not allow["jurisdictions"]
                or any(within(provider["jurisdiction"], c) for c in allow["jurisdictions"])
            )
            and (not allow["hosting"] or provider["hosting"] in allow["hosting"])
            and set(allow["certifications"]) <= certs
            and (not allow["openWeightOnly"] or model["openWeight"])
        )

    active = [rules[classification]] if classification in rules else list(rules.values())
    return {
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Model" and all(permits(allow, d["spec"]) for allow in active)
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_path_reaches_a_model_the_classification_forbids(data):
    docs = data.draw(policies())
    policy = resolve(parse_document(d) for d in docs)
    fresh = resolve(parse_document(d) for d in docs)
    for request in data.draw(st.lists(requests(docs), min_size=1, max_size=8)):
        allowed = allowed_models(docs, request.classification)
        route_plan = plan(policy, request)
        assert reachable(route_plan) <= allowed, (request, route_plan)
        decision = decide(policy, request)
        assert set(decision.all_targets()) <= allowed

        # deterministic, also with a policy resolved afresh (empty memo)
        assert decide(policy, request) == decision
        assert decide(fresh, request) == decision

        # the memoised planner is the full planner
        full = _plan_uncached(policy, request)
        assert route_plan == full
        assert decision == choose(full, request)

        if decision.routable:
            model = policy.models[decision.primary]
            assert request.input_tokens + request.output_tokens <= model.context_window
            assert request.requires <= model.capabilities
            if request.model not in (None, "auto"):
                # a pinned model is the only one tried: never silently another
                assert decision.chain() == (request.model,)


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_every_trace_renders(data):
    """The trace is formatted lazily; reading it must never fail."""
    docs = data.draw(policies())
    policy = resolve(parse_document(d) for d in docs)
    for request in data.draw(st.lists(requests(docs), min_size=1, max_size=4)):
        decision = decide(policy, request)
        assert all(isinstance(step.detail, str) for step in decision.trace)
        assert decision.routable == (decision.unroutable_reason is None)


def expected_intent(docs: list[dict[str, Any]], request: Request) -> tuple[str | None, str]:
    """Intent rules as documented: explicit, then per intent in order keyword/regex/language."""
    import re

    intents = [d for d in docs if d["kind"] == "Intent"]
    if request.intent:
        known = any(d["metadata"]["name"] == request.intent for d in intents)
        return request.intent, "intent.explicit" if known else "intent.unknown"
    prompt = (request.prompt or "").lower()
    for d in intents:
        detect, name = d["spec"]["detect"], d["metadata"]["name"]
        if prompt and any(k.lower() in prompt for k in detect["keywords"]):
            return name, "intent.keyword"
        if prompt and any(re.search(p, prompt, re.IGNORECASE) for p in detect["regex"]):
            return name, "intent.regex"
        if request.language and request.language in detect["languages"]:
            return name, "intent.language"
    default = next((d["metadata"]["name"] for d in intents if d["spec"]["default"]), None)
    return (default, "intent.default") if default else (None, "intent.none")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_intent_detection_follows_the_documented_order(data):
    docs = data.draw(policies())
    policy = resolve(parse_document(d) for d in docs)
    for request in data.draw(st.lists(requests(docs), min_size=1, max_size=8)):
        assert detect_intent(policy, request) == expected_intent(docs, request)
