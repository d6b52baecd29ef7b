"""Resolve secret references for ``--push-secrets`` (at apply time, on this host).

Values live only in memory between resolving and sending; errors name the
reference, never a value.
"""

from __future__ import annotations

import os
from pathlib import Path

from routectl.core.state import Resource, fingerprint, secret_paths


class SecretError(Exception):
    pass


def resolve_ref(ref: str, where: str) -> str:
    scheme, _, target = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if value is None:
            raise SecretError(
                f"{where}: {ref} is not set in this environment; set it, or apply without "
                "--push-secrets to let the gateway resolve the reference on its own host"
            )
        return value
    if scheme == "file":
        try:
            return Path(target).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SecretError(f"{where}: cannot read {ref}: {exc.strerror}") from None
    raise SecretError(f"{where}: {ref!r} is not a secret reference (env:NAME or file:PATH)")


def resolve_all(resource: Resource) -> dict[tuple[str, ...], str]:
    """The values of a resource's secret references, by field path."""
    values: dict[tuple[str, ...], str] = {}
    for path in secret_paths(resource.kind, resource.spec):
        node: object = resource.spec
        for key in path:
            node = node[key]  # type: ignore[index]
        if isinstance(node, str):
            values[path] = resolve_ref(node, f"{resource.address} {'.'.join(path)}")
    return values


def fingerprints(values: dict[tuple[str, ...], str]) -> dict[tuple[str, ...], dict[str, str]]:
    return {path: {"fingerprint": fingerprint(value)} for path, value in values.items()}
