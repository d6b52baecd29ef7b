"""Turn a plan into one atomic change set, guarded by the revision it was planned on.

The gateway applies all operations or none, and only if its revision is still
the plan's ``base_revision`` (If-Match). So a stale plan, or the loser of two
racing applies, writes nothing and no one's update is lost.
"""

from __future__ import annotations

import getpass
import json
import socket
from typing import Any

from routectl.admin.client import AdminBackend, ApplyOut
from routectl.core.state import fingerprint
from routectl.reconcile.plan import PlanDoc, ResourceChangeDoc
from routectl.reconcile.secrets import SecretError, resolve_ref


def default_author() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"routectl apply ({user}@{socket.gethostname()})"


def summary_line(plan: PlanDoc) -> str:
    s = plan.summary
    line = f"Plan: {s.add} to add, {s.change} to change, {s.destroy} to destroy"
    foreign = len(plan.foreign)
    if foreign:
        line += f"; {foreign} skipped: owned by another policy, so the gateway stays out of sync"
    if s.skipped - foreign:
        line += f"; {s.skipped - foreign} left alone as asked (protected, --no-delete)"
    return line + "."


def changeset(plan: PlanDoc, author: str) -> dict[str, Any]:
    """The admin API change set for ``plan``; pushed secret values are read here, now."""
    return {
        "author": author,
        "plan_hash": plan.plan_hash,
        "summary": f"{summary_line(plan)} owner {plan.owner}, source {plan.source.path}",
        "operations": [_operation(change) for change in plan.resource_changes],
    }


def _operation(change: ResourceChangeDoc) -> dict[str, Any]:
    op: dict[str, Any] = {"action": change.action, "kind": change.kind, "name": change.name}
    if change.expected_hash:
        op["expected_hash"] = change.expected_hash
    if change.after is not None:
        resource = json.loads(json.dumps(change.after))
        changed = {f.path for f in change.changed_fields if f.sensitive}
        for joined, ref in change.secret_refs.items():
            path = joined.split("/")
            where = f"{change.address} {'.'.join(path)}"
            value = resolve_ref(ref, where)
            parent = resource["spec"]
            for key in path[:-1]:
                parent = parent[key]
            planned = parent[path[-1]]
            if not isinstance(planned, dict) or planned.get("fingerprint") != fingerprint(value):
                raise SecretError(
                    f"{where}: the value of {ref} changed since the plan was made; run plan again"
                )
            # Send the value only where it changes; a re-sent fingerprint keeps the stored one.
            if change.action == "create" or "spec." + ".".join(path) in changed:
                parent[path[-1]] = {"value": value}
        op["resource"] = resource
    return op


def apply_plan(backend: AdminBackend, plan: PlanDoc, author: str) -> ApplyOut:
    """Apply ``plan``; raises Conflict (moved), Rejected, GatewayError or SecretError."""
    return backend.apply(changeset(plan, author), if_match=plan.base_revision)
