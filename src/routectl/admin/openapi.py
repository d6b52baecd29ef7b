"""The admin API's OpenAPI 3.1 document, generated from the wire models.

Request bodies come from the models :class:`~routectl.admin.service.AdminService`
validates with; responses from the models below, which describe exactly what
the service returns (the admin tests validate every answer they get against
this document). ``schemas/admin-openapi.json`` is its committed copy::

    python -m routectl.admin.openapi > schemas/admin-openapi.json
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from routectl.admin.service import ChangeSetIn


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceOut(_Out):
    address: str = Field(description="kind/name, e.g. provider/openai")
    kind: str
    name: str
    owner: str | None
    protected: bool
    labels: dict[str, str]
    spec: dict[str, Any] = Field(
        description="Canonical spec; pushed secrets appear as {fingerprint}, never as values."
    )
    hash: str = Field(description="Content hash of the stored resource (sha256:…)")
    revision: int = Field(description="The revision that last changed this resource")
    updated_at: str
    updated_by: str


class Config(_Out):
    revision: int = Field(ge=0)
    resources: list[ResourceOut]


class Change(_Out):
    action: Literal["create", "update", "delete"]
    address: str


class RevisionOut(_Out):
    revision: int = Field(ge=1)
    author: str
    created_at: str
    plan_hash: str | None
    summary: str | None
    changes: list[Change]


class ApplyResult(_Out):
    revision: int = Field(description="The new revision")
    applied: int = Field(description="How many operations the change set held")


class Health(_Out):
    status: Literal["ok"]
    revision: int


class ErrorDetail(_Out):
    code: str
    message: str
    path: list[str | int] | None = Field(
        default=None, description="422: where in the body or query the problem is"
    )
    expected_revision: int | None = Field(default=None, description="412: the If-Match sent")
    current_revision: int | None = Field(default=None, description="412: the store's revision")


class Error(_Out):
    error: ErrorDetail


class BudgetSpend(_Out):
    budget: str = Field(description="consumer/NAME or team/NAME")
    kind: Literal["consumer", "team"]
    name: str
    amountUsd: float  # noqa: N815 (wire name)
    period: Literal["daily", "weekly", "monthly"]
    timeZone: str  # noqa: N815
    rolling: bool
    bucket: str = Field(description="The counter bucket of the current period")
    spentUsd: float = Field(description="Spent in the current period")  # noqa: N815
    shadowUsd: float = Field(description="Shadow copies, charged apart")  # noqa: N815
    used: float = Field(description="spentUsd / amountUsd (1 = 100%)")
    action: Literal["downgrade", "block"] | None = Field(
        description="The threshold acting now, if any"
    )
    members: list[str] = Field(description="Consumers this budget applies to")


class Spend(_Out):
    counters: Literal["memory", "redis"]
    budgets: list[BudgetSpend]


MODELS: tuple[type[BaseModel], ...] = (
    ChangeSetIn,
    ResourceOut,
    Config,
    RevisionOut,
    ApplyResult,
    Health,
    Error,
    Spend,
)

_ERRORS = {
    400: "Malformed If-Match header",
    401: "Missing or malformed Authorization header",
    403: "Wrong token, or a non-loopback client of an insecure local API",
    404: "No such resource, revision or route",
    409: "The change set cannot apply (exists, missing, hash mismatch); nothing written",
    412: "Stale If-Match: the configuration moved; nothing written",
    413: "Body larger than the limit (10 MiB)",
    422: "Invalid query parameter or body (error.path locates it)",
    428: "If-Match missing",
    503: "The configuration store is unavailable",
}
_ETAG = {"ETag": {"description": 'The revision, quoted: "7"', "schema": {"type": "string"}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: dict[str, Any], etag: bool = True) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if etag:
        answer["headers"] = _ETAG
    return answer


def _operation(
    summary: str, ok: dict[str, Any], errors: tuple[int, ...], public: bool = False, **extra: Any
) -> dict[str, Any]:
    responses = {"200": ok}
    for status in errors:
        responses[str(status)] = _ok(_ERRORS[status], _ref("Error"), etag=status == 412)
    operation: dict[str, Any] = {"summary": summary, **extra, "responses": responses}
    if public:
        operation["security"] = []
    return operation


_AUTH = (401, 403)


def _paths() -> dict[str, Any]:
    revision_param = {
        "name": "revision",
        "in": "query",
        "required": False,
        "description": "Read a past revision instead of the current one",
        "schema": {"type": "integer", "minimum": 0},
    }
    return {
        "/health": {
            "get": _operation(
                "Readiness: the store answers", _ok("Ready", _ref("Health"), False), (503,), True
            )
        },
        "/openapi.json": {
            "get": _operation(
                "This document", _ok("OpenAPI 3.1", {"type": "object"}, False), (), True
            )
        },
        "/spend": {
            "get": _operation(
                "Current spend of every consumer and team budget (a running gateway only)",
                _ok("Spend", _ref("Spend")),
                (*_AUTH, 404, 503),
            )
        },
        "/config": {
            "get": _operation(
                "The whole configuration with its revision and per-resource hashes",
                _ok("Configuration", _ref("Config")),
                (*_AUTH, 404, 422, 503),
                parameters=[revision_param],
            )
        },
        "/resources/{kind}/{name}": {
            "get": _operation(
                "One resource of the current configuration",
                _ok("Resource", _ref("ResourceOut")),
                (*_AUTH, 404, 503),
                parameters=[
                    {"name": "kind", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            )
        },
        "/revisions": {
            "get": _operation(
                "History of applied revisions, newest first",
                _ok("Revisions", {"type": "array", "items": _ref("RevisionOut")}),
                (*_AUTH, 422, 503),
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    }
                ],
            )
        },
        "/revisions/{revision}": {
            "get": _operation(
                "The configuration as it was at a past revision",
                _ok("Configuration", _ref("Config")),
                (*_AUTH, 404, 503),
                parameters=[
                    {
                        "name": "revision",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
            )
        },
        "/changesets": {
            "post": _operation(
                "Apply a change set atomically against the revision it was planned on",
                _ok("Applied", _ref("ApplyResult")),
                (400, *_AUTH, 409, 412, 413, 422, 428, 503),
                parameters=[
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": True,
                        "description": 'The expected current revision, e.g. "3"',
                        "schema": {"type": "string"},
                    }
                ],
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ChangeSetIn")}},
                },
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(model, "validation") for model in MODELS],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "routectl gateway admin API",
            "version": "1",
            "description": "Read and change a routectl gateway's revisioned configuration. "
            "Pushed secret values are write-only: reads show fingerprints.",
        },
        "servers": [{"url": "/admin/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
