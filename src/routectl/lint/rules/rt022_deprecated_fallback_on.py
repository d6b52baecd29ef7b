"""RT022 deprecated-fallback-on (warning): a fallback names its triggers with the old key `on`.

`on:` was the first name of a fallback's `triggers`. YAML 1.1 readers (PyYAML,
yaml-language-server, many CI tools) read the key `on` as the boolean `true`,
so to them the policy says something else than it says to routectl. The old
name still works; rename it (`routectl fmt` does).

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: small}]
  fallback: {chain: [big], triggers: ["429", 5xx]}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: small}]
  fallback:
    chain: [big]
    on: ["429", 5xx]  # RT022
```
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.of_kind("Route"):
        fallback = (source.raw.get("spec") or {}).get("fallback")
        if isinstance(fallback, dict) and "on" in fallback:
            yield Problem(
                source.locate("spec", "fallback", "on"),
                f"route {source.name}: fallback.on is the deprecated name of fallback.triggers "
                "(YAML 1.1 tools read the key on as true)",
                "rename the key to triggers (routectl fmt does it)",
            )
