"""RT016 plain-http-provider (warning): a provider reached over plain HTTP on a non-local host.

Prompts, completions and API keys sent over `http://` can be read and changed
by anything on the path. Plain HTTP is fine to the machine itself
(`localhost`, `127.0.0.1`, `::1`); anything else should use `https://`, or be
listed in `allowHosts` when the network is trusted (a sidecar, a service
mesh that encrypts).

Options:

- `allowHosts` (list of host patterns, default none): shell-style patterns
  such as `*.svc.cluster.local` reached over plain HTTP on purpose

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: local-vllm}
spec: {baseUrl: "http://127.0.0.1:8000/v1", jurisdiction: DE, hosting: on-prem}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: gpu-box}
spec:
  baseUrl: http://gpu-box.example.com:8000/v1  # RT016
  jurisdiction: DE
  hosting: on-prem
```
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from routectl.lint.context import LintContext
from routectl.lint.findings import Problem

LOOPBACK = ("localhost", "127.*", "::1", "*.localhost")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    allow_hosts: list[str] = Field(default_factory=list, alias="allowHosts")


def check(ctx: LintContext, options: Options) -> Iterator[Problem]:
    for source in ctx.of_kind("Provider"):
        url = source.doc.spec.base_url
        parts = urlsplit(url)
        if parts.scheme != "http":
            continue
        host = (parts.hostname or "").lower()
        if any(fnmatch.fnmatch(host, p) for p in (*LOOPBACK, *options.allow_hosts)):
            continue
        yield Problem(
            source.locate("spec", "baseUrl"),
            f"provider {source.name}: plain http to {host}: prompts and keys travel unencrypted",
            "use https://, or allow the host in .routectl.yaml "
            "(lint.rules.RT016.options.allowHosts) if the network is trusted",
        )
