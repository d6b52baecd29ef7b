"""RT021 ambiguous-model-alias (error): a model alias that another model's name or alias claims.

A request's `model` field asks for a model by its name or by one of the
`aliases` its Model declares. A name that two models claim can only mean
one of them: a model's own name wins over any alias, and between aliases
the first definition wins. The other declaration changes nothing, and a
client asking for it silently gets a model its author did not mean.

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
metadata: {name: large-2411}
spec:
  provider: cloud
  upstreamModel: large-2411
  aliases: [large-latest]
  contextWindow: 128000
  maxOutputTokens: 4096
  pricing: {input: 2, output: 6}
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
metadata: {name: large-2411}
spec:
  provider: cloud
  upstreamModel: large-2411
  aliases: [large-latest]
  contextWindow: 128000
  maxOutputTokens: 4096
  pricing: {input: 2, output: 6}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: large-2502}
spec:
  provider: cloud
  upstreamModel: large-2502
  aliases:
    - large-latest  # RT021
    - large-2411  # RT021
  contextWindow: 128000
  maxOutputTokens: 4096
  pricing: {input: 2, output: 6}
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    models = ctx.of_kind("Model")
    names = {source.name for source in models}
    claimed: dict[str, str] = {}
    for source in models:
        for index, alias in enumerate(source.doc.spec.aliases):
            if alias in names and alias != source.name:
                owner = f"model {alias!r}'s own name"
            elif alias in claimed and claimed[alias] != source.name:
                owner = f"already an alias of model {claimed[alias]!r}"
            else:
                claimed.setdefault(alias, source.name)
                continue
            yield Problem(
                source.locate("spec", "aliases", index),
                f"model {source.name}: alias {alias!r} is {owner}; "
                "a request for it never reaches this model",
                "give this model an alias no other model claims, or remove it",
            )
