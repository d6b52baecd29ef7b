"""RT017 unused-model (info): a model that no route, fallback, shadow or experiment uses.

A model no route can reach is configured on every gateway but never called.
That can be intended (staged for a coming experiment), so this is only
informational. A model counts as used when it is a route target, a member of
a tier that a route targets, in a fallback chain, a shadow, or an
experiment candidate.

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
metadata:
  name: small-eu  # RT017
spec:
  provider: eu-cloud
  upstreamModel: small
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem

WHOLE_POLICY = True  # concludes from absence: silent while a document failed to load


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    used: set[str] = set()
    for source in ctx.of_kind("Route"):
        spec = source.doc.spec
        for target in spec.targets:
            if target.model is not None:
                used.add(target.model)
            elif target.tier is not None:
                used.update(ctx.tier_members(target.tier))
        used.update(spec.fallback.chain)
        used.update(s.model for s in spec.shadows)
    used.update(s.doc.spec.candidate for s in ctx.of_kind("Experiment"))
    for source in ctx.of_kind("Model"):
        if source.name not in used:
            yield Problem(
                ctx.name_location(source),
                f"model {source.name} is not used by any route, fallback, shadow or experiment",
                "target it from a route, or remove it",
            )
