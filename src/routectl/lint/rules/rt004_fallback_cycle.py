"""RT004 fallback-cycle (error): a fallback chain that leads back to where it started.

A fallback chain is the list of models tried, in order, when the primary
fails (429, 5xx, timeout, …). A chain that names a model twice, or names a
model a target already serves, loops back to a model that has just failed:
the retry hits the same upstream under the same pressure, and the real
alternatives further down the chain are reached later or never. The
evaluator drops the repeats at runtime; lint reports them so the chain says
what it does.

What a target serves follows the route's strategy: a model target serves that
model; a tier target serves the tier's first model (the one picked when the
filters allow it) on a `priority` or `weighted` route, and every member on a
strategy that ranks the whole tier (`cheapest`, whose ranking puts the other
members in the chain already). Falling back from a tier target to another
member of the tier on a `priority` route is a different model, not a retry.

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: model-a}]
  fallback:
    chain: [model-b, model-c]
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: cloud}
spec: {baseUrl: "https://cloud.example/v1", jurisdiction: FR, credentials: {apiKey: env:KEY}}
---
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: light}
spec: {rank: 1}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: light-a}
spec:
  provider: cloud
  upstreamModel: a
  tier: light
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.1, output: 0.3}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: light-b}
spec:
  provider: cloud
  upstreamModel: b
  tier: light
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: light}
spec:
  targets: [{tier: light}]
  fallback:
    chain: [light-b]  # the tier picks light-a; light-b is another model
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: model-a}]
  fallback:
    chain:
      - model-b
      - model-a  # RT004
      - model-b  # RT004
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.core.strategies import STRATEGIES
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.of_kind("Route"):
        spec = source.doc.spec
        whole = STRATEGIES[spec.strategy].whole_groups
        targets: dict[str, str] = {}
        for target in spec.targets:
            if target.model is not None:
                targets.setdefault(target.model, "a target of this route")
            elif target.tier is not None:
                members = ctx.tier_members(target.tier)
                if not whole:
                    members = members[:1]
                    role = f"the model the target tier {target.tier!r} picks"
                else:
                    role = f"a member of the target tier {target.tier!r}, ranked already"
                for member in members:
                    targets.setdefault(member, role)
        seen: set[str] = set()
        for i, name in enumerate(spec.fallback.chain):
            if name in seen:
                yield Problem(
                    source.locate("spec", "fallback", "chain", i),
                    f"route {source.name}: fallback chain names {name!r} twice",
                    "remove the repeated entry",
                )
            elif name in targets:
                yield Problem(
                    source.locate("spec", "fallback", "chain", i),
                    f"route {source.name}: fallback {name!r} is {targets[name]}; "
                    "falling back to it retries the model that just failed",
                    "fall back to a different model (ideally another provider)",
                )
            seen.add(name)
