"""Resolve validated documents into a policy the evaluator can run fast.

Resolution does the work that does not depend on a request once: joins models
to their providers and tiers, expands tier targets, sorts routes, and computes
for every data classification the set of models it may reach. Dangling
references are dropped here (a target naming an unknown model can never be
chosen), and reported by lint's RT001 rule; resolution itself never fails.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from routectl.core import manifest as m
from routectl.core.budgets import BudgetInfo, budget_info
from routectl.core.detect import EncoderInfo, IntentDetector, SemanticGroup, SemanticIntent
from routectl.core.regions import satisfies
from routectl.core.strategies import STRATEGIES
from routectl.core.tokens import INPUT_TOKENS, OUTPUT_TOKENS, TOTAL_TOKENS, Bound, Linear, within


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    provider: str
    upstream_model: str
    tier: str | None
    tier_rank: int
    capabilities: frozenset[str]
    languages: frozenset[str]
    open_weight: bool
    context_window: int
    max_output_tokens: int
    price_input: float  # USD per 1M tokens
    price_output: float
    price_cached_input: float | None
    ttft_ms: float | None
    output_tokens_per_second: float | None
    jurisdiction: str
    hosting: str
    certifications: frozenset[str]  # the model's and its provider's
    rpm: int | None
    tpm: int | None
    # (intent or None for "any other intent", score, source, date), from the user's evals
    quality: tuple[tuple[str | None, float, str, str], ...] = ()
    # the cost as a linear form in tokens (routectl.core.tokens), made once per model
    cost_form: Linear = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "cost_form", Linear(self.price_input, self.price_output, 1_000_000)
        )

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.price_input + output_tokens * self.price_output) / 1_000_000

    def quality_for(self, intent: str | None) -> tuple[float, str, str] | None:
        """(score, source, date) for ``intent``: its own score, else the model's general one."""
        general = None
        for name, score, source, date in self.quality:
            if name is not None and name == intent:
                return score, source, date
            if name is None:
                general = (score, source, date)
        return general

    def latency_ms(self, output_tokens: int) -> float | None:
        if self.ttft_ms is None or not self.output_tokens_per_second:
            return None
        return self.ttft_ms + 1000.0 * output_tokens / self.output_tokens_per_second


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    type: str
    base_url: str
    jurisdiction: str
    hosting: str
    certifications: frozenset[str]
    api_key_ref: str | None
    header_refs: tuple[tuple[str, str], ...]
    rpm: int | None
    tpm: int | None
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class ClassificationInfo:
    name: str
    jurisdictions: frozenset[str]
    hosting: frozenset[str]
    certifications: frozenset[str]
    open_weight_only: bool

    def allows(self, model: ModelInfo) -> str | None:
        """None when allowed, else why not."""
        if self.jurisdictions and not satisfies(model.jurisdiction, self.jurisdictions):
            return (
                f"jurisdiction {model.jurisdiction} not in {', '.join(sorted(self.jurisdictions))}"
            )
        if self.hosting and model.hosting not in self.hosting:
            return f"hosting {model.hosting} not in {', '.join(sorted(self.hosting))}"
        missing = self.certifications - model.certifications
        if missing:
            return f"missing certification {', '.join(sorted(missing))}"
        if self.open_weight_only and not model.open_weight:
            return "not an open-weight model"
        return None


@dataclass(frozen=True, slots=True)
class IntentInfo:
    name: str
    requires: frozenset[str]
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    languages: frozenset[str]
    default: bool


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """A route target: one model, or a tier's models cheapest first."""

    label: str
    models: tuple[str, ...]
    weight: int | None


@dataclass(frozen=True, slots=True)
class ExperimentInfo:
    name: str
    route: str
    candidate: str
    fraction: float
    mode: str
    sticky_by: str


@dataclass(frozen=True, slots=True)
class AnswerChecksInfo:
    """A cascade's answer checks; evaluated by the gateway on each step's answer."""

    truncated: bool
    refusal: tuple[re.Pattern[str], ...]
    json: bool
    json_schema: str | None  # a JSON Schema document, as canonical JSON text (hashable)
    judge_model: str | None
    judge_threshold: float | None


@dataclass(frozen=True, slots=True)
class CascadeInfo:
    checks: AnswerChecksInfo
    escalation_rates: tuple[tuple[str, float], ...]  # declared, for simulate


