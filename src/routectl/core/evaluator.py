"""The evaluator: where a request may go (:func:`plan`) and where it goes (:func:`decide`).

Order of work for one request::

    intent  (explicit > keyword/regex/language rules > examples (semantic) > default)
      -> classification (unknown or missing: the strictest, i.e. allowed by every class)
      -> consumer access
      -> first matching route (ascending ``order``)
      -> candidates: targets, fallback chain, experiment candidate, shadows
           each through the same hard filters (routectl.core.filters)
      -> the route's strategy orders or splits them (routectl.core.strategies)
      -> a pinned model (Request.model) replaces the arms, if the route and class allow it
      -> arms with expected fractions (weighted split, live experiment)
      -> decide(): one arm drawn by a sticky hash; shadows drawn likewise

The hard filters run on *every* candidate, so no path (primary, fallback,
experiment arm, shadow) can reach a model the classification forbids. The
module is pure: no I/O, no clock, no randomness but the stable hash.
"""

from __future__ import annotations

from collections.abc import Callable

from routectl.core.bucket import bucket
from routectl.core.detect import IntentMatch
from routectl.core.filters import Refusal, Scope, StaticView, static_view
from routectl.core.plancache import CachedPlan, route_facts
from routectl.core.policy import ConsumerInfo, Policy, RouteInfo
from routectl.core.request import (
    AUTO_MODEL,
    Arm,
    Decision,
    Request,
    RoutePlan,
    ShadowTarget,
    TraceStep,
)
from routectl.core.strategies import STRATEGIES, Group, dedupe

_NO_TRIGGERS: frozenset[str] = frozenset()


_INTENT_TEMPLATES = {
    "intent.explicit": "intent {} (given)",
    "intent.unknown": "intent {} (given, but no Intent defines it)",
    "intent.keyword": "intent {} (keyword)",
    "intent.regex": "intent {} (pattern)",
    "intent.language": "intent {} (language {})",
    "intent.semantic": "intent {} ({}: nearest example {!r}, score {:.3f} >= {:.2f})",
    "intent.default": "intent {} (default)",
    "intent.none": "no intent given, detected or defaulted",
}


def semantic_match(policy: Policy, request: Request) -> IntentMatch | None:
    """The examples' verdict on the prompt: the edge's precomputed one, else the detector's."""
    if request.detected is not None:
        return request.detected
    if policy.detector is None or not request.prompt:
        return None
    return policy.detector.classify(request.prompt)


def needs_semantic(policy: Policy, request: Request) -> bool:
    """Whether detection would ask the examples (no explicit intent, no rule matched)."""
    if not request.prompt or policy.detector is None:
        return False
    if request.intent and not _intent_is_detected_for(policy, request.consumer):
        return False
    return detect_intent(policy, request, semantic=False)[1] in ("intent.default", "intent.none")


_SEMANTIC = ("intent.semantic", "intent.semantic_miss")


def detect_intent(
    policy: Policy, request: Request, semantic: bool = True
) -> tuple[str | None, str]:
    """The request's intent and how it was found (a trace code), without building the trace.

    Order: an explicit intent; then, intent by intent in detection order
    (``priority``, then name), its keywords, regular expressions and language;
    then the examples of every
    intent (semantic detection, :mod:`routectl.core.detect`); then the default.
    A consumer with ``intentSource: detected`` does not get to declare its intent.
    """
    if request.intent and not _intent_is_detected_for(policy, request.consumer):
        return request.intent, (
            "intent.explicit" if request.intent in policy.intents else "intent.unknown"
        )
    if request.prompt:
        prompt = request.prompt.lower()
        language = request.language
        for intent in policy.intents.values():
            if any(k in prompt for k in intent.keywords):
                return intent.name, "intent.keyword"
            if any(p.search(prompt) for p in intent.patterns):
                return intent.name, "intent.regex"
            if language and language in intent.languages:
                return intent.name, "intent.language"
        if semantic and (policy.detector is not None or request.detected is not None):
            match = semantic_match(policy, request)
            if match is not None and match.intent is not None:
                return match.intent, "intent.semantic"
            if match is not None and policy.default_intent:
                return policy.default_intent, "intent.semantic_miss"
    elif request.language:
        # Without a prompt only the language rules can match: the first intent naming it.
        found = policy.intent_by_language.get(request.language)
        if found is not None:
            return found, "intent.language"
    if policy.default_intent:
        return policy.default_intent, "intent.default"
    return None, "intent.none"


