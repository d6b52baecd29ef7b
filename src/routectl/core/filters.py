"""The hard filters, declared once: which models may serve a request on a route.

Each :class:`Filter` is data: a static predicate over the model and its
:class:`Scope` (route, classification, required capabilities, language), or a
token-dependent :class:`~routectl.core.tokens.Bound` (a linear inequality in
input and output tokens), and the trace text that says why a model was
filtered out. :data:`FILTERS` is their order; the first filter a model fails
is the reason the trace gives.

Everything that needs to know what the filters mean derives it from here:

- the evaluator runs :func:`reject` on every candidate (target, fallback,
  experiment candidate, shadow);
- the plan cache (:mod:`routectl.core.plancache`) splits them into what is
  worked out once per route and the bounds it checks per request;
- ``routectl simulate`` groups traffic by the signs of every bound (SQL);
- lint (RT007, RT008) and ``explain`` ask :func:`static_reject`.

A filter that reads request-time state (a consumer's remaining budget, a
model's rate) is declared the same way, as a static predicate over a scope
that carries the state; the plan cache then keys on that state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from routectl.core.tokens import OUTPUT_TOKENS, TOTAL_TOKENS, Bound, cost_form

if TYPE_CHECKING:
    from routectl.core.policy import ModelInfo, Policy, RouteInfo
    from routectl.core.request import BudgetState


@dataclass(frozen=True, slots=True)
class Scope:
    """What the filters look at besides the model and the token counts."""

    policy: Policy
    route: RouteInfo
    classification: str | None  # None: unknown or missing, the strictest
    allowed: frozenset[str]  # models the classification may reach
    requires: frozenset[str]  # capabilities of the route, the intent and the request
    language: str | None
    # The consumer's budget state (routectl.core.budgets); the plan cache serves only
    # requests whose budget has no action, so a cached scope never carries one.
    budget: BudgetState | None = None
    intent: str | None = None  # the request's intent (quality scores are per intent)


Static = Callable[["ModelInfo", Scope], "tuple[object, ...] | None"]
Bounded = Callable[["ModelInfo", Scope], "Bound | None"]


@dataclass(frozen=True, slots=True)
class Filter:
    """One hard filter. ``template`` formats ``(model, *args)``: for a static filter the
    predicate's args, for a bound ``(limit, value)``."""

    name: str
    template: str
    static: Static | None = None  # args for the trace when it refuses the model, else None
    bound: Bounded | None = None  # the bound a request's tokens must meet (None: no bound)
    # A refusal is the policy forbidding the model (a client that asks for it by name is
    # refused as not allowed), not the request not fitting it.
    forbids: bool = False

    @property
    def token_dependent(self) -> bool:
        return self.bound is not None


def _classification(model: ModelInfo, scope: Scope) -> tuple[object, ...] | None:
    if model.name in scope.allowed:
        return None
    why = scope.policy.why_forbidden(scope.classification, model.name) or "not allowed"
    return (scope.classification or "(unknown)", why)


def _capability(model: ModelInfo, scope: Scope) -> tuple[object, ...] | None:
    if scope.requires <= model.capabilities:
        return None
    return (", ".join(sorted(scope.requires - model.capabilities)),)


def _quality(model: ModelInfo, scope: Scope) -> tuple[object, ...] | None:
    bar = scope.route.quality_bar
    if bar is None:
        return None
    found = model.quality_for(scope.intent)
    if found is None:
        return ("none", bar, scope.intent or "(none)", "no score")
    score, source, date = found
    return None if score >= bar else (score, bar, scope.intent or "(none)", f"{source}, {date}")


def _route_min_context(model: ModelInfo, scope: Scope) -> tuple[object, ...] | None:
    minimum = scope.route.min_context_window
    if minimum and model.context_window < minimum:
        return (model.context_window,)
    return None


def _language(model: ModelInfo, scope: Scope) -> tuple[object, ...] | None:
    language = scope.language
    if language and model.languages and language not in model.languages:
        return (language,)
    return None


def _budget_ceiling(model: ModelInfo, scope: Scope) -> tuple[object, ...] | None:
    """A budget downgraded to a tier: no candidate dearer than that tier (fallbacks,
    shadows and experiment candidates included) may serve the request."""
    budget = scope.budget
    if budget is None or budget.action != "downgrade" or budget.tier is None:
        return None
    rank = scope.policy.tiers.get(budget.tier)
    if rank is None or model.tier_rank <= rank:
        return None
    return (budget.budget, budget.tier)


def _context_window(model: ModelInfo, scope: Scope) -> Bound:
    return Bound(TOTAL_TOKENS, model.context_window)


