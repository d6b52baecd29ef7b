"""RT005 classification-without-target (error): a class reaches a route with no model it may use.

Sovereignty must hold across the whole path of a request, and the evaluator
enforces it on every candidate: a target, fallback, shadow or experiment
candidate that a data classification forbids is filtered out of that
classification's requests. A route may therefore serve several
classifications with targets some of them skip (RT019 names them). But when
a classification that can reach the route is refused by *every* target and
fallback (by its `allow` rules: jurisdictions, hosting, certifications, open
weights, or by a capability or context minimum the route itself requires),
every such request is refused at runtime: that is an error.

Classifications that cannot reach the route are not checked: a catch-all
route after a `pii` route whose match covers it (see RT006) gets no `pii`
traffic, and a route limited to consumers that may only send `public` data
is checked for `public` only. The filters applied are the evaluator's own
(`routectl.core.filters`), before token counts.

Options: none.

Passing:

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
  targets: [{model: big-us}]  # pii skips it (RT019) and takes the fallback
  fallback:
    chain: [small-eu]
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: us-cloud}
spec: {baseUrl: "https://us.example/v1", jurisdiction: US, credentials: {apiKey: env:US_KEY}}
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
  targets: [{model: big-us}]  # RT005
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.core.filters import Scope, static_reject
from routectl.core.policy import RouteInfo
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def route_scope(ctx: LintContext, route: RouteInfo, classification: str | None) -> Scope:
    """The filters' view of a route for one classification, before intents and tokens."""
    policy = ctx.policy
    return Scope(
        policy,
        route,
        classification,
        policy.allowed_models(classification),
        route.requires,
        None,
    )


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    policy = ctx.policy
    if not policy.classifications:
        return
    for route, source in ctx.routes:
        served = [n for group in route.targets for n in group.models] + list(route.fallback_chain)
        models = [policy.models[n] for n in dict.fromkeys(served)]
        if not models:
            continue  # nothing resolves: RT001 / RT018 say why
        for name in ctx.reaching[route.name]:
            scope = route_scope(ctx, route, name)
            refusals = [static_reject(model, scope) for model in models]
            if any(refusal is None for refusal in refusals):
                continue
            reasons = "; ".join(r.detail for r in refusals if r is not None)
            yield Problem(
                source.locate("spec", "targets"),
                f"route {route.name}: classification {name} reaches it, but no target or "
                f"fallback may serve it ({reasons}); every such request is refused",
                "add a model this classification allows, or narrow match.classifications "
                "so an earlier route serves it",
            )
