"""RT004 fallback-cycle (error): a fallback chain that leads back to where it started.

A fallback chain is the list of models tried, in order, when the primary
fails (429, 5xx, timeout, …). A chain that names a model twice, or names a
model that is already one of the route's targets (explicitly or as a member
of a target tier), loops back to a model that has just failed: the retry
hits the same upstream under the same pressure, and the real alternatives
further down the chain are reached later or never. The evaluator drops the
repeats at runtime; lint reports them so the chain says what it does.

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

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.of_kind("Route"):
        spec = source.doc.spec
        targets: dict[str, str] = {}
        for target in spec.targets:
            if target.model is not None:
                targets.setdefault(target.model, "a target of this route")
            elif target.tier is not None:
                for member in ctx.tier_members(target.tier):
                    targets.setdefault(member, f"a member of the target tier {target.tier!r}")
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
