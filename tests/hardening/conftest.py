"""Hardening fixtures: the gateway tests' fixtures, with an upstream that can also answer
400 ``context_length_exceeded`` and 503, and a store whose reads can be made to fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.conftest import (  # noqa: F401  (fixtures)
    APP_KEY,
    GatewayHandle,
    configure,
    credentials,
    gateway,
    mock,
    policy_dir,
    start_gateway,
    store,
)
from gateway.servers import ServerThread
from hardening.faulty_upstream import FaultyUpstream


@pytest.fixture(scope="session")
def mock_server() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream()
    with ServerThread(upstream.app) as server:
        upstream.url = server.url  # type: ignore[attr-defined]
        yield upstream
