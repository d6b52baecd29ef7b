"""Desired state: a policy's documents as the resources a gateway stores.

A resource is one manifest document minus what only the CLI needs (policy
tests), in canonical form: defaults filled in, set-like lists sorted, camelCase
keys. Two manifests that mean the same thing give byte-identical resources and
hashes, so a plan never shows formatting, ordering or defaults as a change.

The gateway stores exactly these resources and rebuilds its policy from them
(:func:`documents_from_resources`), so Git, plan output and the running
gateway share one representation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from routectl.core.manifest import API_VERSION, SECRET_FIELDS, parse_document

# PolicyTest documents describe the policy; they are never pushed to a gateway.
CONFIG_KINDS: tuple[str, ...] = (
    "Tier",
    "Classification",
    "Intent",
    "Provider",
    "Model",
    "Team",
    "Consumer",
    "Route",
    "Experiment",
)


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    spec: Mapping[str, Any]  # canonical JSON-able spec, camelCase keys
    owner: str | None = None
    protected: bool = False
    labels: Mapping[str, str] | None = None

    @property
    def address(self) -> str:
        return address(self.kind, self.name)

    def body(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "spec": self.spec,
            "owner": self.owner,
            "protected": self.protected,
            "labels": dict(self.labels or {}),
        }

    def content_hash(self) -> str:
        return content_hash(self.body())


def address(kind: str, name: str) -> str:
    """A resource's stable address, e.g. ``route/default`` (plans, targets, APIs)."""
    return f"{kind.lower()}/{name}"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


def fingerprint(secret_value: str) -> str:
    """What a gateway may show of a pushed secret: a salted, truncated digest."""
    digest = hashlib.sha256(b"routectl-secret-v1\0" + secret_value.encode()).hexdigest()
    return "sha256:" + digest[:16]


def resource_of(doc: Any, owner: str | None = None) -> Resource:
    spec = doc.spec.model_dump(mode="json", by_alias=True)
    return Resource(
        kind=doc.kind,
        name=doc.metadata.name,
        spec=spec,
        owner=owner,
        protected=doc.metadata.protected,
        labels=dict(doc.metadata.labels),
    )


def desired_state(documents: Iterable[Any], owner: str | None = None) -> dict[str, Resource]:
    """Resources by address, for every configuration document (first name wins)."""
    out: dict[str, Resource] = {}
    for doc in documents:
        if doc.kind not in CONFIG_KINDS:
            continue
        resource = resource_of(doc, owner)
        out.setdefault(resource.address, resource)
    return out


def documents_from_resources(resources: Iterable[Resource]) -> list[Any]:
    """Typed documents back from stored resources (the gateway's view of a policy)."""
    docs = []
    for resource in resources:
        if resource.kind not in CONFIG_KINDS:
            continue
        docs.append(
            parse_document(
                {
                    "apiVersion": API_VERSION,
                    "kind": resource.kind,
                    "metadata": {
                        "name": resource.name,
                        "protected": resource.protected,
                        "labels": dict(resource.labels or {}),
                    },
                    "spec": _without_pushed_secrets(resource.kind, resource.spec),
                }
            )
        )
    return docs


def secret_paths(kind: str, spec: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Concrete paths of the secret fields present in ``spec`` (``*`` expanded)."""
    found: list[tuple[str, ...]] = []
    for pattern in SECRET_FIELDS.get(kind, ()):
        _expand(spec, pattern, (), found)
    return found


def _expand(node: Any, pattern: tuple[str, ...], prefix: tuple[str, ...], out: list) -> None:
    if not pattern:
        out.append(prefix)
        return
    if not isinstance(node, Mapping):
        return
    head, rest = pattern[0], pattern[1:]
    keys = list(node) if head == "*" else ([head] if head in node else [])
    for key in keys:
        if node[key] is not None:
            _expand(node[key], rest, prefix + (key,), out)


# Stands in, inside a gateway's resolved policy, for a value pushed with
# --push-secrets: the gateway reads the value from its store by resource and
# field path (ConfigStore.secret_value), never from its environment.
PUSHED_SECRET_REF = "env:ROUTECTL_PUSHED_SECRET"


def _without_pushed_secrets(kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A pushed secret is stored as {"fingerprint": ...}; the spec model wants a reference."""
    plain = json.loads(canonical_json(spec))
    for path in secret_paths(kind, plain):
        parent = plain
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent[path[-1]], Mapping):
            parent[path[-1]] = PUSHED_SECRET_REF
    return plain
