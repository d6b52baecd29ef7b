"""RT019 classification-skips-target (warning): a class that reaches a route skips a model on it.

The evaluator filters a model a classification forbids out of that
classification's requests, wherever it appears on the route: target,
fallback, shadow or experiment candidate. One route may serve several
classifications this way (the `pii` requests skip the US target and take the
EU fallback), so this is a warning that names which classes skip which
models, so that nobody expects `pii` traffic to reach the US model. A tier
target is named only when no model of the tier is allowed. When a class
can use no target or fallback at all, RT005 reports the route instead.

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
kind: Classification
metadata: {name: public}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: everything}
spec:
  match: {classifications: [pii, public]}
  targets: [{model: big-us}]  # RT019
  fallback:
    chain: [small-eu]
  shadows:
    - model: big-us  # RT019
      percent: 5
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.core.filters import static_reject
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem
from routectl.lint.rules.rt005_classification_forbids_target import route_scope
from routectl.loader.yaml_source import Location


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    policy = ctx.policy
    if not policy.classifications:
        return
    reaching = ctx.reaching
    routes = {route.name: route for route, _ in ctx.routes}
    for route, source in ctx.routes:
        classes = _with_some_target(ctx, route, reaching[route.name])
        if not classes:
            continue
        spec = source.doc.spec
        for i, group in enumerate(route.targets):
            where = source.locate("spec", "targets", i)
            yield from _skips(ctx, route, group.models, group.label, classes, where, "target")
        for i, model in enumerate(spec.fallback.chain):
            where = source.locate("spec", "fallback", "chain", i)
            yield from _skips(ctx, route, (model,), model, classes, where, "fallback")
        for i, shadow in enumerate(spec.shadows):
            where = source.locate("spec", "shadows", i, "model")
            yield from _skips(ctx, route, (shadow.model,), shadow.model, classes, where, "shadow")
    for source in ctx.of_kind("Experiment"):
        spec = source.doc.spec
        route = routes.get(spec.route)
        if not spec.enabled or route is None:
            continue
        classes = _with_some_target(ctx, route, reaching[route.name])
        where = source.locate("spec", "candidate")
        role = f"experiment {source.name}: candidate"
        yield from _skips(ctx, route, (spec.candidate,), spec.candidate, classes, where, role)


def _with_some_target(ctx, route, classes: list[str]) -> list[str]:
    """The reaching classes that can use some target or fallback (the rest are RT005)."""
    served = [n for group in route.targets for n in group.models] + list(route.fallback_chain)
    models = [ctx.policy.models[n] for n in dict.fromkeys(served)]
    out = []
    for name in classes:
        scope = route_scope(ctx, route, name)
        if any(static_reject(m, scope) is None for m in models):
            out.append(name)
    return out


def _skips(
    ctx: LintContext,
    route,
    names: tuple[str, ...],
    label: str,
    classes: list[str],
    where: Location,
    role: str,
) -> Iterator[Problem]:
    models = [m for m in (ctx.model(n) for n in names) if m is not None]
    if not models:
        return  # unknown model or empty tier: RT001 / RT018
    skipping = []
    for name in classes:
        scope = route_scope(ctx, route, name)
        refusals = [static_reject(m, scope) for m in models]
        if all(r is not None and r.filter.forbids for r in refusals):
            first = refusals[0]
            assert first is not None
            why = first.args[-1] if len(models) == 1 else "no model of the tier is allowed"
            skipping.append(f"{name} ({why})")
    if skipping:
        subject = f"{role} {label!r}" if label else role
        yield Problem(
            where,
            f"route {route.name}: {subject} is skipped by classification {'; '.join(skipping)}",
            "nothing to fix if intended: those requests take the next allowed model; "
            "otherwise use a model the classification allows, or narrow match.classifications",
        )
