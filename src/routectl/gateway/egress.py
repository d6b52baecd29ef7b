"""The gateway's own limits on what a configuration may make it read or reach.

Whoever holds the admin token writes providers; without limits, one change set could point
a provider at any host and name any file or environment variable of the gateway host as its
credential, and the gateway would send that value there. The operator sets these limits at
start (``routectl gateway serve``), and they are checked twice: on every change set (a 422
naming the field) and when a revision is loaded (a refused reference makes its provider
unusable, an attempt skipped and logged, never a read):

``--secrets-dir DIR``
    ``file:`` references must resolve (symlinks and ``..`` followed) to a file under one of
    these directories. Without any, ``file:`` references are refused.
``--secret-env NAME_OR_GLOB``
    ``env:`` references may name only these variables (default: any). Never the gateway's
    own ``ROUTECTL_*`` variables (the admin token, the secrets key), whatever the list says.
``--provider-host HOST_OR_GLOB``
    a provider's ``baseUrl`` host must match one of these (default: any host).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from routectl.core.state import PUSHED_SECRET_REF, secret_paths

GATEWAY_ENV_PREFIX = "ROUTECTL_"


class EgressRefused(Exception):
    """A reference or URL this gateway's egress policy refuses; the message says why."""


@dataclass(frozen=True)
class EgressPolicy:
    secrets_dirs: tuple[Path, ...] = ()
    env_allow: tuple[str, ...] = ()  # globs; empty: any variable but ROUTECTL_*
    provider_hosts: tuple[str, ...] = ()  # globs; empty: any host

    @classmethod
    def create(
        cls,
        secrets_dirs: list[Path] | tuple[Path, ...] = (),
        env_allow: list[str] | tuple[str, ...] = (),
        provider_hosts: list[str] | tuple[str, ...] = (),
    ) -> EgressPolicy:
        return cls(
            tuple(Path(os.path.realpath(Path(d).expanduser())) for d in secrets_dirs),
            tuple(env_allow),
            tuple(h.lower() for h in provider_hosts),
        )

    def check_reference(self, ref: str) -> None:
        """Raise :class:`EgressRefused` unless the gateway may resolve ``ref``."""
        if ref == PUSHED_SECRET_REF:
            return  # read from the store, not the host
        if ref.startswith("env:"):
            name = ref[4:]
            if name.upper().startswith(GATEWAY_ENV_PREFIX):
                raise EgressRefused(
                    f"{ref}: the gateway's own {GATEWAY_ENV_PREFIX}* variables are never "
                    "credentials"
                )
            if self.env_allow and not any(fnmatch.fnmatchcase(name, g) for g in self.env_allow):
                raise EgressRefused(
                    f"{ref}: this gateway resolves only the variables "
                    f"{', '.join(self.env_allow)} (--secret-env)"
                )
            return
        if ref.startswith("file:"):
            if not self.secrets_dirs:
                raise EgressRefused(
                    f"{ref}: this gateway reads no credential files (start it with "
                    "--secrets-dir DIR to allow files under DIR)"
                )
            real = Path(os.path.realpath(Path(ref[5:]).expanduser()))
            if not any(real.is_relative_to(d) for d in self.secrets_dirs):
                raise EgressRefused(
                    f"{ref}: not under this gateway's secrets directories (--secrets-dir)"
                )
            return
        raise EgressRefused(f"{ref!r} is not a secret reference (env:NAME or file:PATH)")

    def check_base_url(self, url: str) -> None:
        if not self.provider_hosts:
            return
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        if not any(fnmatch.fnmatchcase(host, g) for g in self.provider_hosts):
            raise EgressRefused(
                f"host {host or '(none)'} is not among this gateway's provider hosts "
                f"({', '.join(self.provider_hosts)}; --provider-host)"
            )

    def problems(self, kind: str, spec: Mapping[str, Any]) -> Iterator[tuple[tuple[Any, ...], str]]:
        """(field path, reason) for every reference and URL of one resource it refuses."""
        if kind == "Provider" and isinstance(spec.get("baseUrl"), str):
            try:
                self.check_base_url(spec["baseUrl"])
            except EgressRefused as exc:
                yield ("baseUrl",), str(exc)
        for path in secret_paths(kind, spec):
            value: Any = spec
            for key in path:
                value = value[key]
            if isinstance(value, str):
                try:
                    self.check_reference(value)
                except EgressRefused as exc:
                    yield path, str(exc)


def unusable_value(value: str) -> str | None:
    """Why a credential value cannot go into an HTTP header, if it cannot."""
    for char in value:
        if char in "\r\n":
            return "contains a line break (CR or LF)"
        if ord(char) < 0x20 and char != "\t" or ord(char) == 0x7F:
            return "contains a control character"
    return None
