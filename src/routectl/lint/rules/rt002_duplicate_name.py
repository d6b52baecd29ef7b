"""RT002 duplicate-name (error): two documents of the same kind share a name.

Names are identities: routes, tests and gateways refer to documents by kind
and name. When a name is defined twice, the first definition (in file order,
files sorted by path) is the one the policy uses and the second is ignored,
which is rarely what its author meant. The finding points at the second
definition and names the first. Documents of different kinds may share a
name (a Model and an Intent both called `code` are fine).

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: code}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata:
  name: chat  # RT002
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem, Related


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.documents:
        first = ctx.first[(source.kind, source.name)]
        if first is source:
            continue
        where = ctx.name_location(first)
        yield Problem(
            ctx.name_location(source),
            f"{source.kind} {source.name!r} is already defined at {where}; "
            "this definition is ignored",
            "rename one of them, or delete the duplicate",
            (Related(where, f"first definition of {source.kind} {source.name!r}"),),
        )