@dataclass(frozen=True, slots=True)
class RouteInfo:
    name: str
    order: int
    position: int  # index in the evaluation order
    intents: frozenset[str]
    classifications: frozenset[str]
    languages: frozenset[str]
    consumers: frozenset[str]
    teams: frozenset[str]
    metadata: tuple[tuple[str, str], ...]
    strategy: str
    targets: tuple[TargetGroup, ...]
    fallback_chain: tuple[str, ...]
    triggers: frozenset[str]
    shadows: tuple[tuple[str, float], ...]  # (model, fraction)
    max_cost_per_request: float | None
    min_context_window: int | None
    requires: frozenset[str]
    sticky_by: str
    experiments: tuple[ExperimentInfo, ...] = ()
    # request size (inputTokens, maxTokens, totalTokens): the route matches where all hold
    size: tuple[Bound, ...] = ()
    # budget state: used share strictly above / at most (fractions); None: any
    budget_above: float | None = None
    budget_at_most: float | None = None
    downgraded_to: str | None = None  # a tier, when this is a route's downgraded copy
    # every model the route may serve: members of its targets and its fallbacks
    candidates: frozenset[str] = frozenset()
    cascade: CascadeInfo | None = None
    quality_bar: float | None = None  # strategy cheapest-above


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    name: str
    team: str | None
    api_key_ref: str | None
    anonymous: bool
    intents: frozenset[str]
    classifications: frozenset[str]
    budgets: tuple[BudgetInfo, ...] = ()  # its own, then its team's
    rpm: int | None = None
    tpm: int | None = None
    intent_source: str = "declared"  # "detected": the request's own intent is not trusted


