"""In-process counters: the single-replica default (a dict, nothing shared)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Mapping, Sequence


class MemoryCounters:
    name = "memory"

    def __init__(self) -> None:
        self._values: dict[str, list[float]] = {}  # key -> [value, expires at (monotonic)]
        self._next_purge = 0.0

    def _purge(self, now: float) -> None:
        if now >= self._next_purge:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
            self._next_purge = now + 60.0

    async def exchange(
        self, add: Mapping[str, tuple[float, int]], read: Sequence[str]
    ) -> list[float]:
        now = time.monotonic()
        self._purge(now)
        values = self._values
        for key, (amount, ttl) in add.items():
            entry = values.get(key)
            if entry is None or entry[1] <= now:
                values[key] = [amount, now + ttl]
            else:
                entry[0] += amount
        out = []
        for key in read:
            entry = values.get(key)
            out.append(entry[0] if entry is not None and entry[1] > now else 0.0)
        return out

    def start(
        self, add: Mapping[str, tuple[float, int]], read: Sequence[str]
    ) -> Awaitable[list[float]]:
        return self.exchange(add, read)

    async def seed(self, values: Mapping[str, tuple[float, int]]) -> int:
        now = time.monotonic()
        count = 0
        for key, (amount, ttl) in values.items():
            entry = self._values.get(key)
            if entry is None or entry[1] <= now:
                self._values[key] = [amount, now + ttl]
                count += 1
        return count

    async def close(self) -> None:
        return None
