"""RT003 route-weights (error): weights that do not add up to a traffic split.

A `weighted` route splits its traffic between its targets by `weight`, in
percent: every target needs a weight and the weights must sum to 100 (the
evaluator would otherwise rescale silently). A target must name a model, not
a tier: a tier expands to several models, and which one takes the share would
depend on prices. On a `priority` or `cheapest` route a weight means nothing
and usually shows that `strategy: weighted` was forgotten.

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: split}
spec:
  strategy: weighted
  targets:
    - {model: model-a, weight: 90}
    - {model: model-b, weight: 10}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: split}
spec:
  strategy: weighted
  targets:  # RT003
    - {model: model-a, weight: 90}
    - {model: model-b, weight: 20}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: ordered}
spec:
  targets:
    - {model: model-a, weight: 50}  # RT003
    - {model: model-b}
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
        name = source.name
        if not STRATEGIES[spec.strategy].weights:
            for i, target in enumerate(spec.targets):
                if target.weight is not None:
                    yield Problem(
                        source.locate("spec", "targets", i),
                        f"route {name}: weight {target.weight} on a {spec.strategy} route "
                        "has no effect",
                        "set 'strategy: weighted', or remove the weight",
                    )
            continue
        unweighted = False
        for i, target in enumerate(spec.targets):
            if target.tier is not None:
                yield Problem(
                    source.locate("spec", "targets", i),
                    f"route {name}: tier target {target.tier!r} in a weighted route",
                    "name the model that gets this share instead of its tier",
                )
            if target.weight is None:
                unweighted = True
                yield Problem(
                    source.locate("spec", "targets", i),
                    f"route {name}: target without a weight in a weighted route",
                    "give every target a weight (percent); the weights must sum to 100",
                )
        total = sum(t.weight or 0 for t in spec.targets)
        if not unweighted and total != 100:
            yield Problem(
                source.locate("spec", "targets"),
                f"route {name}: weights sum to {total}, not 100",
                "adjust the weights so they add up to 100 (percent of traffic)",
            )
