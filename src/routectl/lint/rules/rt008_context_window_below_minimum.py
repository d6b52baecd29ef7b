"""RT008 context-window-below-minimum (error): a target smaller than the route's minContextWindow.

`constraints.minContextWindow` says the route's requests need at least that
many tokens of context. A model target or fallback whose `contextWindow` is
smaller is filtered out of every request on the route, so naming it there is
a mistake (often a stale entry after the minimum was raised). A tier target
is reported only when no model of the tier is large enough.

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
metadata: {name: long-eu}
spec:
  provider: eu-cloud
  upstreamModel: long
  contextWindow: 200000
  maxOutputTokens: 8192
  pricing: {input: 1, output: 4}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: documents}
spec:
  constraints: {minContextWindow: 100000}
  targets: [{model: long-eu}]
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
metadata: {name: long-eu}
spec:
  provider: eu-cloud
  upstreamModel: long
  contextWindow: 200000
  maxOutputTokens: 8192
  pricing: {input: 1, output: 4}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: short-eu}
spec:
  provider: eu-cloud
  upstreamModel: short
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: documents}
spec:
  constraints: {minContextWindow: 100000}
  targets: [{model: long-eu}]
  fallback:
    chain: [short-eu]  # RT008
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.of_kind("Route"):
        spec = source.doc.spec
        minimum = spec.constraints.min_context_window
        if minimum is None:
            continue
        entries: list[tuple[tuple[str | int, ...], str, tuple[str, ...]]] = []
        for i, target in enumerate(spec.targets):
            if target.model is not None:
                entries.append((("spec", "targets", i), "target", (target.model,)))
            elif target.tier is not None:
                members = ctx.tier_members(target.tier)
                entries.append((("spec", "targets", i), f"tier {target.tier!r}", members))
        for i, name in enumerate(spec.fallback.chain):
            entries.append((("spec", "fallback", "chain", i), "fallback", (name,)))
        for path, role, names in entries:
            models = [m for m in (ctx.model(n) for n in names) if m is not None]
            if not models or any(m.context_window >= minimum for m in models):
                continue
            largest = max(models, key=lambda m: m.context_window)
            subject = f"{role} {largest.name!r}" if role in ("target", "fallback") else role
            yield Problem(
                source.locate(*path),
                f"route {source.name}: {subject} has a context window of "
                f"{largest.context_window:,} tokens, below the route minimum of {minimum:,}",
                "target a model with a large enough context window, or lower "
                "constraints.minContextWindow",
            )
