"""RT015 model-limits-sanity (warning): prices and token limits that look wrong.

Cost-aware routing is only as good as the numbers it is given. Flagged:

- a price per million tokens above `maxPricePerMillion` (a per-1K price
  entered as per-1M, or a typo)
- a cached-input price higher than the uncached input price
- a hosted model whose input and output prices are both zero (`cheapest`
  routes would always prefer it); on-prem and sovereign models may be free
- `maxOutputTokens` equal to `contextWindow`: an answer that long leaves no
  room for the prompt, so the limit is probably a copy of the window

Options:

- `maxPricePerMillion` (float, default 1000): the highest believable list
  price in USD per million tokens

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
  pricing: {input: 0.2, output: 0.6, cachedInput: 0.05}
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
  maxOutputTokens: 32000  # RT015
  pricing:
    input: 0.2
    output: 2500  # RT015
    cachedInput: 0.4  # RT015
```
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    max_price_per_million: float = Field(default=1000.0, gt=0, alias="maxPricePerMillion")


def check(ctx: LintContext, options: Options) -> Iterator[Problem]:
    for source in ctx.of_kind("Model"):
        spec = source.doc.spec
        name = source.name
        pricing = spec.pricing
        for field, value in (("input", pricing.input), ("output", pricing.output)):
            if value > options.max_price_per_million:
                yield Problem(
                    source.locate("spec", "pricing", field),
                    f"model {name}: {field} price ${value:,}/1M tokens is above "
                    f"${options.max_price_per_million:,}",
                    "prices are USD per million tokens; a per-1K price must be multiplied by 1000",
                )
        if pricing.cached_input is not None and pricing.cached_input > pricing.input:
            yield Problem(
                source.locate("spec", "pricing", "cachedInput"),
                f"model {name}: cached input (${pricing.cached_input}/1M) costs more than "
                f"uncached input (${pricing.input}/1M)",
                "check the prices: cached input is a discount",
            )
        provider = ctx.policy.providers.get(spec.provider)
        if pricing.input == 0 and pricing.output == 0 and provider and provider.hosting == "hosted":
            yield Problem(
                source.locate("spec", "pricing"),
                f"model {name}: hosted by {provider.name} but priced at zero; cheapest "
                "routes will always prefer it",
                "enter the list price (on-prem models may be free: set the provider's hosting)",
            )
        if spec.max_output_tokens == spec.context_window:
            yield Problem(
                source.locate("spec", "maxOutputTokens"),
                f"model {name}: maxOutputTokens equals contextWindow ({spec.context_window:,}), "
                "leaving no room for the prompt",
                "set maxOutputTokens to the provider's documented output limit",
            )
