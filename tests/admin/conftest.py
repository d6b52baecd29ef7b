"""The admin API served for real: uvicorn on 127.0.0.1, mounted at /admin/v1 like the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from admin_helpers import OPENAPI_FILE, TOKEN, OpenApiCheck, gateway_app, serve

from routectl.admin.service import AdminService
from routectl.store import open_store


@pytest.fixture
def openapi_check() -> OpenApiCheck:
    return OpenApiCheck(json.loads(OPENAPI_FILE.read_text()))


@pytest.fixture
def service(tmp_path) -> Iterator[AdminService]:
    store = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    yield AdminService(store)
    store.close()


@pytest.fixture
def base_url(service) -> Iterator[str]:
    with serve(gateway_app(service, token=TOKEN)) as url:
        yield url + "/admin/v1"


@pytest.fixture
def api(base_url, openapi_check) -> Iterator[httpx.Client]:
    """An authenticated client of the served admin API."""
    with httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        event_hooks={"response": [openapi_check]},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
def anonymous(base_url, openapi_check) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=base_url, event_hooks={"response": [openapi_check]}, timeout=30
    ) as client:
        yield client
