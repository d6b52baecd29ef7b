"""Which HTTP client the gateway forwards with: aiohttp vs httpx, one shared client each.

    python benchmarks/bench_gateway_clients.py [--requests 2000]

Both clients POST the benchmark's chat body to the same mock upstream as
bench_gateway.py (raw ASGI on uvicorn, in its own process), from a uvloop
event loop like the gateway's, at 1 and 32 concurrent requests. It prints
throughput and the client process's CPU per request, and the httpx/aiohttp
ratio measured in this run. httpx is tried with its defaults and with the
tuning one would reach for first (a pool as wide as the load, no proxy
environment lookups).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import orjson
import uvloop
from bench_gateway import BODY, WORK, free_port, start, stop

PAYLOAD = orjson.dumps(BODY)
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}


async def measure(send: Callable[[], Awaitable[None]], total: int, concurrency: int) -> tuple:
    for _ in range(100):  # connections open, code paths warm
        await send()
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await send()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return total / wall, 1000 * cpu / total


async def aiohttp_client(url: str, total: int, concurrency: int) -> tuple:
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def send() -> None:
            async with session.post(url, data=PAYLOAD, headers=HEADERS) as response:
                await response.read()

        return await measure(send, total, concurrency)


async def httpx_client(url: str, total: int, concurrency: int, tuned: bool) -> tuple:
    options = {}
    if tuned:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        options = {"limits": limits, "trust_env": False}
    async with httpx.AsyncClient(**options) as client:

        async def send() -> None:
            response = await client.post(url, content=PAYLOAD, headers=HEADERS)
            await response.aread()

        return await measure(send, total, concurrency)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    here = str(WORK.parent / "bench_gateway.py")
    mock = start(
        [sys.executable, here, "--serve-upstream", str(port)],
        f"{upstream}/v1/chat/completions",
        WORK / "upstream.log",
    )
    if mock is None:
        print("the mock upstream did not start", file=sys.stderr)
        return 2
    url = f"{upstream}/p-a/chat/completions"
    clients = {
        "aiohttp": lambda c: aiohttp_client(url, args.requests, c),
        "httpx (defaults)": lambda c: httpx_client(url, args.requests, c, tuned=False),
        "httpx (wide pool, no env)": lambda c: httpx_client(url, args.requests, c, tuned=True),
    }
    try:
        for concurrency in (1, 32):
            results = {}
            for name, run in clients.items():
                rps, cpu_ms = uvloop.run(run(concurrency))
                results[name] = rps
                print(
                    f"c={concurrency:<3d} {name:26s} {rps:7.0f} req/s  cpu {cpu_ms:6.3f} ms/req",
                    flush=True,
                )
            for name, rps in results.items():
                if name != "aiohttp":
                    print(f"       {name} / aiohttp throughput: {rps / results['aiohttp']:.2f}x")
    finally:
        stop(mock)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
