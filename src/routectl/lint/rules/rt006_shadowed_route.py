"""RT006 shadowed-route (error): a route that can never match, because an earlier one always does.

Routes are tried in ascending `order` (ties: file order) and the first match
wins. When an earlier route's match is at least as broad as a later route's
in every field — each field is empty (any) on the earlier route or lists a
superset of the later route's values, and its metadata pairs are a subset —
the later route never sees a request. This usually means the order is
inverted: a catch-all placed before a specific route, or a general intent
route before its per-consumer exception.

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: code-for-ci}
spec:
  order: 10
  match: {intents: [code], consumers: [ci-bot]}
  targets: [{model: model-a}]
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: code}
spec:
  order: 20
  match: {intents: [code]}
  targets: [{model: model-b}]
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: code}
spec:
  order: 10
  match: {intents: [code, chat]}
  targets: [{model: model-b}]
---
apiVersion: routectl.dev/v1
kind: Route
metadata:
  name: code-for-ci  # RT006
spec:
  order: 20
  match: {intents: [code], consumers: [ci-bot]}
  targets: [{model: model-a}]
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem, Related
from routectl.lint.matching import CoverIndex


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    index = CoverIndex()
    sources = {info.name: source for info, source in ctx.routes}
    for route, source in ctx.routes:
        earlier = index.first_coverer(route)
        index.add(route)
        if earlier is None:
            continue
        where = ctx.name_location(sources[earlier.name])
        yield Problem(
            ctx.name_location(source),
            f"route {route.name} (order {route.order}) can never match: route "
            f"{earlier.name} (order {earlier.order}, {where}) matches every request it does",
            f"give {route.name} a lower order than {earlier.name}, "
            f"or narrow {earlier.name}'s match",
            (Related(where, f"route {earlier.name} takes this traffic first"),),
        )