@dataclass
class Policy:
    providers: dict[str, ProviderInfo]
    models: dict[str, ModelInfo]
    classifications: dict[str, ClassificationInfo]
    intents: dict[str, IntentInfo]
    tiers: dict[str, int]
    routes: tuple[RouteInfo, ...]
    experiments: dict[str, ExperimentInfo]
    consumers: dict[str, ConsumerInfo]
    default_intent: str | None
    teams: dict[str, BudgetInfo | None] = field(default_factory=dict)  # team -> its budget
    # what a client may put in a request's ``model``: every model's name and its aliases
    model_names: dict[str, str] = field(default_factory=dict)
    # classification name (None: unknown/missing = strictest) -> models it may reach
    allowed: dict[str | None, frozenset[str]] = field(default_factory=dict)
    _route_index: dict[tuple[str | None, str | None], tuple[RouteInfo, ...]] = field(
        default_factory=dict, repr=False
    )
    # language -> the first intent (in detection order) whose detection names it
    intent_by_language: dict[str, str] = field(default_factory=dict, repr=False)
    _intent_index: dict[str | None, tuple[RouteInfo, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # routectl.core.plancache: token-independent route facts and the plans built from them
    _plan_cache: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False, compare=False)
    _downgrades: dict[tuple[str, str], RouteInfo] = field(
        default_factory=dict, repr=False, compare=False
    )
    # Intents with examples, grouped by encoder; the detector an edge built for them
    # (routectl.detect.attach). Without a detector the examples are not consulted.
    semantic: tuple[SemanticGroup, ...] = ()
    detector: IntentDetector | None = field(default=None, repr=False, compare=False)

    @property
    def budgets(self) -> dict[str, BudgetInfo]:
        """Every budget by key (``consumer/app``, ``team/web``)."""
        out = {b.key: b for c in self.consumers.values() for b in c.budgets}
        out.update((b.key, b) for b in self.teams.values() if b is not None)
        return out

    def route_named(self, name: str) -> RouteInfo | None:
        return self.routes_by_name.get(name)

    def downgraded(self, route: RouteInfo, tier: str) -> RouteInfo:
        """``route`` served from ``tier``: its targets become the tier's models, ranked by
        the request's cost (``cheapest``: the rest of the tier follows as fallbacks). Its
        own fallbacks, shadows and experiments stay; the ``budget`` filter
        (routectl.core.filters) refuses those dearer than the tier."""
        key = (route.name, tier)
        hit = self._downgrades.get(key)
        if hit is None:
            members = tier_models(tier, self.models)
            hit = self._downgrades[key] = dataclasses.replace(
                route,
                position=len(self.routes) + len(self._downgrades),
                strategy="cheapest",
                targets=(TargetGroup(f"tier:{tier}", members, None),),
                candidates=frozenset(members) | frozenset(route.fallback_chain),
                downgraded_to=tier,
            )
        return hit

    @functools.cached_property
    def routes_by_name(self) -> dict[str, RouteInfo]:
        return {route.name: route for route in self.routes}

    def allowed_models(self, classification: str | None) -> frozenset[str]:
        key = classification if classification in self.classifications else None
        return self.allowed[key]

    def routes_for(self, intent: str | None, classification: str | None) -> tuple[RouteInfo, ...]:
        """Routes whose intent and classification match, in order (memoised)."""
        key = (intent, classification)
        hit = self._route_index.get(key)
        if hit is None:
            hit = tuple(
                r
                for r in self._routes_for_intent(intent)
                if not r.classifications or classification in r.classifications
            )
            self._route_index[key] = hit
        return hit

    def _routes_for_intent(self, intent: str | None) -> tuple[RouteInfo, ...]:
        # Indexed by intent once, so that a new (intent, class) pair does not scan every route.
        index = self._intent_index
        if not index:
            index[None] = tuple(r for r in self.routes if not r.intents)
            named: dict[str | None, list[RouteInfo]] = {}
            for route in self.routes:
                for name in route.intents:
                    named.setdefault(name, []).append(route)
            for name, routes in named.items():
                merged = sorted([*routes, *index[None]], key=lambda r: r.position)
                index[name] = tuple(merged)
        return index.get(intent, index[None])

    def why_forbidden(self, classification: str | None, model: str) -> str | None:
        """Why ``classification`` may not reach ``model`` (None when it may)."""
        info = self.models[model]
        if classification in self.classifications:
            return self.classifications[classification].allows(info)
        for cls in self.classifications.values():
            reason = cls.allows(info)
            if reason is not None:
                return f"unknown classification is treated as the strictest; {cls.name}: {reason}"
        return None


def blended_price(model: ModelInfo) -> float:
    # A 3:1 input:output blend, the usual way list prices are compared.
    return (3 * model.price_input + model.price_output) / 4


def resolve(documents: Iterable[Any]) -> Policy:
    """Build a :class:`Policy` from document models (first definition of a name wins)."""
    by_kind: dict[str, dict[str, Any]] = {kind: {} for kind in m.KINDS}
    order: list[Any] = []
    for doc in documents:
        bucket = by_kind[doc.kind]
        if doc.metadata.name not in bucket:
            bucket[doc.metadata.name] = doc
            order.append(doc)

    tiers = {name: doc.spec.rank for name, doc in by_kind["Tier"].items()}
    providers = {name: _provider(doc) for name, doc in by_kind["Provider"].items()}
    models = {
        name: _model(doc, providers[doc.spec.provider], tiers)
        for name, doc in by_kind["Model"].items()
        if doc.spec.provider in providers
    }
    classifications = {
        name: _classification(doc) for name, doc in by_kind["Classification"].items()
    }
    # Detection order is declared (priority, then name), never where a document happened to
    # be: a store returns resources by address, files in the order they were written.
    intent_docs = sorted(
        by_kind["Intent"].values(), key=lambda d: (d.spec.priority, d.metadata.name)
    )
    intents = {doc.metadata.name: _intent(doc) for doc in intent_docs}
    default_intent = next((i.name for i in intents.values() if i.default), None)
    intent_by_language: dict[str, str] = {}
    for intent in intents.values():
        for language in sorted(intent.languages):
            intent_by_language.setdefault(language, intent.name)
    experiments = {
        name: ExperimentInfo(
            name,
            doc.spec.route,
            doc.spec.candidate,
            doc.spec.percent / 100.0,
            doc.spec.mode,
            doc.spec.sticky_by,
        )
        for name, doc in by_kind["Experiment"].items()
        if doc.spec.enabled
    }
    route_docs = sorted(
        (doc for doc in order if doc.kind == "Route"),
        key=lambda doc: doc.spec.order,  # stable: ties keep file order
    )
    # Worked out once, not per route: a 5,000-route policy has thousands of tier targets.
    members = {tier: tier_models(tier, models) for tier in {m.tier for m in models.values()}}
    by_route: dict[str, list[ExperimentInfo]] = {}
    for experiment in experiments.values():
        if experiment.candidate in models:
            by_route.setdefault(experiment.route, []).append(experiment)
    routes = tuple(
        _route(doc, position, models, members, by_route) for position, doc in enumerate(route_docs)
    )
    teams = {
        name: budget_info("team", name, doc.spec.budget) if doc.spec.budget else None
        for name, doc in by_kind["Team"].items()
    }
    consumers = {name: _consumer(doc, teams) for name, doc in by_kind["Consumer"].items()}

    allowed: dict[str | None, frozenset[str]] = {
        name: frozenset(n for n, model in models.items() if cls.allows(model) is None)
        for name, cls in classifications.items()
    }
    model_names = {name: name for name in models}
    for name, doc in by_kind["Model"].items():
        if name in models:
            for alias in doc.spec.aliases:
                model_names.setdefault(alias, name)  # a model's own name wins over an alias
    strictest = frozenset(models)
    for names in allowed.values():
        strictest &= names
    allowed[None] = strictest
    return Policy(
        semantic=_semantic_groups(by_kind["Intent"].values()),
        providers=providers,
        models=models,
        classifications=classifications,
        intents=intents,
        tiers=tiers,
        routes=routes,
        experiments=experiments,
        consumers=consumers,
        default_intent=default_intent,
        teams=teams,
        model_names=model_names,
        allowed=allowed,
        intent_by_language=intent_by_language,
    )


def _provider(doc: m.Provider) -> ProviderInfo:
    spec = doc.spec
    return ProviderInfo(
        name=doc.metadata.name,
        type=spec.type.value,
        base_url=spec.base_url,
        jurisdiction=spec.jurisdiction,
        hosting=spec.hosting.value,
        certifications=frozenset(spec.certifications),
        api_key_ref=spec.credentials.api_key,
        header_refs=tuple(sorted(spec.credentials.headers.items())),
        rpm=spec.rate_limits.rpm,
        tpm=spec.rate_limits.tpm,
        timeout_seconds=spec.timeout_seconds,
    )


def _model(doc: m.Model, provider: ProviderInfo, tiers: dict[str, int]) -> ModelInfo:
    spec = doc.spec
    return ModelInfo(
        name=doc.metadata.name,
        provider=provider.name,
        upstream_model=spec.upstream_model,
        tier=spec.tier,
        tier_rank=tiers.get(spec.tier, 1_000_000) if spec.tier else 1_000_000,
        capabilities=frozenset(c.value for c in spec.capabilities),
        languages=frozenset(spec.languages),
        open_weight=spec.open_weight,
        context_window=spec.context_window,
        max_output_tokens=spec.max_output_tokens,
        price_input=spec.pricing.input,
        price_output=spec.pricing.output,
        price_cached_input=spec.pricing.cached_input,
        ttft_ms=spec.latency.ttft_ms if spec.latency else None,
        output_tokens_per_second=spec.latency.output_tokens_per_second if spec.latency else None,
        jurisdiction=provider.jurisdiction,
        hosting=provider.hosting,
        certifications=frozenset(spec.certifications) | provider.certifications,
        rpm=spec.rate_limits.rpm,
        tpm=spec.rate_limits.tpm,
        quality=tuple((q.intent, q.score, q.source, q.date) for q in spec.quality),
    )


def _classification(doc: m.Classification) -> ClassificationInfo:
    allow = doc.spec.allow
    return ClassificationInfo(
        name=doc.metadata.name,
        jurisdictions=frozenset(allow.jurisdictions),
        hosting=frozenset(h.value for h in allow.hosting),
        certifications=frozenset(allow.certifications),
        open_weight_only=allow.open_weight_only,
    )


def _semantic_groups(docs: Iterable[m.Intent]) -> tuple[SemanticGroup, ...]:
    groups: dict[EncoderInfo, list[SemanticIntent]] = {}
    for doc in docs:
        detect = doc.spec.detect
        if not detect.examples:
            continue
        declared = detect.encoder or m.Encoder()
        encoder = EncoderInfo(declared.type.value, declared.provider, declared.model)
        threshold = m.DEFAULT_THRESHOLD if detect.threshold is None else detect.threshold
        groups.setdefault(encoder, []).append(
            SemanticIntent(doc.metadata.name, tuple(detect.examples), threshold)
        )
    return tuple(SemanticGroup(encoder, tuple(intents)) for encoder, intents in groups.items())


def _intent(doc: m.Intent) -> IntentInfo:
    spec = doc.spec
    return IntentInfo(
        name=doc.metadata.name,
        requires=frozenset(c.value for c in spec.requires),
        keywords=tuple(k.lower() for k in spec.detect.keywords),
        patterns=tuple(re.compile(p, re.IGNORECASE) for p in spec.detect.regex),
        languages=frozenset(spec.detect.languages),
        default=spec.default,
    )


def tier_models(tier: str, models: dict[str, ModelInfo]) -> tuple[str, ...]:
    members = [model for model in models.values() if model.tier == tier]
    members.sort(key=lambda model: (blended_price(model), model.name))
    return tuple(model.name for model in members)


def _route(
    doc: m.Route,
    position: int,
    models: dict[str, ModelInfo],
    tier_members: dict[str | None, tuple[str, ...]],
    experiments: dict[str, list[ExperimentInfo]],
) -> RouteInfo:
    spec = doc.spec
    groups: list[TargetGroup] = []
    for target in spec.targets:
        if target.model is not None:
            names: Sequence[str] = (target.model,) if target.model in models else ()
            label = target.model
        else:
            names = tier_members.get(target.tier, ())
            label = f"tier:{target.tier}"
        groups.append(TargetGroup(label, tuple(names), target.weight))
    name = doc.metadata.name
    chain = tuple(n for n in spec.fallback.chain if n in models)
    return RouteInfo(
        name=name,
        order=spec.order,
        position=position,
        intents=frozenset(spec.match.intents),
        classifications=frozenset(spec.match.classifications),
        languages=frozenset(spec.match.languages),
        consumers=frozenset(spec.match.consumers),
        teams=frozenset(spec.match.teams),
        metadata=tuple(sorted(spec.match.metadata.items())),
        strategy=spec.strategy,
        targets=tuple(groups),
        fallback_chain=chain,
        triggers=_trigger_set(tuple(spec.fallback.triggers)),
        shadows=tuple((s.model, s.percent / 100.0) for s in spec.shadows if s.model in models),
        max_cost_per_request=spec.constraints.max_cost_per_request,
        min_context_window=spec.constraints.min_context_window,
        requires=frozenset(c.value for c in spec.constraints.requires),
        sticky_by=spec.sticky_by,
        experiments=tuple(experiments.get(name, ())),
        size=_size_bounds(spec.match),
        budget_above=(
            spec.match.budget.used_above / 100.0
            if spec.match.budget and spec.match.budget.used_above is not None
            else None
        ),
        budget_at_most=(
            spec.match.budget.used_at_most / 100.0
            if spec.match.budget and spec.match.budget.used_at_most is not None
            else None
        ),
        candidates=frozenset(n for group in groups for n in group.models) | frozenset(chain),
        cascade=_cascade(spec.cascade) if STRATEGIES[spec.strategy].escalates else None,
        quality_bar=spec.quality,
    )


def _cascade(cascade: m.Cascade | None) -> CascadeInfo:
    cascade = cascade or m.Cascade()
    checks = cascade.checks
    return CascadeInfo(
        AnswerChecksInfo(
            truncated=checks.truncated,
            refusal=tuple(re.compile(p, re.IGNORECASE) for p in checks.refusal),
            json=checks.json_ or checks.json_schema is not None,
            json_schema=(
                json.dumps(checks.json_schema, sort_keys=True) if checks.json_schema else None
            ),
            judge_model=checks.judge.model if checks.judge else None,
            judge_threshold=checks.judge.threshold if checks.judge else None,
        ),
        tuple(sorted(cascade.escalation_rates.items())),
    )


@functools.cache  # most routes share a handful of trigger lists; Enum.value is slow
def _trigger_set(triggers: tuple[m.FallbackTrigger, ...]) -> frozenset[str]:
    return frozenset(t.value for t in triggers)


def _consumer(doc: m.Consumer, teams: dict[str, BudgetInfo | None]) -> ConsumerInfo:
    spec = doc.spec
    budgets = []
    if spec.budget is not None:
        budgets.append(budget_info("consumer", doc.metadata.name, spec.budget))
    team_budget = teams.get(spec.team) if spec.team else None
    if team_budget is not None:
        budgets.append(team_budget)
    return ConsumerInfo(
        name=doc.metadata.name,
        team=spec.team,
        api_key_ref=spec.api_key,
        anonymous=spec.anonymous,
        intents=frozenset(spec.allow.intents),
        classifications=frozenset(spec.allow.classifications),
        budgets=tuple(budgets),
        rpm=spec.rate_limits.rpm,
        tpm=spec.rate_limits.tpm,
        intent_source=spec.intent_source,
    )


def _size_bounds(match: m.RouteMatch) -> tuple[Bound, ...]:
    bounds: list[Bound] = []
    for form, tokens in (
        (INPUT_TOKENS, match.input_tokens),
        (OUTPUT_TOKENS, match.max_tokens),
        (TOTAL_TOKENS, match.total_tokens),
    ):
        if tokens is not None:
            bounds.extend(within(form, tokens.min, tokens.max))
    return tuple(bounds)
