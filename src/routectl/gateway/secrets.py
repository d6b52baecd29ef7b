"""Secret references resolved on the gateway host: ``env:NAME``, ``file:PATH``, pushed values.

Values live only in memory (upstream credential headers) or are hashed at once
(consumer API keys); nothing here logs or returns a value in an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from routectl.core.state import PUSHED_SECRET_REF
from routectl.gateway.egress import EgressPolicy, EgressRefused, unusable_value
from routectl.store.base import ConfigStore, StoreError

# What a gateway started without options allows: no credential files, no ROUTECTL_* variables.
DEFAULT_EGRESS = EgressPolicy()


class SecretUnavailable(Exception):
    """A reference that cannot be resolved here; the message names the reference only."""


def resolve_secret(
    ref: str,
    store: ConfigStore,
    address: str,
    path: tuple[str, ...],
    egress: EgressPolicy = DEFAULT_EGRESS,
) -> str:
    """The value behind ``ref`` for the secret field ``path`` of resource ``address``.

    The egress policy is asked first, so a refused reference is never read; a value that
    cannot go into an HTTP header (CR, LF, other control characters) is unavailable too.
    """
    where = f"{address} {'.'.join(path)}"
    try:
        egress.check_reference(ref)
    except EgressRefused as exc:
        raise SecretUnavailable(f"{where}: refused: {exc}") from None
    value = _resolve(ref, store, address, path)
    problem = unusable_value(value)
    if problem:
        raise SecretUnavailable(f"{where}: the value of {_name(ref)} {problem}")
    return value


def _name(ref: str) -> str:
    return "the pushed secret" if ref == PUSHED_SECRET_REF else ref


def _resolve(ref: str, store: ConfigStore, address: str, path: tuple[str, ...]) -> str:
    if ref == PUSHED_SECRET_REF:
        try:
            value = store.secret_value(address, path)
        except StoreError as exc:  # no key, or a key that does not decrypt it
            raise SecretUnavailable(f"{address} {'.'.join(path)}: {exc}") from None
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
