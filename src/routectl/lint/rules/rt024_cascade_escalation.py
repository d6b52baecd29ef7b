"""RT024 cascade-escalation (warning): a cascade with nothing to escalate to, or idle rates.

A `cascade` route sends a request to its next model when an answer fails the
route's checks. With one model in its chain (targets, then fallbacks) there
is no next model: the checks run, and the failing answer goes back anyway,
usually a sign that a target was forgotten. `cascade.escalationRates` are
what `simulate` assumes for models of the chain; a rate for a model outside it
changes nothing.

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
kind: Model
metadata: {name: large-eu}
spec:
  provider: eu-cloud
  upstreamModel: large
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 2, output: 6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  strategy: cascade
  targets: [{model: small-eu}, {model: large-eu}]
  cascade:
    escalationRates: {small-eu: 0.3}
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
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  strategy: cascade  # RT024
  targets: [{model: small-eu}]
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
        if not STRATEGIES[spec.strategy].escalates:
            continue
        route = ctx.policy.routes_by_name.get(source.name)
        if route is None:
            continue
        chain = [*(n for g in route.targets for n in g.models), *route.fallback_chain]
        if len(set(chain)) < 2:
            yield Problem(
                source.locate("spec", "strategy"),
                f"route {source.name}: a cascade of {len(set(chain))} model(s) has nothing "
                "to escalate to",
                "add the model to escalate to as the next target (or to fallback.chain)",
            )
        if spec.cascade is None:
            continue
        for name in spec.cascade.escalation_rates:
            if name in ctx.policy.models and name not in chain:
                yield Problem(
                    source.locate("spec", "cascade", "escalationRates", name),
                    f"route {source.name}: escalation rate for {name}, which is not in the cascade",
                    f"remove it, or add {name} to the route's targets",
                )
