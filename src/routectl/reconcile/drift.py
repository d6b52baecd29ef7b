"""Drift: where the gateway differs from Git, and who changed it when.

Each difference is classified from the gateway's history: a resource last
written by something other than a routectl apply (no plan hash on its
revision) was changed *outside routectl*; one last written by an apply of other
manifests means Git moved and is *pending* an apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from routectl.admin.client import RevisionOut
from routectl.core.state import Resource
from routectl.reconcile.diff import FieldChange, field_changes, secret_paths_of
from routectl.reconcile.normalize import LiveResource, comparable

DriftKind = Literal["changed", "deleted", "added", "missing", "taken"]


@dataclass(frozen=True)
class Drift:
    address: str
    kind: DriftKind
    outside: bool  # made outside routectl (not by an apply)
    who: str | None
    when: str | None
    revision: int | None
    fields: tuple[FieldChange, ...] = ()
    detail: str = ""


def compute_drift(
    desired: Mapping[str, Resource],
    live: Mapping[str, LiveResource],
    owner: str,
    history: Sequence[RevisionOut],
) -> list[Drift]:
    by_revision = {h.revision: h for h in history}
    out: list[Drift] = []
    for addr, want in sorted(desired.items()):
        have = live.get(addr)
        if have is None:
            gone = _last_change(history, addr, "delete")
            if gone is None:
                out.append(Drift(addr, "missing", False, None, None, None, detail="never applied"))
            else:
                out.append(
                    Drift(
                        addr,
                        "deleted",
                        gone.plan_hash is None,
                        gone.author,
                        gone.created_at,
                        gone.revision,
                    )
                )
            continue
        if comparable(have.resource) == comparable(want):
            continue
        outside = _outside(by_revision.get(have.revision))
        if have.resource.owner != owner:
            detail = f"owned by {have.resource.owner or 'nobody'} instead of {owner}"
            out.append(_at(addr, "taken", outside, have, detail=detail))
            continue
        sensitive = secret_paths_of(want) | secret_paths_of(have.resource)
        fields, _ = field_changes(comparable(want), comparable(have.resource), sensitive)
        out.append(_at(addr, "changed", outside, have, fields=tuple(fields)))
    for addr, have in sorted(live.items()):
        if addr in desired or have.resource.owner != owner:
            continue
        outside = _outside(by_revision.get(have.revision))
        out.append(_at(addr, "added", outside, have, detail="not in the manifests"))
    return out


def _at(
    addr: str,
    kind: DriftKind,
    outside: bool,
    have: LiveResource,
    fields: tuple[FieldChange, ...] = (),
    detail: str = "",
) -> Drift:
    return Drift(
        addr, kind, outside, have.updated_by, have.updated_at, have.revision, fields, detail
    )


def _outside(info: RevisionOut | None) -> bool:
    # Revisions older than the history window: assume an apply (no evidence otherwise).
    return info is not None and info.plan_hash is None


def _last_change(history: Sequence[RevisionOut], addr: str, action: str) -> RevisionOut | None:
    for info in sorted(history, key=lambda h: h.revision, reverse=True):
        if any(c.get("address") == addr and c.get("action") == action for c in info.changes):
            return info
    return None
