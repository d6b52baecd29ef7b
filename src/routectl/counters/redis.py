"""Counters in Redis, shared by every worker and replica that points at it.

One pipelined round trip per ``exchange``: ``INCRBYFLOAT`` and ``EXPIRE … NX``
per increment (atomic per key, so replicas never lose an addition), then one
``MGET``. Keys are prefixed ``routectl:`` so the database can be shared.
A Redis that does not answer within ``timeout_s`` raises
:class:`~routectl.counters.base.CountersUnavailable`; what the gateway does
then is its ``--counters-down`` setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from routectl.counters.base import CountersUnavailable

PREFIX = "routectl:"


class RedisCounters:
    name = "redis"

    def __init__(self, url: str, timeout_s: float = 1.0) -> None:
        self.url = url
        # A bounded pool where a burst waits for a free connection rather than failing;
        # an unanswering Redis still fails within timeout_s (socket timeouts).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            max_connections=128,
            timeout=max(5.0, timeout_s),
        )
        self._pool = pool
        self._client = aioredis.Redis(connection_pool=pool)

    async def exchange(
        self, add: Mapping[str, tuple[float, int]], read: Sequence[str]
    ) -> list[float]:
        try:
            if not add:
                if not read:
                    return []
                raw = await self._client.mget([PREFIX + key for key in read])
                return [float(v) if v is not None else 0.0 for v in raw]
            pipe = self._client.pipeline(transaction=False)
            for key, (amount, ttl) in add.items():
                pipe.incrbyfloat(PREFIX + key, amount)
                pipe.expire(PREFIX + key, ttl, nx=True)
            if read:
                pipe.mget([PREFIX + key for key in read])
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise CountersUnavailable(f"redis at {_where(self.url)}: {exc}") from None
        if not read:
            return []
        return [float(v) if v is not None else 0.0 for v in results[-1]]

    async def seed(self, values: Mapping[str, tuple[float, int]]) -> int:
        if not values:
            return 0
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, (amount, ttl) in values.items():
                pipe.set(PREFIX + key, repr(float(amount)), ex=ttl, nx=True)
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise CountersUnavailable(f"redis at {_where(self.url)}: {exc}") from None
        return sum(1 for r in results if r)

    async def close(self) -> None:
        await self._client.aclose()
        await self._pool.disconnect()


def _where(url: str) -> str:
    """The URL without a password."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url
