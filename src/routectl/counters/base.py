"""What a counter store does: add to keys and read keys, in one round trip."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Protocol


class CountersUnavailable(Exception):
    """The counter store did not answer (Redis down or unreachable)."""


class Counters(Protocol):
    """Float counters with a time to live. Keys are opaque strings.

    ``exchange`` applies every increment (``key -> (amount, ttl_seconds)``; a key
    keeps the ttl it got when created) and then returns the values of ``read``,
    increments included (0.0 for a missing key). Each increment is atomic on its
    key, so concurrent writers from several processes never lose an addition.
    """

    name: str

    async def exchange(
        self, add: Mapping[str, tuple[float, int]], read: Sequence[str]
    ) -> list[float]: ...

    def start(
        self, add: Mapping[str, tuple[float, int]], read: Sequence[str]
    ) -> Awaitable[list[float]]:
        """``exchange`` begun now (the request written, where the backend can), awaited
        later: the gateway overlaps the round trip with reading the request body."""

    async def seed(self, values: Mapping[str, tuple[float, int]]) -> int:
        """Set keys that do not exist yet (restoring persisted spend); returns how many."""

    async def close(self) -> None: ...
