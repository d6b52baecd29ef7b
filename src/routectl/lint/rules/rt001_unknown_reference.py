"""RT001 unknown-reference (error): a document names something no document defines.

Documents refer to each other by name. A name that nothing defines is almost
always a typo, and the evaluator silently drops what it cannot resolve: a
route whose only target is misspelled can never serve a request, and a
policy test with a misspelled `neverRoutesTo` model passes without testing
anything. Checked references:

- Model: `provider` (Provider), `tier` (Tier), `quality[].intent` (Intent)
- Intent: `detect.encoder.provider` (Provider, embeddings), `detect.encoder.model`
  (Model, llm)
- Route: `targets[].model` (Model), `targets[].tier` (Tier), `fallback.chain[]`
  and `shadows[].model` (Model), `match.intents`, `match.classifications`,
  `match.consumers` (Intent, Classification, Consumer), `cascade.checks.judge.model`
  and `cascade.escalationRates` keys (Model)
- Experiment: `route` (Route), `candidate` (Model)
- Consumer: `allow.intents`, `allow.classifications`; Consumer and Team:
  `budget.thresholds[].tier` (Tier), `budget.thresholds[].route` (Route)
- PolicyTest: `expect.routesTo`, `expect.fallbacks`, `expect.neverRoutesTo`
  (Model), `expect.route` (Route); `request.intent`, `request.classification`,
  `request.consumer`, except in cases that expect `unroutable: true` (those
  may name an unknown value on purpose, to test that it is refused).

A reference to a document that exists but failed to load is not reported
again: fix the load error first.

Options: none.

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu-cloud}
spec: {baseUrl: "https://eu.example/v1", jurisdiction: DE, credentials: {apiKey: env:EU_KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-cloud
  upstreamModel: small
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: small-eu}]
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-clod  # RT001
  upstreamModel: small
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets:
    - model: small-eu
  fallback:
    chain: [small-us]  # RT001
```
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem
from routectl.loader.yaml_source import SourceDocument

Path = tuple[str | int, ...]


def _references(source: SourceDocument) -> Iterator[tuple[Path, str, str]]:
    """(path, kind, name) of every reference a document makes."""
    spec = source.doc.spec
    kind = source.kind
    if kind == "Model":
        yield ("spec", "provider"), "Provider", spec.provider
        if spec.tier is not None:
            yield ("spec", "tier"), "Tier", spec.tier
        for i, score in enumerate(spec.quality):
            if score.intent is not None:
                yield ("spec", "quality", i, "intent"), "Intent", score.intent
    elif kind == "Intent":
        encoder = spec.detect.encoder
        if encoder is not None and encoder.provider is not None:  # embeddings
            yield ("spec", "detect", "encoder", "provider"), "Provider", encoder.provider
        if encoder is not None and encoder.type.value == "llm" and encoder.model is not None:
            yield ("spec", "detect", "encoder", "model"), "Model", encoder.model
    elif kind == "Route":
        if spec.cascade is not None:
            if spec.cascade.checks.judge is not None:
                judge = ("spec", "cascade", "checks", "judge", "model")
                yield judge, "Model", spec.cascade.checks.judge.model
            for name in spec.cascade.escalation_rates:
                yield ("spec", "cascade", "escalationRates", name), "Model", name
        for i, target in enumerate(spec.targets):
            if target.model is not None:
                yield ("spec", "targets", i, "model"), "Model", target.model
            if target.tier is not None:
                yield ("spec", "targets", i, "tier"), "Tier", target.tier
        for i, name in enumerate(spec.fallback.chain):
            yield ("spec", "fallback", "chain", i), "Model", name
        for i, shadow in enumerate(spec.shadows):
            yield ("spec", "shadows", i, "model"), "Model", shadow.model
        match = spec.match
        yield from _list(("spec", "match", "intents"), match.intents, "Intent")
        yield from _list(
            ("spec", "match", "classifications"), match.classifications, "Classification"
        )
        yield from _list(("spec", "match", "consumers"), match.consumers, "Consumer")
    elif kind == "Experiment":
        yield ("spec", "route"), "Route", spec.route
        yield ("spec", "candidate"), "Model", spec.candidate
    elif kind == "Consumer":
        allow = spec.allow
        yield from _list(("spec", "allow", "intents"), allow.intents, "Intent")
        yield from _list(
            ("spec", "allow", "classifications"), allow.classifications, "Classification"
        )
        yield from _budget_references(spec.budget)
    elif kind == "Team":
        yield from _budget_references(spec.budget)
    elif kind == "PolicyTest":
        for i, case in enumerate(spec.cases):
            yield from _case_references(("spec", "cases", i), case)


def _budget_references(budget) -> Iterator[tuple[Path, str, str]]:
    """A budget's downgrade targets: a tier or a route."""
    if budget is None:
        return
    for i, threshold in enumerate(budget.thresholds):
        where = ("spec", "budget", "thresholds", i)
        if threshold.tier is not None:
            yield (*where, "tier"), "Tier", threshold.tier
        if threshold.route is not None:
            yield (*where, "route"), "Route", threshold.route


def _list(path: Path, names: list[str], kind: str) -> Iterator[tuple[Path, str, str]]:
    """References in a list of names; the path ends at the list, see :func:`_locate`."""
    for name in names:
        yield path, kind, name


def _locate(source: SourceDocument, path: Path, name: str):
    """The position of ``name`` inside the YAML list at ``path`` (the model's copy is sorted)."""
    node = source.raw
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, list) and name in node:
        return source.locate(*path, node.index(name))
    return source.locate(*path)


def _case_references(base: Path, case) -> Iterator[tuple[Path, str, str]]:
    expect = case.expect
    if expect.routes_to is not None:
        yield (*base, "expect", "routesTo"), "Model", expect.routes_to
    if expect.route is not None:
        yield (*base, "expect", "route"), "Route", expect.route
    for i, name in enumerate(expect.fallbacks or []):
        yield (*base, "expect", "fallbacks", i), "Model", name
    for i, name in enumerate(expect.never_routes_to):
        yield (*base, "expect", "neverRoutesTo", i), "Model", name
    if expect.unroutable is True:
        return
    request = case.request
    for field, kind in (
        ("intent", "Intent"),
        ("classification", "Classification"),
        ("consumer", "Consumer"),
    ):
        value = getattr(request, field)
        if value is not None:
            yield (*base, "request", field), kind, value


def check(ctx: LintContext, options: None) -> Iterator[Problem]:
    for source in ctx.documents:
        for path, kind, name in _references(source):
            if ctx.defines(kind, name):
                continue
            known = sorted(n for k, n in ctx.first if k == kind)
            close = _closest(name, known)
            hint = f"did you mean {close!r}?" if close else f"define a {kind} named {name!r}"
            if not close and known:
                hint += f" or use one of: {', '.join(known[:8])}{' …' if len(known) > 8 else ''}"
            yield Problem(
                _locate(source, path, name),
                f"{source.kind} {source.name}: unknown {kind} {name!r}",
                hint,
            )


def _closest(name: str, known: list[str]) -> str | None:
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return matches[0] if matches else None
