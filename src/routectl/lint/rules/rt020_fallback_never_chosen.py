"""RT020 fallback-never-chosen (warning): a fallback lacks what every request on its route needs.

A route's requests need the capabilities its intents require (and the
route's own `constraints.requires`). The evaluator filters a fallback that
lacks one out of every such request, so a fallback that lacks a capability
*every* intent the route matches requires can never be chosen: the chain is
shorter than it reads, and an outage of the models before it fails requests
the author thought were covered. The check asks the core's filters
(`routectl.core.filters`) with each intent's requirements; a route that
matches any intent is checked against its own requirements only.

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: cloud}
spec: {baseUrl: "https://cloud.example/v1", jurisdiction: FR, credentials: {apiKey: env:KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: seer}
spec:
  provider: cloud
  upstreamModel: seer
  capabilities: [chat, vision]
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 1, output: 3}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: seer-mini}
spec:
  provider: cloud
  upstreamModel: seer-mini
  capabilities: [chat, vision]
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: describe-image}
spec: {requires: [vision]}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: images}
spec:
  match: {intents: [describe-image]}
  targets: [{model: seer}]
  fallback: {chain: [seer-mini]}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: cloud}
spec: {baseUrl: "https://cloud.example/v1", jurisdiction: FR, credentials: {apiKey: env:KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: seer}
spec:
  provider: cloud
  upstreamModel: seer
  capabilities: [chat, vision]
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 1, output: 3}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: text-only}
spec:
  provider: cloud
  upstreamModel: text
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: describe-image}
spec: {requires: [vision]}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: images}
spec:
  match: {intents: [describe-image]}
  targets: [{model: seer}]
  fallback:
    chain: [text-only]  # RT020
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.core.filters import Scope, static_reject
from routectl.core.policy import ModelInfo, Policy, RouteInfo
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    policy = ctx.policy
    everything = frozenset(policy.models)
    for route, source in ctx.routes:
        intents = [policy.intents[i] for i in sorted(route.intents) if i in policy.intents]
        needs = [route.requires | i.requires for i in intents] or [route.requires]
        for index, name in enumerate(source.doc.spec.fallback.chain):
            model = policy.models.get(name)
            if model is None:
                continue  # RT001
            reasons = _never(policy, route, model, everything, needs)
            if reasons is None:
                continue
            yield Problem(
                source.locate("spec", "fallback", "chain", index),
                f"route {route.name}: fallback {name!r} can never be chosen ({reasons})",
                "fall back to a model with the capabilities the route's intents require, "
                "or remove it from the chain",
            )


def _never(
    policy: Policy,
    route: RouteInfo,
    model: ModelInfo,
    everything: frozenset[str],
    needs: list[frozenset[str]],
) -> str | None:
    """Why the filters refuse ``model`` for every need, when they do because of the need.

    A refusal the route causes whatever the need (its minimum context) is RT008's."""
    if static_reject(model, Scope(policy, route, None, everything, frozenset(), None)):
        return None
    reasons = []
    for need in needs:
        refusal = static_reject(model, Scope(policy, route, None, everything, need, None))
        if refusal is None:
            return None
        reasons.append(refusal.detail.partition(": ")[2])
    return "; ".join(dict.fromkeys(reasons))
