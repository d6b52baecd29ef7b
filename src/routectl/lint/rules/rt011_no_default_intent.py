"""RT011 no-default-intent (warning): intents are defined but none is the default.

A request that names no intent and matches no intent's detection rules gets
the default intent (`default: true`). Without one it has no intent, so only
routes that match every intent can take it, and a route limited to intents
never sees it. One intent should be the default, usually general chat.

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
metadata: {name: code}
spec: {detect: {keywords: [python]}}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata:
  name: chat  # RT011
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: code}
spec: {detect: {keywords: [python]}}
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem

WHOLE_POLICY = True  # concludes from absence: silent while a document failed to load


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    intents = ctx.of_kind("Intent")
    if intents and not any(s.doc.spec.default for s in intents):
        yield Problem(
            ctx.name_location(intents[0]),
            f"none of the {len(intents)} intents is the default: requests that name "
            "no intent and match no detection rule get none",
            f"set 'default: true' on one intent (e.g. {intents[0].name})",
        )
