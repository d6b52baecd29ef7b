"""The configuration store contract shared by the gateway, its admin API and reconcile.

A store holds numbered revisions of a gateway's configuration (a set of
:class:`routectl.core.state.Resource`). Revision 0 is the empty configuration.
Writes are change sets applied atomically against an expected revision
(optimistic concurrency: exactly one of two racing writers wins, the other gets
:class:`StaleRevision` and nothing is written).

Pushed secret values are stored apart from resources and are write-only: every
read returns ``{"fingerprint": "sha256:…"}`` in their place
(:func:`routectl.core.state.fingerprint`). A secret *reference* (``env:NAME``)
is not a secret and is stored and returned as is.

Implementations: :mod:`routectl.store.sqlite` (default, one file) and
:mod:`routectl.store.postgres` (several gateway replicas sharing one config).
``open_store(url)`` picks one by URL scheme.

Optional: a store may offer ``wait_for_change(revision, timeout) -> int`` that
blocks until the store is past ``revision`` (or ``timeout`` seconds pass) and
returns the current revision; the PostgreSQL store does, with LISTEN/NOTIFY.
:func:`wait_for_change` uses it when present and polls ``current_revision()``
otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from routectl.core.state import Resource

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Operation:
    action: Action
    kind: str
    name: str
    # create/update: the full resource as it should be afterwards. Secret fields
    # may carry {"value": "…"} (pushed) or a reference string.
    resource: Resource | None = None
    # update/delete: the content hash the writer saw; a mismatch fails the change set.
    expected_hash: str | None = None


@dataclass(frozen=True)
class ChangeSet:
    operations: tuple[Operation, ...]
    author: str
    plan_hash: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class StoredResource:
    resource: Resource  # secrets masked to fingerprints
    hash: str  # content hash of the masked body
    revision: int  # revision that last changed it
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class Snapshot:
    revision: int
    resources: dict[str, StoredResource] = field(default_factory=dict)  # by address


@dataclass(frozen=True)
class RevisionInfo:
    revision: int
    author: str
    created_at: datetime
    plan_hash: str | None
    summary: str | None
    changes: tuple[dict[str, Any], ...]  # [{"action", "address"}]


class StoreError(Exception):
    """A store failure with a one-line message fit for the user."""


class StaleRevision(StoreError):
    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            f"the configuration moved: expected revision {expected}, the gateway is at "
            f"revision {current}; re-run plan"
        )
        self.expected = expected
        self.current = current


class InvalidChange(StoreError):
    """A change set that cannot apply (unknown resource, hash mismatch, ownership)."""


class ConfigStore(Protocol):
    def current_revision(self) -> int:
        """Cheap: polled by gateway replicas to notice a new revision."""

    def snapshot(self, revision: int | None = None) -> Snapshot:
        """The configuration at ``revision`` (default: current), secrets masked."""

    def apply(self, changeset: ChangeSet, if_match: int) -> int:
        """Apply atomically if the current revision is ``if_match``; returns the new one."""

    def history(self, limit: int = 100) -> list[RevisionInfo]: ...

    def secret_value(self, address: str, path: tuple[str, ...]) -> str | None:
        """A pushed secret's value, for the gateway's own data plane only."""

    def close(self) -> None: ...


def wait_for_change(
    store: ConfigStore, revision: int, timeout: float, poll_interval: float = 0.2
) -> int:
    """The current revision once it differs from ``revision``, or after ``timeout`` seconds."""
    native = getattr(store, "wait_for_change", None)
    if native is not None:
        return int(native(revision, timeout))
    deadline = time.monotonic() + timeout
    while True:
        current = store.current_revision()
        left = deadline - time.monotonic()
        if current != revision or left <= 0:
            return current
        time.sleep(min(poll_interval, left))