def _intent_is_detected_for(policy: Policy, consumer: str | None) -> bool:
    info = policy.consumers.get(consumer) if consumer is not None else None
    return info is not None and info.intent_source == "detected"


_MISS = "intent {} (default; {}: nearest example {!r} of {}, score {:.3f} < {:.2f})"


def resolve_intent(policy: Policy, request: Request) -> tuple[str | None, TraceStep]:
    intent, code = detect_intent(policy, request)
    if code in _SEMANTIC:
        match = semantic_match(policy, request)
        assert match is not None
        if code == "intent.semantic":
            found = (match.encoder, match.example, match.score, match.threshold)
            return intent, TraceStep(code, _INTENT_TEMPLATES[code], (intent, *found))
        missed = (match.encoder, match.example, match.nearest, match.score, match.threshold)
        return intent, TraceStep("intent.default", _MISS, (intent, *missed))
    if code == "intent.language":
        args: tuple[object, ...] = (intent, request.language)
    else:
        args = (intent,) if intent is not None else ()
    return intent, TraceStep(code, _INTENT_TEMPLATES[code], args)


def _unroutable(
    policy_intent: str | None,
    classification: str | None,
    route: str | None,
    trace: list[TraceStep],
    reason: str,
    code: str,
) -> RoutePlan:
    trace.append(TraceStep(code, "{}", (reason,)))
    return RoutePlan(
        intent=policy_intent,
        classification=classification,
        route=route,
        arms=(),
        experiment=None,
        experiment_sticky_by=None,
        route_sticky_by="request_id",
        shadows=(),
        triggers=_NO_TRIGGERS,
        trace=tuple(trace),
        unroutable_reason=reason,
    )


def _route_matches(route: RouteInfo, request: Request, consumer: ConsumerInfo | None) -> bool:
    if route.languages and request.language not in route.languages:
        return False
    for bound in route.size:
        if not bound.holds(request.input_tokens, request.output_tokens):
            return False
    if route.budget_above is not None or route.budget_at_most is not None:
        used = request.budget.used if request.budget is not None else 0.0
        if route.budget_above is not None and not used > route.budget_above:
            return False
        if route.budget_at_most is not None and not used <= route.budget_at_most:
            return False
    if route.consumers and request.consumer not in route.consumers:
        return False
    if route.teams and (consumer is None or consumer.team not in route.teams):
        return False
    if route.metadata:
        metadata = request.metadata
        for key, value in route.metadata:
            if metadata.get(key) != value:
                return False
    return True


def plan(policy: Policy, request: Request) -> RoutePlan:
    """Every target ``request`` may reach, with the share of traffic each gets."""
    return _lookup(policy, request)[0]


def consumer_may_send(policy: Policy, consumer: ConsumerInfo, classification: str | None) -> bool:
    """The consumer's classification rule, read as the fail-closed rule reads data.

    A defined class must be in the consumer's list (an empty list allows any). Data
    with no or an unknown class may be of any class, so -- as routing sends it only
    where every class may go -- the consumer may send it only if it may send every
    class the policy defines.
    """
    if not consumer.classifications:
        return True
    if classification in policy.classifications:
        return classification in consumer.classifications
    return set(policy.classifications) <= consumer.classifications


