"""RT007 no-eligible-model (warning): an intent or classification that no route and model can serve.

For every defined intent, lint looks for a route that matches it and a model
on that route (a target, a member of a target tier, or a fallback) that has
the capabilities the intent and the route require, meets the route's minimum
context window, and is allowed for some classification that can reach the
route. For every classification, it looks for a route it can reach with a
model the classification allows. When there is none, every such request is
refused at runtime ("no eligible model" / "no route matches").

That can be deliberate — a `secret` classification that must never leave the
building, with no on-prem model yet — so this is a warning; silence it per
rule in `.routectl.yaml`, or on the definition with
`# routectl-lint: disable=RT007`.

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
  capabilities: [chat, vision]
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: image-qa}
spec: {requires: [vision]}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
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
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-cloud
  upstreamModel: small
  capabilities: [chat]
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata:
  name: image-qa  # RT007
spec: {requires: [vision]}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata:
  name: secret  # RT007
spec: {allow: {hosting: [on-prem]}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: small-eu}]
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.core.policy import ModelInfo, RouteInfo
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem

WHOLE_POLICY = True  # concludes from absence: silent while a document failed to load


def _candidates(ctx: LintContext, route: RouteInfo) -> list[ModelInfo]:
    names = [n for group in route.targets for n in group.models] + list(route.fallback_chain)
    out = []
    for name in dict.fromkeys(names):
        model = ctx.policy.models[name]
        if not route.requires <= model.capabilities:
            continue
        if route.min_context_window and model.context_window < route.min_context_window:
            continue
        out.append(model)
    return out


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    policy = ctx.policy
    served_intents: set[str] = set()
    served_classes: set[str] = set()
    for route, _ in ctx.routes:
        models = _candidates(ctx, route)
        if not models:
            continue
        classes = [policy.classifications[c] for c in ctx.reaching[route.name]]
        unclassified_ok = not route.classifications
        intents = [policy.intents[i] for i in route.intents if i in policy.intents]
        if not route.intents:
            intents = list(policy.intents.values())
        for model in models:
            allowed_classes = [c.name for c in classes if c.allows(model) is None]
            reachable = bool(allowed_classes) or (
                unclassified_ok and model.name in policy.allowed[None]
            )
            if not reachable:
                continue
            fitting = [i for i in intents if i.requires <= model.capabilities]
            served_intents.update(i.name for i in fitting)
            if fitting or not route.intents:
                served_classes.update(allowed_classes)
    for source in ctx.of_kind("Intent"):
        if source.name not in served_intents:
            needs = policy.intents[source.name].requires
            yield Problem(
                ctx.name_location(source),
                f"no route and model can serve intent {source.name!r}"
                + (f" (it requires {', '.join(sorted(needs))})" if needs else ""),
                "add a route that matches it with a capable, allowed model, "
                "or add such a model to an existing route",
            )
    for source in ctx.of_kind("Classification"):
        if source.name not in served_classes:
            yield Problem(
                ctx.name_location(source),
                f"no route and model can serve classification {source.name!r}: "
                "every such request will be refused",
                "add a model this classification allows to a route it reaches, "
                "or silence this rule if refusing it is intended",
            )
