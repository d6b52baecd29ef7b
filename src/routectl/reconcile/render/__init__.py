"""Plan renderers: text (terminal), json (the plan document), markdown (PR comments)."""

from __future__ import annotations

import json as _json  # the alias: the sibling module render.json would shadow it
from typing import Any

from routectl.reconcile.plan import FieldChangeDoc

SENSITIVE_CHANGED = "(sensitive value changed)"


def value_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return _json.dumps(value, ensure_ascii=False)
    return _json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def field_text(change: FieldChangeDoc) -> str:
    """``path: before -> after``; a secret field shows only that it changed (by field, not text)."""
    if change.sensitive and not (
        isinstance(change.before, str | None) and isinstance(change.after, str | None)
    ):
        return f"{change.path}: {SENSITIVE_CHANGED}"
    return f"{change.path}: {value_text(change.before)} -> {value_text(change.after)}"