def _lookup(policy: Policy, request: Request) -> tuple[RoutePlan, CachedPlan | None]:
    """A shared plan when the request fits every allowed candidate, else a fresh one.

    Mirrors the first steps of :func:`_plan_uncached` to find the route; see
    :mod:`routectl.core.plancache` for why the shared plan is exactly the same.
    """
    intent, code = detect_intent(policy, request)
    if code in _SEMANTIC:  # the trace names this prompt's nearest example: not shared
        return _plan_uncached(policy, request), None
    classification = request.classification
    if classification not in policy.classifications:
        classification = None
    if request.budget is not None and request.budget.action is not None:
        return _plan_uncached(policy, request), None  # blocked or downgraded: rare, traced
    consumer = None
    if request.consumer is not None:
        consumer = policy.consumers.get(request.consumer)
        if (
            consumer is None
            or (consumer.intents and intent not in consumer.intents)
            or not consumer_may_send(policy, consumer, request.classification)
            or (consumer.classifications and classification is None)  # traced in the plan
        ):
            return _plan_uncached(policy, request), None
    route = None
    for candidate_route in policy.routes_for(intent, classification):
        if _route_matches(candidate_route, request, consumer):
            route = candidate_route
            break
    if route is None:
        return _plan_uncached(policy, request), None
    facts = route_facts(policy, route, classification, intent, request.language, request.requires)
    if not facts.fits(request.input_tokens, request.output_tokens):
        return _plan_uncached(policy, request, facts.views), None
    # The trace names how the intent was found and, for an unknown class, the raw name.
    key = (
        code,
        request.classification,
        facts.order(request.input_tokens, request.output_tokens),
        request.model,
    )
    cached = facts.plans.get(key)
    if cached is None:
        route_plan = _plan_uncached(policy, request, facts.views)
        fixed = None
        nothing_to_draw = len(route_plan.arms) == 1 and not route_plan.shadows
        if route_plan.routable and nothing_to_draw and route_plan.experiment is None:
            fixed = _decision(route_plan, route_plan.arms[0], ())  # the same for every request
        cached = facts.plans[key] = CachedPlan(route_plan, fixed)
    return cached.plan, cached


