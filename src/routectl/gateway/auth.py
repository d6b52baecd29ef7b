"""Consumer API keys: resolved once per configuration revision, kept only as SHA-256 digests.

A presented key is hashed; the first bytes of its digest pick a candidate and
the full digests are then compared with :func:`hmac.compare_digest`. Timing can
at most reveal a digest prefix, never a key, and no key value stays in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from routectl.core.policy import ConsumerInfo
from routectl.core.state import address
from routectl.gateway.egress import EgressPolicy
from routectl.gateway.secrets import DEFAULT_EGRESS, SecretUnavailable, resolve_secret
from routectl.store.base import ConfigStore

log = logging.getLogger("routectl.gateway")


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class KeyTable:
    by_prefix: Mapping[bytes, tuple[bytes, str]]  # digest[:8] -> (full digest, consumer)
    anonymous: str | None  # the consumer key-less requests act as, if any

    def consumer_for(self, key: str | None) -> str | None:
        """The consumer ``key`` authenticates (None: not authenticated)."""
        if key is None:
            return self.anonymous
        presented = digest(key)
        candidate = self.by_prefix.get(presented[:_PREFIX])
        if candidate is None:
            return None
        full, name = candidate
        return name if hmac.compare_digest(presented, full) else None


_PREFIX = 8


def build_key_table(
    consumers: Mapping[str, ConsumerInfo],
    store: ConfigStore,
    egress: EgressPolicy = DEFAULT_EGRESS,
) -> KeyTable:
    by_prefix: dict[bytes, tuple[bytes, str]] = {}
    anonymous = None
    for consumer in consumers.values():
        if consumer.anonymous and anonymous is None:
            anonymous = consumer.name
        if consumer.api_key_ref is None:
            continue
        try:
            value = resolve_secret(
                consumer.api_key_ref,
                store,
                address("Consumer", consumer.name),
                ("apiKey",),
                egress,
            )
        except SecretUnavailable as exc:
            log.warning("consumer %s cannot authenticate: %s", consumer.name, exc)
            continue
        key_digest = digest(value)
        by_prefix.setdefault(key_digest[:_PREFIX], (key_digest, consumer.name))
    return KeyTable(by_prefix, anonymous)


def presented_key(authorization: str | None, api_key: str | None) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``x-api-key`` (None: none given)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return authorization  # malformed: still a presented (and failing) credential
    return api_key or None
