"""Both counter backends keep the same contract (Redis: a real server)."""

from __future__ import annotations

import asyncio

import pytest

from routectl.counters import CountersUnavailable, open_counters


@pytest.fixture(params=["memory", "redis"])
def counters_url(request) -> str:
    if request.param == "memory":
        return "memory"
    return request.getfixturevalue("redis_url")


def test_exchange_adds_then_reads_and_seed_only_fills_missing_keys(counters_url):
    async def scenario():
        counters = open_counters(counters_url)
        try:
            assert await counters.exchange({}, ["a", "b"]) == [0.0, 0.0]
            assert await counters.exchange({"a": (1.5, 60)}, ["a", "b"]) == [1.5, 0.0]
            assert await counters.exchange({"a": (0.25, 60), "b": (2, 60)}, ["a", "b"]) == [
                1.75,
                2.0,
            ]
            assert await counters.seed({"a": (100.0, 60), "c": (3.0, 60)}) == 1
            assert await counters.exchange({}, ["a", "c"]) == [1.75, 3.0]
        finally:
            await counters.close()

    asyncio.run(scenario())


def test_concurrent_writers_lose_no_addition(counters_url):
    async def scenario():
        writers = [open_counters(counters_url) for _ in range(2)]
        try:
            if counters_url == "memory":
                writers = [writers[0], writers[0]]  # one process shares one dict
            for _ in range(10):  # bursts of 40 concurrent additions
                await asyncio.gather(
                    *(w.exchange({"spend": (0.01, 60)}, ()) for w in writers for _ in range(20))
                )
            (total,) = await writers[0].exchange({}, ["spend"])
            assert total == pytest.approx(4.0)
        finally:
            for w in set(writers):
                await w.close()

    asyncio.run(scenario())


def test_an_unreachable_redis_raises_counters_unavailable():
    async def scenario():
        counters = open_counters("redis://127.0.0.1:9/0")
        try:
            with pytest.raises(CountersUnavailable, match="127.0.0.1:9"):
                await counters.exchange({"a": (1, 60)}, ["a"])
        finally:
            await counters.close()

    asyncio.run(scenario())


def test_unknown_counter_urls_are_refused():
    with pytest.raises(ValueError, match="memory or redis://"):
        open_counters("mysql://x")
