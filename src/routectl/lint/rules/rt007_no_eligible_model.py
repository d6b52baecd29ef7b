"""RT007 no-eligible-model (warning): an intent or classification that no route and model can serve.

For every defined intent, lint looks for a route that matches it and a model
on that route (a target, a member of a target tier, or a fallback) that has
the capabilities the intent and the route require, meets the route's minimum
context window, and is allowed for some classification that can reach the
route. For every classification, it looks for a route it can reach with a
model the classification allows. Both ask the evaluator's own filters
(`routectl.core.filters`) as they stand before token counts. When there is
none, every such request is refused at runtime ("no eligible model" / "no route matches").

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

from routectl.core.filters import Scope, static_reject
from routectl.core.policy import IntentInfo, ModelInfo, Policy, RouteInfo
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem

WHOLE_POLICY = True  # concludes from absence: silent while a document failed to load


def _serves(
    policy: Policy,
    route: RouteInfo,
    models: list[ModelInfo],
    classification: str | None,
    intent: IntentInfo | None,
) -> bool:
    """Whether some model passes the evaluator's static filters for this class and intent."""
    requires = route.requires | (intent.requires if intent is not None else frozenset())
    scope = Scope(
        policy, route, classification, policy.allowed_models(classification), requires, None
    )
    return any(static_reject(model, scope) is None for model in models)


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    policy = ctx.policy
    served_intents: set[str] = set()
    served_classes: set[str] = set()
    for route, _ in ctx.routes:
        names = [n for group in route.targets for n in group.models] + list(route.fallback_chain)
        models = [policy.models[n] for n in dict.fromkeys(names)]
        if not models:
            continue
        classes: list[str | None] = list(ctx.reaching[route.name])
        if not route.classifications:
            classes.append(None)  # unclassified requests: the strictest
        intents: list[IntentInfo | None] = [
            policy.intents[i] for i in sorted(route.intents) if i in policy.intents
        ]
        if not route.intents:
            intents = [*policy.intents.values(), None]  # any intent, or none
        for classification in classes:
            for intent in intents:
                new_intent = intent is not None and intent.name not in served_intents
                new_class = classification is not None and classification not in served_classes
                if not (new_intent or new_class):
                    continue
                if _serves(policy, route, models, classification, intent):
                    if intent is not None:
                        served_intents.add(intent.name)
                    if classification is not None:
                        served_classes.add(classification)
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
