"""Secret references resolved on the gateway host: ``env:NAME``, ``file:PATH``, pushed values.

Values live only in memory (upstream credential headers) or are hashed at once
(consumer API keys); nothing here logs or returns a value in an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from routectl.core.state import PUSHED_SECRET_REF
from routectl.store.base import ConfigStore


class SecretUnavailable(Exception):
    """A reference that cannot be resolved here; the message names the reference only."""


def resolve_secret(ref: str, store: ConfigStore, address: str, path: tuple[str, ...]) -> str:
    """The value behind ``ref`` for the secret field ``path`` of resource ``address``."""
    if ref == PUSHED_SECRET_REF:
        value = store.secret_value(address, path)
        if value is None:
            raise SecretUnavailable(f"{address} {'.'.join(path)}: pushed secret is missing")
        return value
    if ref.startswith("env:"):
        value = os.environ.get(ref[4:])
        if not value:
            raise SecretUnavailable(f"{address} {'.'.join(path)}: {ref} is not set")
        return value
    if ref.startswith("file:"):
        try:
            value = Path(ref[5:]).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretUnavailable(
                f"{address} {'.'.join(path)}: {ref} is unreadable ({exc.strerror})"
            ) from None
        if not value:
            raise SecretUnavailable(f"{address} {'.'.join(path)}: {ref} is empty")
        return value
    raise SecretUnavailable(f"{address} {'.'.join(path)}: not a secret reference")
