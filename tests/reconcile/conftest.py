"""Reconcile fixtures: policies as YAML, the CLI in process, a real admin API on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from typer.testing import CliRunner

from routectl.admin.http import admin_app
from routectl.admin.service import AdminService
from routectl.cli.main import app
from routectl.store.sqlite import SqliteStore

TOKEN = "test-admin-token-7f3a"

# A small policy touching every kind, with secret references and a weighted split.
POLICY = """
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: frontier}
spec: {rank: 2}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: public}
spec:
  allow: {jurisdictions: [US, EU]}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
spec: {default: true, requires: [chat]}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: openai}
spec:
  baseUrl: https://api.openai.example/v1
  jurisdiction: US
  credentials: {apiKey: env:RECONCILE_TEST_OPENAI_KEY}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: mistral}
spec:
  baseUrl: https://api.mistral.example/v1
  jurisdiction: EU
  certifications: [soc2, iso27001]
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: gpt-4o}
spec:
  provider: openai
  upstreamModel: gpt-4o
  tier: frontier
  contextWindow: 128000
  maxOutputTokens: 16384
  pricing: {input: 2.5, output: 10}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: mistral-large}
spec:
  provider: mistral
  upstreamModel: mistral-large-latest
  tier: frontier
  capabilities: [chat, tools]
  contextWindow: 128000
  maxOutputTokens: 8192
  pricing: {input: 2, output: 6}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: mistral-small}
spec:
  provider: mistral
  upstreamModel: mistral-small-latest
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.2, output: 0.6}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  strategy: weighted
  targets:
    - {model: gpt-4o, weight: 95}
    - {model: mistral-large, weight: 5}
  fallback: {chain: [mistral-small]}
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-mistral}
spec: {route: default, candidate: mistral-large, percent: 10}
---
apiVersion: routectl.dev/v1
kind: Consumer
metadata: {name: web}
spec:
  apiKey: env:RECONCILE_TEST_WEB_KEY
  allow: {intents: [chat]}
"""


def write_policy(directory: Path, text: str = POLICY) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return directory


def edit(directory: Path, old: str, new: str) -> None:
    path = directory / "policy.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_split(directory: Path, gpt_4o_percent: int) -> None:
    """Change route default's weighted split (the weights must add up to 100)."""
    path = directory / "policy.yaml"
    text = re.sub(
        r"\{model: gpt-4o, weight: \d+\}",
        f"{{model: gpt-4o, weight: {gpt_4o_percent}}}",
        path.read_text(encoding="utf-8"),
    )
    rest = 100 - gpt_4o_percent
    text = re.sub(
        r"\{model: mistral-large, weight: \d+\}", f"{{model: mistral-large, weight: {rest}}}", text
    )
    path.write_text(text, encoding="utf-8")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """The routectl CLI, in process (the current directory holds the embedded store)."""
    result = CliRunner().invoke(app, list(args), env=env, input=input, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory: the embedded store lands in its .routectl/."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROUTECTL_GATEWAY", raising=False)
    monkeypatch.delenv("ROUTECTL_TOKEN", raising=False)
    return tmp_path


@pytest.fixture
def policy(workdir: Path) -> Path:
    return write_policy(workdir / "policy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """An ASGI app under uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, asgi_app) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(asgi_app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass
class Gateway:
    url: str
    store: SqliteStore


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    """The admin API (admin_app, as the gateway mounts it) over real HTTP."""
    store = SqliteStore(tmp_path / "gateway.db")
    asgi = Starlette(routes=[Mount("/admin/v1", app=admin_app(AdminService(store), TOKEN))])
    with ServerThread(asgi) as server:
        yield Gateway(server.url, store)
    store.close()
