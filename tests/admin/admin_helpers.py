"""Helpers for the admin API tests: a real uvicorn server, OpenAPI checks, change sets.

Every answer a test gets is checked against the committed OpenAPI document
(status declared for the operation, body valid against its schema) and kept,
so a test can grep everything the API ever said.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from routectl.admin.http import admin_app
from routectl.admin.service import AdminService

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_FILE = ROOT / "schemas" / "admin-openapi.json"
TOKEN = "test-admin-token-7f3a"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a free 127.0.0.1 port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def gateway_app(service: AdminService, **options: Any) -> Starlette:
    return Starlette(routes=[Mount("/admin/v1", admin_app(service, **options))])


class OpenApiCheck:
    """Validates answers against the committed document and records them."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: list[httpx.Response] = []
        self._templates = [
            (re.compile("^/admin/v1" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in document["paths"]
        ]

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.seen.append(response)
        request = response.request
        template = next((t for rx, t in self._templates if rx.match(request.url.path)), None)
        operation = self.document["paths"].get(template, {}).get(request.method.lower())
        if operation is None:  # unknown route or method: still a JSON error
            assert response.status_code in (404, 405), f"{request.method} {request.url.path}"
            self._validate(response.json(), {"$ref": "#/components/schemas/Error"})
            return
        declared = operation["responses"]
        assert str(response.status_code) in declared, (
            f"{request.method} {template} answered {response.status_code}, "
            f"which the OpenAPI document does not declare"
        )
        schema = declared[str(response.status_code)]["content"]["application/json"]["schema"]
        self._validate(response.json(), schema)

    def _validate(self, body: Any, schema: dict[str, Any]) -> None:
        # Refs point at #/components/…: give the schema the document's components.
        jsonschema.validate(body, {**schema, "components": self.document["components"]})

    def everything_said(self) -> str:
        return "\n".join(f"{r.status_code} {dict(r.headers)} {r.text}" for r in self.seen)


# ----------------------------------------------------------------------------- change sets

PROVIDER_SPEC = {"baseUrl": "https://api.example/v1", "jurisdiction": "DE"}


def create(name: str, spec: dict[str, Any] | None = None, kind: str = "Provider") -> dict:
    return {
        "action": "create",
        "kind": kind,
        "name": name,
        "resource": {"spec": spec or PROVIDER_SPEC, "owner": "git:test"},
    }


def changeset(*operations: dict, author: str = "alice", **extra: Any) -> dict:
    return {"author": author, "operations": list(operations), **extra}


def if_match(revision: int) -> dict[str, str]:
    return {"If-Match": f'"{revision}"'}
