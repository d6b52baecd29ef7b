"""The admin service: one implementation of the admin API, two ways in.

``routectl gateway serve`` exposes it over HTTP (:mod:`routectl.admin.http`);
``routectl plan/apply/drift`` without ``--gateway`` call it in process against
the local store (the embedded default). Both speak the same JSON documents,
validated here with pydantic, so the embedded and remote paths cannot drift.

Wire format (``/admin/v1``)::

    GET  /config[?revision=N]   -> Config      {revision, resources: [ResourceOut]}
    GET  /resources/{kind}/{name} -> ResourceOut
    POST /changesets  (If-Match: "<revision>")  ChangeSetIn -> {revision, applied}
                                                 412 stale revision, 422 invalid
    GET  /revisions[?limit=N]   -> [RevisionOut]  (newest first; limit 1..1000, default 100)
    GET  /revisions/{n}         -> Config at revision n
    GET  /health                -> {status: "ok", revision}   (no auth; 503 if the store is down)
    GET  /openapi.json          -> the OpenAPI 3.1 document   (no auth)

Reads carry ``ETag: "<revision>"``. Every other route needs ``Authorization:
Bearer <token>`` (401 missing/malformed, 403 wrong). Errors are
``{"error": {"code", "message", ...}}``; 422 adds ``path`` (where in the body or
query), 412 adds ``expected_revision`` and ``current_revision``. Other statuses:
400 malformed If-Match, 404 unknown resource/revision/route, 409 InvalidChange
(nothing written), 413 body over 10 MiB, 428 If-Match missing, 503 store down.

A resource's secret fields are reference strings (``env:NAME``) or, after a
push, ``{"fingerprint": "sha256:…"}``; a pushed ``{"value": …}`` is accepted on
input only and never appears in any output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routectl.core.manifest import KINDS, NAME_PATTERN
from routectl.core.state import Resource, address, documents_from_resources, secret_paths
from routectl.gateway.egress import EgressPolicy, unusable_value
from routectl.store.base import (
    ChangeSet,
    ConfigStore,
    InvalidChange,
    Operation,
    Snapshot,
    StoredResource,
)

KIND_BY_PLURAL = {kind.lower(): kind for kind in KINDS}
FINGERPRINT_PATTERN = re.compile(r"^sha256:[0-9a-f]{16}$")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceIn(_Wire):
    spec: dict[str, Any]
    owner: str | None = None
    protected: bool = False
    labels: dict[str, str] = Field(default_factory=dict)


class OperationIn(_Wire):
    action: Literal["create", "update", "delete"]
    kind: Literal[
        "Tier",
        "Classification",
        "Intent",
        "Provider",
        "Model",
        "Team",
        "Consumer",
        "Route",
        "Experiment",
    ]
    name: str = Field(pattern=NAME_PATTERN)
    resource: ResourceIn | None = None
    expected_hash: str | None = None


class ChangeSetIn(_Wire):
    author: str = Field(min_length=1, max_length=200)
    plan_hash: str | None = None
    summary: str | None = Field(default=None, max_length=2000)
    operations: list[OperationIn] = Field(max_length=100_000)


class NotFound(Exception):
    pass


class InvalidPayload(Exception):
    """A request body that does not validate; ``path`` locates the offending field."""

    def __init__(self, message: str, path: list[str | int]) -> None:
        super().__init__(message)
        self.path = path


def resource_out(stored: StoredResource) -> dict[str, Any]:
    r = stored.resource
    return {
        "address": r.address,
        "kind": r.kind,
        "name": r.name,
        "owner": r.owner,
        "protected": r.protected,
        "labels": dict(r.labels or {}),
        "spec": r.spec,
        "hash": stored.hash,
        "revision": stored.revision,
        "updated_at": stored.updated_at.isoformat(),
        "updated_by": stored.updated_by,
    }


def config_out(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "revision": snapshot.revision,
        "resources": [resource_out(s) for s in snapshot.resources.values()],
    }


class AdminService:
    """``egress``: the serving gateway's limits on references and provider hosts, checked on
    every change set (None: the embedded store, checked by the gateway when it loads)."""

    def __init__(self, store: ConfigStore, egress: EgressPolicy | None = None) -> None:
        self.store = store
        self.egress = egress

    def get_config(self, revision: int | None = None) -> dict[str, Any]:
        try:
            return config_out(self.store.snapshot(revision))
        except InvalidChange as exc:
            raise NotFound(str(exc)) from None

    def get_resource(self, kind: str, name: str) -> dict[str, Any]:
        kind_name = KIND_BY_PLURAL.get(kind.lower().removesuffix("s"), kind)
        snapshot = self.store.snapshot()
        stored = snapshot.resources.get(address(kind_name, name))
        if stored is None:
            raise NotFound(f"no resource {address(kind_name, name)}")
        return resource_out(stored)

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        return [
            {
                "revision": info.revision,
                "author": info.author,
                "created_at": info.created_at.isoformat(),
                "plan_hash": info.plan_hash,
                "summary": info.summary,
                "changes": list(info.changes),
            }
            for info in self.store.history(limit)
        ]

    def apply(self, payload: Any, if_match: int) -> dict[str, Any]:
        """Validate and apply a change set; raises InvalidPayload, InvalidChange, StaleRevision."""
        try:
            changeset_in = ChangeSetIn.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidPayload(first["msg"], list(first["loc"])) from None
        operations = tuple(
            Operation(
                action=op.action,
                kind=op.kind,
                name=op.name,
                resource=(
                    Resource(
                        kind=op.kind,
                        name=op.name,
                        spec=op.resource.spec,
                        owner=op.resource.owner,
                        protected=op.resource.protected,
                        labels=op.resource.labels,
                    )
                    if op.resource is not None
                    else None
                ),
                expected_hash=op.expected_hash,
            )
            for op in changeset_in.operations
        )
        self._validate_result(operations)
        changeset = ChangeSet(
            operations=operations,
            author=changeset_in.author,
            plan_hash=changeset_in.plan_hash,
            summary=changeset_in.summary,
        )
        revision = self.store.apply(changeset, if_match)
        return {"revision": revision, "applied": len(operations)}

    def _validate_result(self, operations: tuple[Operation, ...]) -> None:
        """Every resource written must be a valid document; nothing invalid is stored."""
        for index, op in enumerate(operations):
            if op.resource is None:
                if op.action != "delete":
                    raise InvalidPayload(
                        f"{op.action} needs a resource", ["operations", index, "resource"]
                    )
                continue
            location: list[str | int] = ["operations", index, "resource", "spec"]
            _check_secret_fields(op.resource, location)
            if self.egress is not None and isinstance(op.resource.spec, Mapping):
                for path, reason in self.egress.problems(op.kind, op.resource.spec):
                    raise InvalidPayload(
                        f"{op.kind}/{op.name}: {'.'.join(map(str, path))}: {reason}",
                        [*location, *path],
                    )
            try:
                documents_from_resources([op.resource])
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = [p for p in first["loc"] if p != op.kind]
                if loc and loc[0] == "spec":
                    loc = loc[1:]
                raise InvalidPayload(
                    f"{op.kind}/{op.name}: {first['msg']}",
                    ["operations", index, "resource", "spec", *loc],
                ) from None


def _check_secret_fields(resource: Resource, location: list[str | int]) -> None:
    """A secret field holds a reference, a pushed {"value"} or a read-back {"fingerprint"}.

    Anything else (a mistyped key, a secret pasted as a fingerprint) would be
    stored and shown by every read, so it is refused, without echoing it.
    """
    for path in secret_paths(resource.kind, resource.spec):
        value: Any = resource.spec
        for key in path:
            value = value[key]
        if isinstance(value, str):
            continue  # a reference: the spec model checks its form
        if (
            isinstance(value, Mapping)
            and set(value) == {"value"}
            and isinstance(value["value"], str)
            and unusable_value(value["value"])
        ):
            raise InvalidPayload(
                f"{resource.kind}/{resource.name}: {'.'.join(path)}: the pushed value "
                f"{unusable_value(value['value'])}; a credential goes into an HTTP header",
                [*location, *path],
            )
        if isinstance(value, Mapping) and (
            (set(value) == {"value"} and isinstance(value["value"], str) and value["value"])
            or (
                set(value) == {"fingerprint"}
                and isinstance(value["fingerprint"], str)
                and FINGERPRINT_PATTERN.match(value["fingerprint"])
            )
        ):
            continue
        raise InvalidPayload(
            f"{resource.kind}/{resource.name}: a secret field takes a reference (env:NAME or "
            'file:PATH), {"value": "…"} to push a secret, or the {"fingerprint": "sha256:…"} '
            "a read returned",
            [*location, *path],
        )
