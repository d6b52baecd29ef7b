"""RT014 experiment-candidate-is-target (warning): the candidate already serves the route.

An experiment sends a share of a route's traffic to a candidate model to
compare it with what the route does today. When the candidate already is one
of the route's targets (or a member of a target tier), the experiment mostly
compares the model with itself and its numbers mean little.

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: model-a}]
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-b}
spec: {route: default, candidate: model-b, percent: 10}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: model-a}]
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-a}
spec:
  route: default
  candidate: model-a  # RT014
  percent: 10
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.of_kind("Experiment"):
        spec = source.doc.spec
        if ("Route", spec.route) not in ctx.first:
            continue
        route = ctx.source("Route", spec.route).doc.spec
        targets = set()
        for target in route.targets:
            if target.model is not None:
                targets.add(target.model)
            elif target.tier is not None:
                targets.update(ctx.tier_members(target.tier))
        if spec.candidate in targets:
            yield Problem(
                source.locate("spec", "candidate"),
                f"experiment {source.name}: candidate {spec.candidate!r} is already a target "
                f"of route {spec.route}",
                "choose a candidate the route does not use yet",
            )
