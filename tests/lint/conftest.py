"""Helpers for lint tests: policies as YAML text, the CLI run in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routectl.cli.main import app

HEADER = "apiVersion: routectl.dev/v1\n"

# A small, clean policy: two providers (EU, US), a pii class that must stay
# in the EU, two intents, a pii route and a catch-all.
CLEAN = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu-cloud}
spec: {baseUrl: "https://eu.example/v1", jurisdiction: FR, credentials: {apiKey: env:EU_KEY}}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: us-cloud}
spec: {baseUrl: "https://us.example/v1", jurisdiction: US, credentials: {apiKey: env:US_KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small-eu}
spec:
  provider: eu-cloud
  upstreamModel: small
  capabilities: [chat, code]
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: big-us}
spec:
  provider: us-cloud
  upstreamModel: big
  capabilities: [chat, code]
  contextWindow: 128000
  maxOutputTokens: 16384
  pricing: {input: 2.5, output: 10}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: pii}
spec: {allow: {jurisdictions: [EU]}}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: public}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
spec: {default: true}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: code}
spec: {requires: [code]}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: pii}
spec:
  order: 10
  match: {classifications: [pii]}
  targets: [{model: small-eu}]
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  order: 100
  targets: [{model: big-us}]
  fallback: {chain: [small-eu]}
"""


def write(directory: Path, text: str, name: str = "policy.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line containing ``needle``."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def run_cli(monkeypatch):
    def run(*args: str, cwd: Path | None = None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return run