def _plan_uncached(
    policy: Policy, request: Request, views: dict[str, StaticView] | None = None
) -> RoutePlan:
    """The full planner. ``views``: what the static filters say of the candidates on the
    request's route, when the plan cache knows it already (and keeps what is added)."""
    trace: list[TraceStep] = []
    intent, step = resolve_intent(policy, request)
    trace.append(step)

    classification = request.classification
    if classification not in policy.classifications:
        classification = None
        if policy.classifications:
            trace.append(
                TraceStep(
                    "classification.strictest",
                    "classification {} is not defined: treated as the strictest "
                    "(allowed only where every class is allowed)",
                    (request.classification or "(missing)",),
                )
            )
    else:
        trace.append(TraceStep("classification", "classification {}", (classification,)))

    consumer = None
    if request.consumer is not None:
        consumer = policy.consumers.get(request.consumer)
        if consumer is None:
            return _unroutable(
                intent,
                classification,
                None,
                trace,
                f"unknown consumer {request.consumer}",
                "consumer.unknown",
            )
        if consumer.intents and intent not in consumer.intents:
            return _unroutable(
                intent,
                classification,
                None,
                trace,
                f"consumer {consumer.name} may not use intent {intent}",
                "consumer.intent",
            )
        if not consumer_may_send(policy, consumer, request.classification):
            if classification is None:
                missing = sorted(set(policy.classifications) - consumer.classifications)
                reason = (
                    f"consumer {consumer.name} may not send unclassified data: it could be "
                    f"{', '.join(missing)}, which {consumer.name} may not send"
                )
            else:
                reason = f"consumer {consumer.name} may not send {classification} data"
            return _unroutable(
                intent, classification, None, trace, reason, "consumer.classification"
            )
        if consumer.classifications and classification is None:
            trace.append(
                TraceStep(
                    "consumer.unclassified",
                    "consumer {} may send unclassified data: it may send every class; "
                    "routed as the strictest",
                    (consumer.name,),
                )
            )

    budget = request.budget
    if budget is not None and budget.action == "block":
        return _unroutable(
            intent,
            classification,
            None,
            trace,
            f"budget {budget.budget} is {budget.used:.1%} used of ${budget.amount_usd:g} "
            f"({budget.period}): blocked at {budget.threshold:.0%}",
            "budget.exceeded",
        )

    route = None
    for candidate_route in policy.routes_for(intent, classification):
        if _route_matches(candidate_route, request, consumer):
            route = candidate_route
            break
    if route is None:
        return _unroutable(intent, classification, None, trace, "no route matches", "route.none")
    trace.append(TraceStep("route.match", "route {} (order {})", (route.name, route.order)))
    if budget is not None and budget.action == "downgrade":
        why = (budget.budget, budget.used, budget.threshold)
        if budget.route is not None:
            target_route = policy.route_named(budget.route)
            if target_route is None:
                return _unroutable(
                    intent,
                    classification,
                    route.name,
                    trace,
                    f"budget {budget.budget}: downgrade route {budget.route} is not defined",
                    "budget.downgrade_missing",
                )
            route = target_route
            trace.append(
                TraceStep(
                    "budget.downgrade",
                    "budget {} at {:.1%} (threshold {:.0%}): downgraded to route {}",
                    (*why, route.name),
                )
            )
        elif budget.tier is not None:
            if budget.tier not in policy.tiers:
                return _unroutable(
                    intent,
                    classification,
                    route.name,
                    trace,
                    f"budget {budget.budget}: downgrade tier {budget.tier} is not defined",
                    "budget.downgrade_missing",
                )
            route = policy.downgraded(route, budget.tier)
            trace.append(
                TraceStep(
                    "budget.downgrade",
                    "budget {} at {:.1%} (threshold {:.0%}): downgraded to tier {}",
                    (*why, budget.tier),
                )
            )

    requires = route.requires | request.requires
    intent_info = policy.intents.get(intent) if intent else None
    if intent_info is not None:
        requires = requires | intent_info.requires
    scope = Scope(
        policy,
        route,
        classification,
        policy.allowed_models(classification),
        requires,
        request.language,
        budget=request.budget,
        intent=intent,
    )
    verdicts: dict[str, Refusal | None] = {}
    if views is None:
        views = {}

    def eligible(name: str) -> bool:
        if name not in verdicts:
            view = views.get(name)
            if view is None:
                view = views[name] = static_view(policy.models[name], scope)
            refusal = view.reject(request.input_tokens, request.output_tokens)
            if refusal is not None:
                trace.append(TraceStep("filter", refusal.filter.template, refusal.args, name))
            verdicts[name] = refusal
        return verdicts[name] is None

    strategy = STRATEGIES[route.strategy]
    groups: list[Group] = []
    for target in route.targets:
        members = []
        for name in target.models:
            if eligible(name):
                members.append(policy.models[name])
                if not strategy.whole_groups:
                    break  # the first eligible model serves the target
        if members:
            groups.append(Group(tuple(members), target.weight))
    chain = [name for name in route.fallback_chain if eligible(name)]

    pinned = None
    if request.model is not None and request.model != AUTO_MODEL:
        pinned = policy.model_names.get(request.model)
        refused = _pin_refusal(policy, route, request.model, pinned, eligible, verdicts)
        if refused is not None:
            return _unroutable(intent, classification, route.name, trace, *refused)

    if not groups and not chain:
        return _unroutable(
            intent,
            classification,
            route.name,
            trace,
            f"route {route.name}: no eligible model",
            "route.no_eligible",
        )
    arms, step = strategy.arms(groups, chain, request.input_tokens, request.output_tokens)
    trace.append(step)
    if pinned is not None:
        arms = [Arm("pinned", 1.0, pinned, ())]
        trace.append(
            TraceStep("model.pinned", "model {} asked for: {}", (request.model, pinned), pinned)
        )

    experiment_arm = None
    experiment_sticky = None
    shadows: list[ShadowTarget] = []
    for experiment in route.experiments:
        if not eligible(experiment.candidate):
            trace.append(
                TraceStep(
                    "experiment.skipped",
                    "experiment {}: candidate {} not eligible",
                    (experiment.name, experiment.candidate),
                    experiment.candidate,
                )
            )
            continue
        if experiment.mode == "shadow":
            shadows.append(
                ShadowTarget(
                    experiment.candidate, experiment.fraction, f"experiment:{experiment.name}"
                )
            )
            continue
        if experiment_arm is not None:
            continue  # one live experiment per route; lint reports the overlap
        if pinned is not None:
            trace.append(
                TraceStep(
                    "experiment.pinned",
                    "experiment {}: not drawn, the request asked for model {}",
                    (experiment.name, request.model),
                    experiment.candidate,
                )
            )
            continue
        control = max(arms, key=lambda a: a.fraction)
        experiment_arm = Arm(
            "candidate",
            experiment.fraction,
            experiment.candidate,
            tuple(dedupe([control.primary, *control.fallbacks], exclude=experiment.candidate)),
            experiment.name,
        )
        experiment_sticky = experiment.sticky_by
        trace.append(
            TraceStep(
                "experiment.live",
                "experiment {}: {:.1%} to {} (sticky by {})",
                (experiment.name, experiment.fraction, experiment.candidate, experiment.sticky_by),
                experiment.candidate,
            )
        )
    for model, fraction in route.shadows:
        if eligible(model):
            shadows.append(ShadowTarget(model, fraction, f"route:{route.name}"))
    return RoutePlan(
        intent=intent,
        classification=classification,
        route=route.name,
        arms=tuple(arms),
        experiment=experiment_arm,
        experiment_sticky_by=experiment_sticky,
        route_sticky_by=route.sticky_by,
        shadows=tuple(shadows),
        triggers=route.triggers,
        trace=tuple(trace),
    )


