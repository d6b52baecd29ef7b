"""The shared base of the compile targets: features, support levels, lanes.

A target is one module (see :mod:`routectl.compile.targets`) that declares a
feature table (how well it expresses each policy feature) and lowers a
:class:`Lowering`. The lowering is worked out once, here, by asking the core
evaluator: for every (intent, classification) a request can carry it plans the
request and keeps what the route decided (arms with their shares, fallback
chains already filtered by classification, capabilities and static
constraints, failover triggers). Targets never re-derive routing; they only
spell lanes in their own configuration language.

A *lane* is one distinct routing outcome: a route as seen by one
classification (and, when an intent's required capabilities change the
candidates, one intent). Gateways select a lane from the request's
``x-routectl-intent`` and ``x-routectl-classification`` (missing or unknown
classification: the strictest lane, as the core does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from routectl.core.evaluator import plan
from routectl.core.failover import DEFAULT_TRIGGERS, FallbackTrigger
from routectl.core.filters import FILTERS, Scope
from routectl.core.policy import Policy
from routectl.core.request import Request
from routectl.core.strategies import STRATEGIES, strategy_of
from routectl.loader.yaml_source import Location, SourceDocument

INTENT_HEADER = "x-routectl-intent"
CLASSIFICATION_HEADER = "x-routectl-classification"
LANE_HEADER = "x-routectl-lane"
# The lane name part for a missing or unknown classification.
UNCLASSIFIED = "unclassified"


class Support(StrEnum):
    exact = "exact"
    approximate = "approximate"
    unsupported = "unsupported"


def _features() -> dict[str, str]:
    """The policy features a target must take a position on, and what each means.

    Strategies, failover triggers and token-dependent filters come from the
    core's registries (``core/strategies.py``, ``core/failover.py``,
    ``core/filters.py``): a strategy or filter declared there is a feature every
    target must state its support for. Static filters (classification,
    capabilities, the route's minimum context window) need no entry: the core
    applies them when it builds the lanes, for every target alike.
    """
    out = {
        "match.intents": "routes selected by the request's intent",
        "match.classifications": "routes selected by data classification (allowed models only)",
        "match.languages": "routes selected by the request's language",
        "match.consumers": "routes selected by the calling consumer",
        "match.teams": "routes selected by the caller's team",
        "match.metadata": "routes selected by request metadata",
        "intent.detection": "intent detected from the prompt (keywords, patterns, language)",
        "intent.unknown": "an unknown intent routed unlike a missing one (which gets the default)",
    }
    for strategy in STRATEGIES.values():
        kind = "a weighted draw between targets" if strategy.draws else "targets in order"
        out[f"strategy.{strategy.name}"] = f"the {strategy.name} strategy ({kind})"
        if strategy.token_dependent:
            out[f"strategy.{strategy.name}.token-dependent"] = (
                f"a {strategy.name} order that changes with the input:output token mix"
            )
    out["fallback.chain"] = "ordered fallback chain, per arm"
    for trigger in FallbackTrigger:
        out[f"fallback.on.{trigger.value}"] = f"fail over on {trigger.value}"
    out["fallback.on.subset"] = "failover on only some of the default triggers"
    for flt in FILTERS:
        if flt.token_dependent:
            out[f"filter.{flt.name}"] = f"the {flt.name} filter, checked per request's tokens"
    out.update(
        {
            "model.languages": "models filtered by the request's language",
            "stickyBy.consumer": "weighted or experiment draws sticky by consumer",
            "stickyBy.session": "weighted or experiment draws sticky by session",
            "shadows": "shadow copies of a route's traffic",
            "experiment.live": "live A/B split to a candidate model",
            "experiment.shadow": "shadow experiment to a candidate model",
            "consumer.access": "consumer keys and their allowed intents and classifications",
            "consumer.budget": "consumer budgets (USD per period, with thresholds)",
            "team.budget": "team budgets shared by the team's consumers",
            "consumer.rateLimits": "per-consumer rpm/tpm limits across every model",
            "match.requestSize": "routes selected by input, requested output or total tokens",
            "match.budget": "routes selected by the share of the consumer's budget used",
            "rateLimits": "provider and model rpm/tpm limits",
            "provider.timeout": "per-provider request timeout",
            "provider.credentials.file": "provider API keys read from a file (file:PATH)",
        }
    )
    return out


FEATURES: dict[str, str] = _features()


@dataclass(frozen=True)
class Level:
    support: Support
    note: str = ""


def exact(note: str = "") -> Level:
    return Level(Support.exact, note)


def approximate(note: str) -> Level:
    return Level(Support.approximate, note)


def unsupported(note: str) -> Level:
    return Level(Support.unsupported, note)


@dataclass(frozen=True)
class Usage:
    """One place a policy uses a feature."""

    feature: str
    location: Location
    subject: str  # "Route lightweight"


@dataclass(frozen=True)
class Finding:
    usage: Usage
    target: str
    level: Level

    @property
    def is_error(self) -> bool:
        return self.level.support is Support.unsupported

    def message(self) -> str:
        what = (
            "cannot express" if self.level.support is Support.unsupported else "only approximates"
        )
        return (
            f"{self.usage.location}: {self.target} {what} {self.usage.feature} "
            f"({self.usage.subject}): {self.level.note}"
        )

    def as_dict(self) -> dict[str, Any]:
        loc = self.usage.location
        return {
            "file": loc.file,
            "line": loc.line,
            "col": loc.col,
            "feature": self.usage.feature,
            "target": self.target,
            "support": self.level.support.value,
            "subject": self.usage.subject,
            "note": self.level.note,
        }


# --------------------------------------------------------------------------- feature use


def _located(doc: SourceDocument, feature: str, *path: str | int) -> Usage:
    return Usage(feature, doc.locate(*path), f"{doc.kind} {doc.name}")


def _order_depends_on_tokens(policy: Policy, route_name: str) -> bool:
    """True when the route's strategy ranks two candidates differently for input-heavy and
    output-heavy requests (its rank is a linear form in the token counts)."""
    route = next(r for r in policy.routes if r.name == route_name)
    strategy = strategy_of(route.strategy)
    names = {m for group in route.targets for m in group.models}
    models = [policy.models[n] for n in sorted(names)]
    by_input = strategy.ranked(models, 1_000_000, 0)
    by_output = strategy.ranked(models, 0, 1_000_000)
    return [m.name for m in by_input] != [m.name for m in by_output]


def used_features(documents: Iterable[SourceDocument], policy: Policy) -> list[Usage]:
    """Every feature the policy uses, where (file:line:col), in document order."""
    out: list[Usage] = []
    for doc in documents:
        spec = doc.doc.spec
        kind = doc.kind
        if kind == "Intent":
            detect = spec.detect
            if detect.keywords or detect.regex or detect.languages:
                out.append(_located(doc, "intent.detection", "spec", "detect"))
            if spec.default and _unknown_unlike_missing(policy):
                out.append(_located(doc, "intent.unknown", "spec", "default"))
        elif kind == "Route":
            out.extend(_route_features(doc, policy))
        elif kind == "Experiment" and spec.enabled:
            out.append(_located(doc, f"experiment.{spec.mode}", "spec", "mode"))
            if spec.mode == "live" and spec.sticky_by != "request_id":
                out.append(_located(doc, f"stickyBy.{spec.sticky_by}", "spec", "stickyBy"))
        elif kind == "Consumer":
            if spec.allow.intents or spec.allow.classifications:
                out.append(_located(doc, "consumer.access", "spec", "allow"))
            if spec.budget is not None:
                out.append(_located(doc, "consumer.budget", "spec", "budget"))
            limits = spec.rate_limits
            if limits.rpm is not None or limits.tpm is not None:
                out.append(_located(doc, "consumer.rateLimits", "spec", "rateLimits"))
        elif kind == "Team":
            if spec.budget is not None:
                out.append(_located(doc, "team.budget", "spec", "budget"))
        elif kind in ("Provider", "Model"):
            limits = spec.rate_limits
            if limits.rpm is not None or limits.tpm is not None:
                out.append(_located(doc, "rateLimits", "spec", "rateLimits"))
            if kind == "Provider" and (spec.credentials.api_key or "").startswith("file:"):
                out.append(_located(doc, "provider.credentials.file", "spec", "credentials"))
            if kind == "Provider" and "timeout_seconds" in spec.model_fields_set:
                out.append(_located(doc, "provider.timeout", "spec", "timeoutSeconds"))
            if kind == "Model" and spec.languages:
                out.append(_located(doc, "model.languages", "spec", "languages"))
    return out


# Not a valid Intent name (names are lowercase): stands for any intent the policy lacks.
_UNKNOWN_INTENT = "?"


def _unknown_unlike_missing(policy: Policy) -> bool:
    """Whether some classification routes an unknown intent unlike a missing one.

    Lanes are selected with unknown intents folded into missing ones (a missing
    intent gets the default intent; an unknown one matches only routes that
    name no intent). When the two differ, targets only approximate it.
    """
    for classification in [*policy.classifications, None]:
        missing = plan(policy, Request(intent=None, classification=classification))
        unknown = plan(policy, Request(intent=_UNKNOWN_INTENT, classification=classification))
        if (missing.route, missing.arms, missing.unroutable_reason) != (
            unknown.route,
            unknown.arms,
            unknown.unroutable_reason,
        ):
            return True
    return False


_DEFAULT_TRIGGER_NAMES = frozenset(t.value for t in DEFAULT_TRIGGERS)


def _route_features(doc: SourceDocument, policy: Policy) -> Iterator[Usage]:
    spec = doc.doc.spec
    match = spec.match
    for name in ("intents", "classifications", "languages", "consumers", "teams", "metadata"):
        if getattr(match, name):
            yield _located(doc, f"match.{name}", "spec", "match", name)
    for name, key in (("input_tokens", "inputTokens"), ("max_tokens", "maxTokens")):
        if getattr(match, name) is not None:
            yield _located(doc, "match.requestSize", "spec", "match", key)
    if match.total_tokens is not None:
        yield _located(doc, "match.requestSize", "spec", "match", "totalTokens")
    if match.budget is not None:
        yield _located(doc, "match.budget", "spec", "match", "budget")
    strategy = strategy_of(spec.strategy)
    yield _located(doc, f"strategy.{strategy.name}", "spec", "strategy")
    if strategy.token_dependent and _order_depends_on_tokens(policy, doc.name):
        yield _located(doc, f"strategy.{strategy.name}.token-dependent", "spec", "strategy")
    if strategy.draws and spec.sticky_by != "request_id":
        yield _located(doc, f"stickyBy.{spec.sticky_by}", "spec", "stickyBy")
    several = len(spec.targets) > 1 or bool(spec.fallback.chain)
    if spec.fallback.chain:
        yield _located(doc, "fallback.chain", "spec", "fallback", "chain")
    if several:
        for trigger in spec.fallback.on:
            yield _located(doc, f"fallback.on.{trigger.value}", "spec", "fallback")
        if not {t.value for t in spec.fallback.on} >= _DEFAULT_TRIGGER_NAMES:
            yield _located(doc, "fallback.on.subset", "spec", "fallback")
    if spec.shadows:
        yield _located(doc, "shadows", "spec", "shadows")
    yield from _bounded_filters(doc, policy)


def _bounded_filters(doc: SourceDocument, policy: Policy) -> Iterator[Usage]:
    """Token-dependent filters that bound some candidate of the route (lanes are built
    without token counts, so a target must check these per request or approximate)."""
    route = next((r for r in policy.routes if r.name == doc.name), None)
    if route is None:
        return
    names = {m for group in route.targets for m in group.models} | set(route.fallback_chain)
    scope = Scope(policy, route, None, frozenset(), frozenset(), None)
    for flt in FILTERS:
        if flt.bound is None:
            continue
        if any(flt.bound(policy.models[n], scope) is not None for n in sorted(names)):
            yield _located(doc, f"filter.{flt.name}", "spec")


# --------------------------------------------------------------------------- lanes


@dataclass(frozen=True)
class LaneArm:
    """One way a lane sends a request: a primary, its share, then its fallbacks."""

    label: str  # "primary", a model name for weighted arms, "candidate"
    fraction: float
    chain: tuple[str, ...]  # primary first

    @property
    def primary(self) -> str:
        return self.chain[0]


@dataclass(frozen=True)
class Lane:
    name: str
    route: str
    classification: str | None
    arms: tuple[LaneArm, ...]
    triggers: frozenset[str]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for arm in self.arms for m in arm.chain))


@dataclass(frozen=True)
class Selector:
    """Requests with this intent and classification go to ``lane`` (None: unroutable)."""

    intent: str | None  # None: the request names no intent
    classification: str | None  # None: missing or unknown
    lane: str | None
    reason: str | None = None


@dataclass
class Lowering:
    policy: Policy
    lanes: dict[str, Lane]
    selectors: list[Selector]
    models: tuple[str, ...] = field(default=())

    def lane_for(self, intent: str | None, classification: str | None) -> str | None:
        """The lane a gateway selects for these header values (the compiled table's rule)."""
        policy = self.policy
        if classification not in policy.classifications:
            classification = None
        if intent is not None and intent not in policy.intents:
            intent = None
        for selector in self.selectors:
            if selector.intent == intent and selector.classification == classification:
                return selector.lane
        return None


def lane_arms(route_plan: Any) -> tuple[LaneArm, ...]:
    """A plan's arms, the live experiment folded in as one more weighted arm."""
    experiment = route_plan.experiment
    rest = 1.0 - (experiment.fraction if experiment is not None else 0.0)
    arms = [LaneArm(a.label, a.fraction * rest, (a.primary, *a.fallbacks)) for a in route_plan.arms]
    if experiment is not None:
        arms.append(
            LaneArm("candidate", experiment.fraction, (experiment.primary, *experiment.fallbacks))
        )
    return tuple(arms)


def lower(policy: Policy) -> Lowering:
    """Lanes and the selector table, decided by the core evaluator.

    Each request is planned without tokens, language, consumer or metadata:
    what depends on those is a feature (see :data:`FEATURES`) that a target
    must declare, never silently dropped.
    """
    intents: list[str | None] = [*sorted(policy.intents), None]
    classes: list[str | None] = [*sorted(policy.classifications), None]
    lanes: dict[str, Lane] = {}
    by_key: dict[tuple[Any, ...], str] = {}
    selectors: list[Selector] = []
    for classification in classes:
        for intent in intents:
            route_plan = plan(policy, Request(intent=intent, classification=classification))
            if not route_plan.routable or route_plan.route is None:
                selectors.append(
                    Selector(intent, classification, None, route_plan.unroutable_reason)
                )
                continue
            arms = lane_arms(route_plan)
            key = (route_plan.route, classification, arms, route_plan.triggers)
            name = by_key.get(key)
            if name is None:
                name = f"{route_plan.route}.{classification or UNCLASSIFIED}"
                if name in lanes:
                    name = f"{name}.{intent or 'default'}"
                by_key[key] = name
                lanes[name] = Lane(
                    name, route_plan.route, classification, arms, route_plan.triggers
                )
            selectors.append(Selector(intent, classification, name))
    models = tuple(sorted({m for lane in lanes.values() for m in lane.models}))
    return Lowering(policy, lanes, selectors, models)


def by_specificity(selectors: list[Selector]) -> list[tuple[int, Selector]]:
    """Selectors as header matches, most specific first, with how many headers each names.

    Gateways that match headers (Kong, Envoy AI Gateway) give the most specific
    match precedence: a request naming a known intent and classification meets
    its exact pair; an unknown or missing one falls to the pair that leaves it out.
    """
    ranked = [(int(s.intent is not None) + int(s.classification is not None), s) for s in selectors]
    return sorted(ranked, key=lambda item: -item[0])


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]
