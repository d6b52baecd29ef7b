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


def created_fields(after: dict[str, Any] | None) -> list[str]:
    """The fields a new resource will have, ``path = value``, as Terraform shows a create.

    Empty values (null, {}, []) are left out; lists of plain values stay on one line.
    """
    lines: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None or value == {} or value == []:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            lines.append(f"{prefix} = {value_text(value)}")

    if after:
        walk("", after.get("spec"))
        if after.get("protected"):
            lines.append("protected = true")
        walk("labels", after.get("labels"))
    return lines
