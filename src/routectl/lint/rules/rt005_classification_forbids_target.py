"""RT005 classification-forbids-target (error): a route may send data where its class may not go.

Sovereignty must hold across the whole path of a request, not only its
primary model: for every data classification that can reach a route — the
ones it matches, or every classification when it matches all of them — each
target, every fallback in the chain, every shadow and every experiment
candidate is checked against the classification's `allow` rules
(jurisdictions, hosting, certifications, open weights). The evaluator filters
forbidden models out at runtime, so such a model is at best dead weight and at
worst a sign that the author expected traffic to go there; lint says so
before it ships.

Classifications that cannot reach the route are not checked: a catch-all
route after a `pii` route whose match covers it (see RT006) gets no `pii`
traffic, and a route limited to consumers that may only send `public` data
is checked for `public` only. A tier target is reported only when no model of
the tier is allowed (the evaluator picks the first allowed one).

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu-cloud}
spec: {baseUrl: "https://eu.example/v1", jurisdiction: FR, credentials: {apiKey: env:EU_KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-cloud
  upstreamModel: small
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: pii}
spec: {allow: {jurisdictions: [EU]}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: pii}
spec:
  match: {classifications: [pii]}
  targets: [{model: small-eu}]
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu-cloud}
spec: {baseUrl: "https://eu.example/v1", jurisdiction: FR, credentials: {apiKey: env:EU_KEY}}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: us-cloud}
spec: {baseUrl: "https://us.example/v1", jurisdiction: US, credentials: {apiKey: env:US_KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-cloud
  upstreamModel: small
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: big-us}
spec:
  provider: us-cloud
  upstreamModel: big
  contextWindow: 128000
  maxOutputTokens: 4096
  pricing: {input: 2.5, output: 10}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: pii}
spec: {allow: {jurisdictions: [EU]}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: pii}
spec:
  match: {classifications: [pii]}
  targets: [{model: small-eu}]
  fallback:
    chain: [big-us]  # RT005
  shadows:
    - model: big-us  # RT005
      percent: 5
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem
from routectl.loader.yaml_source import Location, SourceDocument


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    policy = ctx.policy
    if not policy.classifications:
        return
    reaching = ctx.reaching
    for route, source in ctx.routes:
        classes = reaching[route.name]
        if classes:
            yield from _route_problems(ctx, route.name, source, classes)
    for source in ctx.of_kind("Experiment"):
        spec = source.doc.spec
        if not spec.enabled or spec.route not in reaching:
            continue
        yield from _forbidden(
            ctx,
            spec.candidate,
            reaching[spec.route],
            source.locate("spec", "candidate"),
            f"experiment {source.name} on route {spec.route}: candidate",
        )


def _route_problems(
    ctx: LintContext, name: str, source: SourceDocument, classes: list[str]
) -> Iterator[Problem]:
    spec = source.doc.spec
    for i, target in enumerate(spec.targets):
        where = source.locate("spec", "targets", i)
        if target.model is not None:
            yield from _forbidden(ctx, target.model, classes, where, f"route {name}: target")
        elif target.tier is not None:
            yield from _empty_tier(ctx, name, target.tier, classes, where)
    for i, model in enumerate(spec.fallback.chain):
        where = source.locate("spec", "fallback", "chain", i)
        yield from _forbidden(ctx, model, classes, where, f"route {name}: fallback")
    for i, shadow in enumerate(spec.shadows):
        where = source.locate("spec", "shadows", i, "model")
        yield from _forbidden(ctx, shadow.model, classes, where, f"route {name}: shadow")


def _forbidden(
    ctx: LintContext, model: str, classes: list[str], where: Location, role: str
) -> Iterator[Problem]:
    info = ctx.model(model)
    if info is None:
        return  # unknown model: RT001
    reasons = []
    for name in classes:
        why = ctx.policy.classifications[name].allows(info)
        if why is not None:
            reasons.append(f"{name} ({why})")
    if reasons:
        yield Problem(
            where,
            f"{role} {model!r} is forbidden for classification {'; '.join(reasons)}",
            "use a model the classification allows, or narrow the route's "
            "match.classifications so this data cannot reach it",
        )


def _empty_tier(
    ctx: LintContext, route: str, tier: str, classes: list[str], where: Location
) -> Iterator[Problem]:
    members = [ctx.policy.models[m] for m in ctx.tier_members(tier)]
    if not members:
        return  # an unknown or empty tier is reported elsewhere
    shut_out = [
        name
        for name in classes
        if all(ctx.policy.classifications[name].allows(m) is not None for m in members)
    ]
    if shut_out:
        yield Problem(
            where,
            f"route {route}: no model of tier {tier!r} is allowed for classification "
            f"{', '.join(shut_out)}",
            "add an allowed model to the tier, or target one explicitly",
        )
