"""Budget and rate-limit counters: the gateway's added latency with Redis against in-process.

    python benchmarks/bench_limits.py [--requests 400] [--rounds 5]

Two routectl gateways serve the same policy, whose only consumer has a budget
(downgrade at 80%, block at 100%, never reached here) and an rpm limit, so
every request reads and writes the counters: one gateway counts in process
(``--counters memory``), the other in a local Redis (``--counters redis://``,
Debian ``redis-server``, started here on 127.0.0.1). The mock upstream is
bench_gateway's raw ASGI app. One keep-alive client sends sequential requests,
one request to each of direct-to-upstream, memory and Redis in turn, so that
a drifting machine load moves all three alike; each figure is the median over
rounds of that round's p50.

Target (same run): Redis-backed p50 at most 0.3 ms above in-process p50.
Exit 1 when missed, 2 when something cannot start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
TARGET_MS = 0.3
CLIENT_KEY = "bench-limits-key"
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, process.args))} exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def start_redis(work: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def write_store(work: Path, upstream: str, name: str) -> Path:
    sys.path.insert(0, str(SRC))
    from routectl.admin.service import AdminService
    from routectl.core.state import desired_state
    from routectl.loader.yaml_source import load_paths
    from routectl.store.sqlite import SqliteStore

    policy = work / f"policy-{name}"
    policy.mkdir()
    (policy / "policy.yaml").write_text(
        textwrap.dedent(f"""
        apiVersion: routectl.dev/v1
        kind: Provider
        metadata: {{name: p}}
        spec: {{baseUrl: "{upstream}/p", jurisdiction: DE}}
        ---
        apiVersion: routectl.dev/v1
        kind: Model
        metadata: {{name: m}}
        spec: {{provider: p, upstreamModel: up, contextWindow: 128000, maxOutputTokens: 4096,
                pricing: {{input: 1, output: 2}}}}
        ---
        apiVersion: routectl.dev/v1
        kind: Model
        metadata: {{name: m-cheap}}
        spec: {{provider: p, upstreamModel: up-cheap, contextWindow: 128000,
                maxOutputTokens: 4096, pricing: {{input: 0.1, output: 0.2}}}}
        ---
        apiVersion: routectl.dev/v1
        kind: Consumer
        metadata: {{name: bench}}
        spec:
          apiKey: env:BENCH_LIMITS_KEY
          team: bench-team
          rateLimits: {{rpm: 100000000}}
          budget:
            amountUsd: 1000000000
            thresholds:
              - {{at: 80%, action: downgrade, route: cheap}}
              - {{at: 100%, action: block}}
        ---
        apiVersion: routectl.dev/v1
        kind: Team
        metadata: {{name: bench-team}}
        spec: {{budget: {{amountUsd: 1000000000, period: daily}}}}
        ---
        apiVersion: routectl.dev/v1
        kind: Route
        metadata: {{name: main}}
        spec: {{targets: [{{model: m}}]}}
        ---
        apiVersion: routectl.dev/v1
        kind: Route
        metadata: {{name: cheap}}
        spec: {{order: 1000, targets: [{{model: m-cheap}}]}}
        """)
    )
    result = load_paths([policy])
    assert result.ok, [str(e) for e in result.errors]
    db = work / f"{name}.db"
    store = SqliteStore(db)
    operations = [
        {"action": "create", "kind": r.kind, "name": r.name, "resource": {"spec": dict(r.spec)}}
        for r in desired_state(d.doc for d in result.documents).values()
    ]
    AdminService(store).apply({"author": "bench", "operations": operations}, 0)
    store.close()
    return db


def start_gateway(work: Path, db: Path, counters: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "routectl.cli.main",
            "gateway",
            "serve",
            "--port",
            str(port),
            "--store",
            f"sqlite:///{db}",
            "--insecure-local",
            "--counters",
            counters,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / f"gateway-{db.stem}.log").open("wb"),
    )
    wait_for(f"http://127.0.0.1:{port}/healthz", process)
    return process, f"http://127.0.0.1:{port}/v1/chat/completions"


def one(client: httpx.Client, url: str, headers: dict) -> float:
    started = time.perf_counter()
    response = client.post(url, json=BODY, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
    return elapsed


def interleaved_p50_ms(
    clients: dict[str, httpx.Client], targets: dict[str, str], count: int, headers: dict
) -> dict[str, float]:
    """One request to each target in turn (rotating who goes first), ``count`` times: a load
    spike hits all targets alike instead of one target's block of requests."""
    times: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for index in range(count):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(one(clients[name], targets[name], headers))
    return {name: statistics.median(values) * 1000.0 for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="per target and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="routectl-bench-limits-"))
    processes: list[subprocess.Popen] = []
    env = {**os.environ, "PYTHONPATH": str(SRC), "BENCH_LIMITS_KEY": CLIENT_KEY}
    try:
        upstream_port = free_port()
        upstream = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(HERE)!r}); "
                f"from bench_gateway import serve_upstream; serve_upstream({upstream_port})",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(upstream)
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        wait_for(upstream_url + "/", upstream)
        redis, redis_url = start_redis(work)
        processes.append(redis)
        memory_gw, memory_url = start_gateway(
            work, write_store(work, upstream_url, "memory"), "memory", env
        )
        processes.append(memory_gw)
        redis_gw, redis_gw_url = start_gateway(
            work, write_store(work, upstream_url, "redis"), redis_url, env
        )
        processes.append(redis_gw)
    except (RuntimeError, OSError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        for process in processes:
            process.kill()
        return 2

    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    targets = {
        "direct": f"{upstream_url}/p/chat/completions",
        "memory": memory_url,
        "redis": redis_gw_url,
    }
    figures: dict[str, list[float]] = {name: [] for name in targets}
    clients = {name: httpx.Client(timeout=30) for name in targets}  # one connection each
    try:
        interleaved_p50_ms(clients, targets, 100, headers)  # warm-up: connections, Redis keys
        for _ in range(args.rounds):
            for name, value in interleaved_p50_ms(clients, targets, args.requests, headers).items():
                figures[name].append(value)
        spend = httpx.get(
            redis_gw_url.replace("/v1/chat/completions", "/admin/v1/spend"), timeout=5
        ).json()
    finally:
        for client in clients.values():
            client.close()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)

    p50 = {name: statistics.median(values) for name, values in figures.items()}
    added_memory = p50["memory"] - p50["direct"]
    added_redis = p50["redis"] - p50["direct"]
    delta = p50["redis"] - p50["memory"]
    print(f"requests: {args.requests} per target and round, {args.rounds} rounds, sequential")
    print(f"p50 direct upstream        {p50['direct']:.3f} ms")
    print(f"p50 gateway, memory        {p50['memory']:.3f} ms  (added {added_memory:.3f} ms)")
    print(f"p50 gateway, redis         {p50['redis']:.3f} ms  (added {added_redis:.3f} ms)")
    print(f"redis - memory             {delta:+.3f} ms  (target <= +{TARGET_MS} ms)")
    print(
        "per round p50 (ms): "
        + "; ".join(
            f"{name} " + " ".join(f"{v:.3f}" for v in values) for name, values in figures.items()
        )
    )
    budgets = {row["budget"]: row["spentUsd"] for row in spend["budgets"]}
    print(f"redis gateway spend after the run: {budgets}")
    if delta > TARGET_MS:
        print(f"FAIL: Redis counters add {delta:.3f} ms > {TARGET_MS} ms")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
