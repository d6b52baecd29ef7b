"""Counters shared by a gateway's workers and replicas: budget spend and rate windows.

One interface (:class:`~routectl.counters.base.Counters`), two backends:
:mod:`~routectl.counters.memory` (one process, the default) and
:mod:`~routectl.counters.redis` (every worker and replica pointing at the same
Redis sees the same numbers). :func:`open_counters` picks one by URL.
"""

from __future__ import annotations

from routectl.counters.base import Counters, CountersUnavailable

__all__ = ["Counters", "CountersUnavailable", "open_counters"]


def open_counters(url: str | None) -> Counters:
    """``memory`` (or None) for in-process counters, ``redis://HOST:PORT/DB`` for shared ones."""
    if url in (None, "", "memory", "memory://"):
        from routectl.counters.memory import MemoryCounters

        return MemoryCounters()
    if url.startswith("redis://"):
        from routectl.counters.redis import RedisCounters

        return RedisCounters(url)
    raise ValueError(f"unknown counter store {url!r}: use memory or redis://HOST:PORT/DB")