def _pin_refusal(
    policy: Policy,
    route: RouteInfo,
    asked: str,
    pinned: str | None,
    eligible: Callable[[str], bool],
    verdicts: dict[str, Refusal | None],
) -> tuple[str, str] | None:
    """Why the model a request asked for may not serve it (reason, code), or None."""
    if pinned is None:
        return f"unknown model {asked!r}", "model.unknown"
    if pinned not in route.candidates:
        return f"model {asked!r} is not served by route {route.name}", "model.not_allowed"
    if eligible(pinned):
        return None
    refusal = verdicts[pinned]
    assert refusal is not None
    code = "model.not_allowed" if refusal.filter.forbids else "model.unfit"
    return f"model {asked!r}: {refusal.detail}", code


def sticky_key(request: Request, sticky_by: str | None) -> str:
    if sticky_by == "consumer" and request.consumer:
        return request.consumer
    if sticky_by == "session" and request.session:
        return request.session
    return request.request_id or ""


def _draw(route_plan: RoutePlan, request: Request) -> tuple[int, Arm, tuple[str, ...]]:
    """The arm (its index, -1 for the experiment) and the shadows drawn for ``request``."""
    index, arm = 0, route_plan.arms[0]
    experiment = route_plan.experiment
    if experiment is not None and (
        bucket(f"{experiment.experiment}:{sticky_key(request, route_plan.experiment_sticky_by)}")
        < experiment.fraction
    ):
        index, arm = -1, experiment
    elif len(route_plan.arms) > 1:
        point = bucket(f"{route_plan.route}:{sticky_key(request, route_plan.route_sticky_by)}")
        cumulative = 0.0
        for index, candidate in enumerate(route_plan.arms):  # noqa: B007 (index is the result)
            cumulative += candidate.fraction
            if point < cumulative:
                arm = candidate
                break
        else:
            index, arm = len(route_plan.arms) - 1, route_plan.arms[-1]
    if not route_plan.shadows:
        return index, arm, ()
    shadows = tuple(
        s.model
        for s in route_plan.shadows
        if s.model != arm.primary
        and bucket(f"shadow:{s.source}:{s.model}:{request.request_id or ''}") < s.fraction
    )
    return index, arm, shadows


def _decision(route_plan: RoutePlan, arm: Arm, shadows: tuple[str, ...]) -> Decision:
    return Decision(
        intent=route_plan.intent,
        classification=route_plan.classification,
        route=route_plan.route,
        primary=arm.primary,
        fallbacks=arm.fallbacks,
        shadows=shadows,
        arm=arm.label,
        experiment=arm.experiment,
        triggers=route_plan.triggers,
        trace=route_plan.trace,
    )


def choose(route_plan: RoutePlan, request: Request) -> Decision:
    """Draw one arm and the shadows of ``route_plan`` for ``request``."""
    if not route_plan.routable:
        return Decision(
            intent=route_plan.intent,
            classification=route_plan.classification,
            route=route_plan.route,
            primary=None,
            fallbacks=(),
            shadows=(),
            arm=None,
            experiment=None,
            triggers=route_plan.triggers,
            trace=route_plan.trace,
            unroutable_reason=route_plan.unroutable_reason,
        )
    _, arm, shadows = _draw(route_plan, request)
    return _decision(route_plan, arm, shadows)


def decide(policy: Policy, request: Request) -> Decision:
    """Where ``request`` goes: deterministic for the same policy and request."""
    route_plan, cached = _lookup(policy, request)
    if cached is None or not route_plan.routable:
        return choose(route_plan, request)
    if cached.fixed is not None:
        return cached.fixed
    # A shared plan has few possible decisions (arm x shadow draw); they are immutable.
    index, arm, shadows = _draw(route_plan, request)
    decision = cached.decisions.get((index, shadows))
    if decision is None:
        decision = cached.decisions[(index, shadows)] = _decision(route_plan, arm, shadows)
    return decision
