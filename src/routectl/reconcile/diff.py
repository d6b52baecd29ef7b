"""Desired vs live: the operations that make the gateway match the manifests.

Only resources this owner manages are touched. A resource owned by another
namespace is never updated or deleted (it shows as skipped, with why), a
protected resource is never deleted, and ``--no-delete`` keeps every delete
out of the plan. An update lists only the fields that changed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from routectl.core.state import Resource, address, secret_paths
from routectl.reconcile.normalize import LiveResource, comparable, mask
from routectl.reconcile.order import apply_order

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class FieldChange:
    path: str  # e.g. spec.targets[0].weight
    before: Any
    after: Any
    sensitive: bool = False  # a secret field: renderers never print its content


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str
    name: str
    before: dict[str, Any] | None  # comparable body, masked
    after: dict[str, Any] | None
    fields: tuple[FieldChange, ...] = ()
    unchanged: int = 0  # leaf fields an update leaves alone
    expected_hash: str | None = None  # the live hash an update/delete was planned against

    @property
    def address(self) -> str:
        return address(self.kind, self.name)


@dataclass(frozen=True)
class Skipped:
    address: str
    wanted: Action
    reason: str
    foreign: bool = False  # another owner's (or no one's): the gateway stays out of sync


_MISSING = object()


def compute_changes(
    desired: Mapping[str, Resource],
    live: Mapping[str, LiveResource],
    owner: str,
    *,
    no_delete: bool = False,
    targets: Sequence[str] = (),
    excludes: Sequence[str] = (),
) -> tuple[list[Change], list[Skipped]]:
    changes: list[Change] = []
    skipped: list[Skipped] = []
    for addr, resource in desired.items():
        current = live.get(addr)
        if current is None:
            after = mask(comparable(resource), resource.kind)
            changes.append(Change("create", resource.kind, resource.name, None, after))
            continue
        before_body = comparable(current.resource)
        after_body = comparable(resource)
        if before_body == after_body:
            continue
        if current.resource.owner != owner:
            skipped.append(Skipped(addr, "update", _foreign(current), foreign=True))
            continue
        sensitive = secret_paths_of(resource) | secret_paths_of(current.resource)
        fields, unchanged = field_changes(before_body, after_body, sensitive)
        changes.append(
            Change(
                "update",
                resource.kind,
                resource.name,
                mask(before_body, resource.kind),
                mask(after_body, resource.kind),
                tuple(fields),
                unchanged,
                current.hash,
            )
        )
    for addr, current in live.items():
        if addr in desired or current.resource.owner != owner:
            continue
        if current.resource.protected:
            skipped.append(
                Skipped(addr, "delete", "protected: routectl never deletes a protected resource")
            )
            continue
        if no_delete:
            skipped.append(Skipped(addr, "delete", "--no-delete"))
            continue
        r = current.resource
        before = mask(comparable(r), r.kind)
        changes.append(Change("delete", r.kind, r.name, before, None, expected_hash=current.hash))
    changes = [c for c in changes if selected(c.address, targets, excludes)]
    skipped = [s for s in skipped if selected(s.address, targets, excludes)]
    changes.sort(key=lambda c: apply_order(c.action, c.kind, c.name))
    skipped.sort(key=lambda s: s.address)
    return changes, skipped


def _foreign(current: LiveResource) -> str:
    owner = current.resource.owner
    if owner is None:
        return (
            f"exists on the gateway without an owner (last changed by {current.updated_by}); "
            "routectl never changes a resource it does not own"
        )
    return f"owned by {owner}; routectl never changes another owner's resources"


def selected(addr: str, targets: Sequence[str], excludes: Sequence[str]) -> bool:
    """``--target``/``--exclude`` address patterns (``route/default``, ``model/*``)."""

    def hit(patterns: Iterable[str]) -> bool:
        return any(fnmatch.fnmatchcase(addr, _norm(p)) for p in patterns)

    if targets and not hit(targets):
        return False
    return not hit(excludes)


def _norm(pattern: str) -> str:
    kind, sep, name = pattern.partition("/")
    return f"{kind.lower()}{sep}{name}"


def secret_paths_of(resource: Resource) -> set[tuple[str, ...]]:
    return {("spec", *p) for p in secret_paths(resource.kind, resource.spec)}


def field_changes(
    before: Any, after: Any, sensitive: set[tuple[str, ...]] | None = None
) -> tuple[list[FieldChange], int]:
    """Changed leaves (with their paths) and how many leaves stayed the same."""
    sensitive = sensitive or set()
    changed: list[FieldChange] = []
    unchanged = [0]

    def walk(a: Any, b: Any, path: tuple[str | int, ...]) -> None:
        if path in sensitive:
            if a == b:
                unchanged[0] += 1
            else:
                changed.append(
                    FieldChange(
                        render_path(path),
                        None if a is _MISSING else a,
                        None if b is _MISSING else b,
                        sensitive=True,
                    )
                )
            return
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key, _MISSING), b.get(key, _MISSING), (*path, key))
            return
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a:
            for index, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, (*path, index))
            return
        if a == b:
            unchanged[0] += 1
            return
        changed.append(
            FieldChange(
                render_path(path),
                None if a is _MISSING else a,
                None if b is _MISSING else b,
            )
        )

    walk(before, after, ())
    return changed, unchanged[0]


def render_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
