"""RT010 inline-secret (error): a secret value written into a manifest.

Manifests live in Git; secrets must not. Credentials are references —
`env:NAME` or `file:PATH` — resolved by the gateway at runtime. The schema
already refuses anything else in `credentials.apiKey`, `credentials.headers`
and a consumer's `apiKey`; those load errors are reported under this code.
Everywhere else, lint looks for values that are secrets all the same:

- well-known token shapes anywhere: `sk-…` (OpenAI/Anthropic-style keys),
  `AKIA…` (AWS), `ghp_…` (GitHub), `xoxb-…` (Slack), `AIza…` (Google), JWTs,
  PEM private keys, `Bearer …`
- URLs with a password (`https://user:pass@host`) or a key in the query
  string (`?api_key=…`, `&token=…`)
- in labels, annotations, route match metadata and headers: values under a
  secret-sounding key (`token`, `password`, `apiKey`, …) and long,
  high-entropy strings that mix letters, digits and symbols

The finding never repeats the value. Options:

- `minLength` (int, default 20): shortest string checked for entropy
- `minEntropy` (float, default 3.5): Shannon entropy, bits per character
- `ignore` (list of regexes, default none): values that are known not to be secrets

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata:
  name: eu-cloud
  annotations: {owner: platform-team, commit: 3f2a9c1d0b8e7f6a5c4d3e2f1a0b9c8d7e6f5a4b}
spec:
  baseUrl: https://eu.example/v1
  jurisdiction: FR
  credentials: {apiKey: env:EU_KEY, headers: {X-Org: file:/run/secrets/org}}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata:
  name: eu-cloud
  annotations:
    rotation-token: "Zx9!kQ2#vL8@pR5$wT1%"  # RT010
spec:
  baseUrl: https://admin:hunter22@eu.example/v1  # RT010
  jurisdiction: FR
  credentials:
    apiKey: sk-proj-4f8a9b2c1d3e5f6a7b8c9d0e1f2a3b4c  # RT010
```
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from routectl.core.manifest import SECRET_REF_PATTERN
from routectl.lint.context import LintContext
from routectl.lint.findings import Problem
from routectl.loader.yaml_source import Location, position


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    min_length: int = Field(default=20, ge=8, alias="minLength")
    min_entropy: float = Field(default=3.5, gt=0, alias="minEntropy")
    ignore: list[re.Pattern[str]] = Field(default_factory=list)


TOKEN_SHAPES: tuple[tuple[str, str], ...] = (
    ("an API key (sk-…)", r"\bsk-[A-Za-z0-9_-]{20,}"),
    ("an AWS access key id", r"\bAKIA[0-9A-Z]{16}\b"),
    ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    ("a Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("a JSON Web Token", r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]+"),
    ("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    ("a bearer token", r"(?i:\bbearer\s+[A-Za-z0-9._~+/=-]{16,})"),
    ("a URL with a password", r"://[^/\s:@]+:[^/\s@]+@"),
    (
        "a URL with a secret in its query string",
        r"(?i:[?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|sig)=[^&\s]+)",
    ),
)
# One alternation, one search per string: every string of every document is scanned.
TOKENS = re.compile("|".join(f"(?P<t{i}>{p})" for i, (_, p) in enumerate(TOKEN_SHAPES)))
SECRET_KEY = re.compile(
    r"(?i)(api[_-]?key|token|secret|password|passwd|authorization|credential|private[_-]?key)"
)
REFERENCE = re.compile(SECRET_REF_PATTERN)
# Maps whose values are free text a secret could be pasted into.
FREE_MAPS = {("metadata", "labels"), ("metadata", "annotations"), ("match", "metadata")}


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _classes(text: str) -> int:
    return sum(
        (
            any(c.islower() for c in text),
            any(c.isupper() for c in text),
            any(c.isdigit() for c in text),
            any(not c.isalnum() for c in text),
        )
    )


def _strings(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))
    elif isinstance(node, str):
        yield path, node


def _free_text(path: tuple[str | int, ...]) -> bool:
    return len(path) >= 3 and (
        tuple(path[-3:-1]) in FREE_MAPS or tuple(path[-3:-1]) == ("credentials", "headers")
    )


def why_secret(path: tuple[str | int, ...], value: str, options: Options) -> str | None:
    if REFERENCE.match(value) or any(p.search(value) for p in options.ignore):
        return None
    token = TOKENS.search(value)
    if token is not None:
        return f"looks like {TOKEN_SHAPES[int(str(token.lastgroup)[1:])][0]}"
    if not _free_text(path) or " " in value.strip():
        return None
    key = str(path[-1])
    if SECRET_KEY.search(key) and len(value) >= 8:
        return f"the key {key!r} suggests a secret"
    if (
        len(value) >= options.min_length
        and _classes(value) >= 3
        and entropy(value) >= options.min_entropy
    ):
        return f"a {len(value)}-character high-entropy string"
    return None


def _title(raw: Any) -> str:
    if not isinstance(raw, dict):
        return "document"
    metadata = raw.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{raw.get('kind', 'document')} {name or '(unnamed)'}"


def check(ctx: LintContext, options: Options) -> Iterator[Problem]:
    documents = [(s.file, s.raw, f"{s.kind} {s.name}") for s in ctx.documents]
    for file, raw in ctx.unvalidated:  # a secret in a broken document is still in Git
        documents.append((file, raw, _title(raw)))
    for file, raw, title in documents:
        for path, value in _strings(raw, ()):
            reason = why_secret(path, value, options)
            if reason is None:
                continue
            yield Problem(
                Location(file, *position(raw, path)),
                f"{title}: {'.'.join(map(str, path))} holds what "
                f"{reason}; secret values must not be written in manifests",
                "move the value to a secret store and reference it as env:NAME or "
                "file:PATH (then rotate it: it is in the Git history now)",
            )
