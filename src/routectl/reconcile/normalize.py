"""What is compared: one canonical body per resource, on both sides.

The manifests side is already canonical (core.state). The live side is
re-read through the same manifest model, so a resource written to the gateway
by hand, without defaults or with a set-like list in another order, compares
equal to the manifest meaning the same thing. Server-managed fields (hash,
revision, updated_at/by) are kept apart and never compared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from routectl.core.manifest import parse_document
from routectl.core.state import API_VERSION, Resource, resource_of, secret_paths


@dataclass(frozen=True)
class LiveResource:
    """A resource as the gateway holds it, with who last changed it."""

    resource: Resource
    hash: str
    revision: int
    updated_at: str
    updated_by: str


def comparable(resource: Resource) -> dict[str, Any]:
    """The fields a plan compares: spec, owner, protected, labels."""
    return {
        "spec": json.loads(json.dumps(resource.spec)),
        "owner": resource.owner,
        "protected": bool(resource.protected),
        "labels": dict(resource.labels or {}),
    }


def canonical_live(resource: Resource) -> Resource:
    """The live resource with defaults filled and sets sorted, like a manifest's."""
    spec = json.loads(json.dumps(resource.spec))
    held: dict[tuple[str, ...], Any] = {}
    for path in secret_paths(resource.kind, spec):
        value = _get(spec, path)
        if isinstance(value, Mapping):  # a pushed secret's fingerprint: not a reference
            held[path] = value
            _set(spec, path, "env:ROUTECTL_PLACEHOLDER")
    try:
        doc = parse_document(
            {
                "apiVersion": API_VERSION,
                "kind": resource.kind,
                "metadata": {"name": resource.name},
                "spec": spec,
            }
        )
    except ValidationError:
        return resource  # stored before a model change; compare it as it is
    canonical = dict(resource_of(doc).spec)
    canonical = json.loads(json.dumps(canonical))
    for path, value in held.items():
        _set(canonical, path, value)
    return Resource(
        kind=resource.kind,
        name=resource.name,
        spec=canonical,
        owner=resource.owner,
        protected=resource.protected,
        labels=dict(resource.labels or {}),
    )


def live_from_wire(item: Mapping[str, Any]) -> LiveResource:
    resource = Resource(
        kind=item["kind"],
        name=item["name"],
        spec=item["spec"],
        owner=item.get("owner"),
        protected=bool(item.get("protected")),
        labels=dict(item.get("labels") or {}),
    )
    return LiveResource(
        resource=canonical_live(resource),
        hash=item["hash"],
        revision=int(item["revision"]),
        updated_at=str(item["updated_at"]),
        updated_by=str(item["updated_by"]),
    )


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(node: Any, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def with_secret_fields(resource: Resource, replace: Mapping[tuple[str, ...], Any]) -> Resource:
    """A copy of ``resource`` with secret fields replaced by path."""
    spec = json.loads(json.dumps(resource.spec))
    for path, value in replace.items():
        _set(spec, path, value)
    return Resource(
        kind=resource.kind,
        name=resource.name,
        spec=spec,
        owner=resource.owner,
        protected=resource.protected,
        labels=dict(resource.labels or {}),
    )


def mask(body: Any, kind: str) -> Any:
    """``body`` (a comparable dict) with any pushed value replaced, by field path."""
    if body is None:
        return None
    out = json.loads(json.dumps(body))
    for path in secret_paths(kind, out.get("spec") or {}):
        value = _get(out["spec"], path)
        if isinstance(value, Mapping) and "value" in value:
            _set(out["spec"], path, {"sensitive": True})
    return out
