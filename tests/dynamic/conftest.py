"""Dynamic-routing fixtures: a mock provider that answers badly, and a policy around it.

The gateway fixtures (store, start_gateway, …) are the gateway suite's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dynamic.mock_llm import MockLLM
from gateway.conftest import (  # noqa: F401 - fixtures
    APP_KEY,
    apply_policy,
    credentials,
    join,
    policy_dir,
    start_gateway,
    store,
)
from gateway.servers import ServerThread

__all__ = ["APP_KEY", "apply_policy", "join"]

MODELS = {  # name: (provider, input $/1M, output $/1M, capabilities)
    "m-local": ("p-local", 0.0, 0.0, "[chat, code, json]"),
    "m-mid": ("p-mid", 1.0, 2.0, "[chat, code, json]"),
    "m-big": ("p-big", 5.0, 15.0, "[chat, code, json]"),
    "m-judge": ("p-judge", 0.5, 1.0, "[chat, json]"),
    "m-classifier": ("p-classifier", 0.1, 0.2, "[chat, json]"),
}


def dynamic_policy(url: str) -> str:
    docs = []
    for provider in sorted({p for p, *_ in MODELS.values()} | {"p-embed"}):
        docs.append(
            f"kind: Provider\nmetadata: {{name: {provider}}}\nspec:\n"
            f"  baseUrl: {url}/{provider}\n  jurisdiction: DE\n"
            "  credentials: {apiKey: env:GW_TEST_PROVIDER_KEY}\n  timeoutSeconds: 2\n"
        )
    for name, (provider, price_in, price_out, caps) in MODELS.items():
        docs.append(
            f"kind: Model\nmetadata: {{name: {name}}}\nspec:\n  provider: {provider}\n"
            f"  upstreamModel: up-{name}\n  capabilities: {caps}\n  contextWindow: 100000\n"
            f"  maxOutputTokens: 4096\n  pricing: {{input: {price_in}, output: {price_out}}}\n"
        )
    docs.append(
        "kind: Consumer\nmetadata: {name: app}\nspec: {team: web, apiKey: env:GW_TEST_APP_KEY}"
    )
    return join(*docs)


@pytest.fixture(scope="session")
def llm_server() -> Iterator[MockLLM]:
    mock = MockLLM()
    with ServerThread(mock.app) as server:
        mock.url = server.url
        yield mock


@pytest.fixture
def llm(llm_server: MockLLM) -> MockLLM:
    llm_server.scripts.clear()
    return llm_server


@pytest.fixture
def write_policy(tmp_path, llm):
    """Write the base policy plus ``extra`` documents to a fresh directory; return it."""
    counter = iter(range(1000))

    def write(*extra: str):
        directory = tmp_path / f"policy-{next(counter)}"
        directory.mkdir()
        docs = [doc for text in extra for doc in text.strip().split("\n---\n")]
        (directory / "policy.yaml").write_text(join(dynamic_policy(llm.url), *docs))
        return directory

    return write
