"""RT018 empty-tier-target (error): a route targets a tier that has no models.

A tier target expands to the tier's models, cheapest first. A tier that is
defined but holds no model contributes nothing: if it is the route's only
target, every request on the route is refused. (A tier that is not defined
at all is RT001.)

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu-cloud}
spec: {baseUrl: "https://eu.example/v1", jurisdiction: FR, credentials: {apiKey: env:EU_KEY}}
---
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: light}
spec: {rank: 1}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-cloud
  upstreamModel: small
  tier: light
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{tier: light}]
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: light}
spec: {rank: 1}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets:
    - tier: light  # RT018
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem

WHOLE_POLICY = True  # concludes from absence: silent while a document failed to load


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.of_kind("Route"):
        for i, target in enumerate(source.doc.spec.targets):
            tier = target.tier
            if tier is None or tier not in ctx.policy.tiers or ctx.tier_members(tier):
                continue
            yield Problem(
                source.locate("spec", "targets", i, "tier"),
                f"route {source.name}: tier {tier!r} has no models",
                f"give some models 'tier: {tier}', or target a model directly",
            )