def _output_limit(model: ModelInfo, scope: Scope) -> Bound:
    return Bound(OUTPUT_TOKENS, model.max_output_tokens)


def _max_cost(model: ModelInfo, scope: Scope) -> Bound | None:
    cap = scope.route.max_cost_per_request
    return None if cap is None else Bound(cost_form(model), cap)


# In the order they are checked: the first refusal is the reason the trace gives.
FILTERS: list[Filter] = [
    Filter(
        "classification",
        "{0} filtered out: classification {1}: {2}",
        static=_classification,
        forbids=True,
    ),
    Filter(
        "budget",
        "{0} filtered out: budget {1} downgraded the request to tier {2}",
        static=_budget_ceiling,
        forbids=True,
    ),
    Filter("capability", "{0} filtered out: lacks capability {1}", static=_capability),
    # a route's quality bar (strategy cheapest-above): every model that may answer meets it
    Filter(
        "quality",
        "{0} filtered out: quality {1} below the route's {2} for intent {3} ({4})",
        static=_quality,  # not ``forbids``: the data may go there, the model is not good enough
    ),
    Filter(
        "context-window",
        "{0} filtered out: context window {1:,} < {2:,} tokens",
        bound=_context_window,
    ),
    Filter(
        "route-min-context",
        "{0} filtered out: context window {1:,} below route minimum",
        static=_route_min_context,
    ),
    Filter(
        "output-limit", "{0} filtered out: max output {1:,} < {2:,} tokens", bound=_output_limit
    ),
    Filter("language", "{0} filtered out: does not serve language {1}", static=_language),
    Filter(
        "max-cost",
        "{0} filtered out: cost ${2:.4f} above route maximum ${1}",
        bound=_max_cost,
    ),
]
BY_NAME: dict[str, Filter] = {f.name: f for f in FILTERS}


def register(new: Filter, before: str | None = None) -> None:
    """Add a filter (before the named one, else last). Resolved policies plan with it from
    their next plan-cache miss; call before resolving, as a module import does."""
    if new.name in BY_NAME:
        raise ValueError(f"filter {new.name!r} is already declared")
    index = len(FILTERS) if before is None else FILTERS.index(BY_NAME[before])
    FILTERS.insert(index, new)
    BY_NAME[new.name] = new


@dataclass(frozen=True, slots=True)
class Refusal:
    filter: Filter
    args: tuple[object, ...]  # (model, *template args)

    @property
    def detail(self) -> str:
        return self.filter.template.format(*self.args)


def reject(model: ModelInfo, scope: Scope, input_tokens: int, output_tokens: int) -> Refusal | None:
    """The first filter that refuses ``model`` for a request of these token counts."""
    return static_view(model, scope).reject(input_tokens, output_tokens)


def static_reject(model: ModelInfo, scope: Scope) -> Refusal | None:
    """The first filter that refuses ``model`` whatever the token counts."""
    for f in FILTERS:
        if f.static is not None:
            args = f.static(model, scope)
            if args is not None:
                return Refusal(f, (model.name, *args))
    return None


@dataclass(frozen=True, slots=True)
class StaticView:
    """What the filters say about a model on a scope before tokens count: refused by a
    static filter (``refused``), and the bounds checked before that (all of them when
    not refused). A model refused by a static filter that comes after a bound is still
    subject to that bound: for tokens that break it, the bound is the reason."""

    name: str
    refused: Refusal | None
    bounds: tuple[tuple[Filter, Bound], ...]

    @property
    def early(self) -> bool:
        """Refused before any bound applies: the verdict never depends on tokens."""
        return self.refused is not None and not self.bounds

    def reject(self, input_tokens: int, output_tokens: int) -> Refusal | None:
        for f, bound in self.bounds:
            value = bound.form(input_tokens, output_tokens)
            if value > bound.limit:
                return Refusal(f, (self.name, bound.limit, value))
        return self.refused


def static_view(model: ModelInfo, scope: Scope) -> StaticView:
    bounds: list[tuple[Filter, Bound]] = []
    for f in FILTERS:
        if f.static is not None:
            args = f.static(model, scope)
            if args is not None:
                return StaticView(model.name, Refusal(f, (model.name, *args)), tuple(bounds))
        if f.bound is not None:
            bound = f.bound(model, scope)
            if bound is not None:
                bounds.append((f, bound))
    return StaticView(model.name, None, tuple(bounds))


def bounds_of(model: ModelInfo, scope: Scope) -> tuple[Bound, ...]:
    """Every token bound ``model`` has on this scope, static refusals aside."""
    out = []
    for f in FILTERS:
        if f.bound is not None:
            bound = f.bound(model, scope)
            if bound is not None:
                out.append(bound)
    return tuple(out)
