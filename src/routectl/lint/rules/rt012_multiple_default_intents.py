"""RT012 multiple-default-intents (error): more than one intent says `default: true`.

Only one intent can be the default; the evaluator takes the first in file
order, so which one wins depends on how files happen to be sorted. Every
default after the first is reported.

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
spec: {default: true}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: summarise}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
spec: {default: true}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: summarise}
spec:
  default: true  # RT012
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem, Related


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    defaults = [s for s in ctx.of_kind("Intent") if s.doc.spec.default]
    for source in defaults[1:]:
        first = defaults[0]
        yield Problem(
            source.locate("spec", "default"),
            f"intent {source.name} is a second default; {first.name} "
            f"({first.locate('spec', 'default')}) is the one used",
            "keep 'default: true' on one intent only",
            (Related(first.locate("spec", "default"), f"the default intent {first.name}"),),
        )
