"""RT009 tier-price-order (warning): a higher tier holds a model cheaper than a lower tier's.

Tiers are ordered by `rank`, lower is cheaper; `cheapest` routes and
tier-based fallbacks rely on that order meaning something. Prices are
compared as a blended price per million tokens, 3 parts input to 1 part
output (the usual way list prices are compared). A model in a higher-rank
tier that costs less than a model of a lower-rank tier contradicts the
order: the model is in the wrong tier, a price is out of date, or the ranks
are swapped. The finding is placed on the model's `tier`.

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
kind: Tier
metadata: {name: frontier}
spec: {rank: 3}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small}
spec:
  provider: eu-cloud
  upstreamModel: small
  tier: light
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: big}
spec:
  provider: eu-cloud
  upstreamModel: big
  tier: frontier
  contextWindow: 128000
  maxOutputTokens: 8192
  pricing: {input: 3, output: 15}
```

Failing:

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
kind: Tier
metadata: {name: frontier}
spec: {rank: 3}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small}
spec:
  provider: eu-cloud
  upstreamModel: small
  tier: light
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 1, output: 4}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: big}
spec:
  provider: eu-cloud
  upstreamModel: big
  tier: frontier  # RT009
  contextWindow: 128000
  maxOutputTokens: 8192
  pricing: {input: 0.5, output: 1.5}
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.core.policy import ModelInfo
from routectl.core.policy import blended_price as blended
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem, Related


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    policy = ctx.policy
    # The dearest model of each tier, and walking up the ranks, the dearest below.
    dearest: dict[str, ModelInfo] = {}
    for model in policy.models.values():
        if model.tier in policy.tiers:
            best = dearest.get(model.tier)
            if best is None or blended(model) > blended(best):
                dearest[model.tier] = model
    for model in sorted(policy.models.values(), key=lambda m: m.name):
        if model.tier not in policy.tiers:
            continue
        rank = policy.tiers[model.tier]
        lower = [dearest[t] for t, r in policy.tiers.items() if r < rank and t in dearest]
        if not lower:
            continue
        other = max(lower, key=blended)
        if blended(model) >= blended(other):
            continue
        source = ctx.source("Model", model.name)
        other_source = ctx.source("Model", other.name)
        yield Problem(
            source.locate("spec", "tier"),
            f"model {model.name} (tier {model.tier}, rank {rank}, ${blended(model):.2f}/1M "
            f"blended) is cheaper than {other.name} (tier {other.tier}, rank "
            f"{policy.tiers[other.tier or '']}, ${blended(other):.2f}/1M)",
            "move the model to a lower tier, fix its price, or reorder the tier ranks",
            (Related(other_source.locate("spec", "pricing"), f"pricing of {other.name}"),),
        )
