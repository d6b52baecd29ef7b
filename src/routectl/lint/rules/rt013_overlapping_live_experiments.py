"""RT013 overlapping-live-experiments (error): two enabled live experiments on one route.

A route runs at most one live experiment at a time: the evaluator takes the
first and skips the others, so the second experiment collects no data while
looking active. Run them one after the other, disable one (`enabled: false`),
or make one a `shadow` experiment (shadows may overlap).

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-b}
spec: {route: default, candidate: model-b, percent: 10}
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-c}
spec: {route: default, candidate: model-c, percent: 10, mode: shadow}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-b}
spec: {route: default, candidate: model-b, percent: 10}
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-c}
spec:
  route: default  # RT013
  candidate: model-c
  percent: 10
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem, Related
from routectl.loader.yaml_source import SourceDocument


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    live: dict[str, SourceDocument] = {}
    for source in ctx.of_kind("Experiment"):
        spec = source.doc.spec
        if not spec.enabled or spec.mode != "live":
            continue
        first = live.setdefault(spec.route, source)
        if first is source:
            continue
        where = first.locate("spec", "route")
        yield Problem(
            source.locate("spec", "route"),
            f"experiment {source.name}: route {spec.route} already runs the live experiment "
            f"{first.name} ({where}); this one would get no traffic",
            "disable one of them (enabled: false), or make this one 'mode: shadow'",
            (Related(where, f"live experiment {first.name}"),),
        )
