"""Reliability under fuzzing and faults: one command, one screen, non-zero on any loss.

    python benchmarks/bench_reliability.py [--chat N] [--headers N] [--changesets N]
                                           [--offline N] [--kills N] [--reloads N]
                                           [--outages N] [--fault-seconds S]

1. A real ``routectl gateway serve`` process (PostgreSQL store when the Debian package is
   installed, else SQLite) in front of a mock upstream with three DE providers and one US
   provider; ``pii`` may go to DE only. A provider key is pushed (encrypted at rest), the
   others come from the environment; the egress policy is on.
2. Fuzz, live (hypothesis): generated chat bodies, header sets and admin change sets
   (tests/hardening/gateway_fuzz.py). Every 500 must be counted in /metrics and written
   to the decision log; no answer may carry a traceback or a secret; the gateway's
   resident memory must stay within ``--memory-mb`` of where it started.
3. Faults, under steady traffic (half of it ``pii``, marked so the US provider's mock can
   tell): upstream failures (503, hangs, 400 context_length_exceeded), hot reloads,
   store outages (PostgreSQL stopped and restarted) and ``kill -9`` of the gateway, which
   is restarted at once. A request is *lost* when the gateway was up for all of it and it
   got no HTTP answer; requests cut by a kill are counted apart.
4. Fuzz, offline, in a second process while 2-3 run: mutated manifests and traffic files
   through load -> lint -> explain -> simulate (tests/hardening/offline_fuzz.py): no
   traceback, every error located, no step over 5 s.
5. Secrets: the pushed key, the environment key, the admin token and the secrets key are
   searched for in every answer, the decision log, the gateway's stderr, /metrics and the
   store's files on disk.

Exit 0 when nothing was lost, leaked, violated or unaccounted; 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from gateway.conftest import apply_policy  # noqa: E402
from gateway.servers import ServerThread  # noqa: E402
from hardening import gateway_fuzz as fz  # noqa: E402
from hardening import offline_fuzz  # noqa: E402
from hardening.faulty_upstream import FaultyUpstream  # noqa: E402
from routectl.store import open_store  # noqa: E402

SECRETS_KEY = "Zk1S0pGd2u8yq6mV3lT5cX9bN7aR4eW1hJ0oK2iU8sE="


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Store:
    """PostgreSQL when installed (outages can be injected), else SQLite."""

    def __init__(self, work: Path) -> None:
        self.pg = None
        try:
            import pgserver

            self.pg = pgserver.start_server()
            self.url = self.pg.create_database("reliability")
        except Exception as exc:  # no PostgreSQL here: outages cannot be injected
            print(f"(PostgreSQL unavailable: {exc}; SQLite store, no store outages)")
            self.url = f"sqlite:///{work / 'gateway.db'}"

    def outage(self, seconds: float) -> bool:
        if self.pg is None:
            return False
        self.pg._run("pg_ctl", "-D", str(self.pg.data_dir), "-m", "fast", "-w", "stop")
        time.sleep(seconds)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.pg.port} "
            f"-c unix_socket_directories={self.pg.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self.pg._run(
            "pg_ctl", "-D", str(self.pg.data_dir), "-l", str(self.pg.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        return True

    def files(self) -> list[Path]:
        if self.pg is None:
            base = Path(self.url.removeprefix("sqlite:///"))
            return [p for p in base.parent.glob(base.name + "*") if p.is_file()]
        return [p for p in self.pg.data_dir.rglob("*") if p.is_file()]

    def stop(self) -> None:
        if self.pg is not None:
            self.pg.stop()


class Gateway:
    """``routectl gateway serve`` as a process; restartable after kill -9."""

    def __init__(self, work: Path, store_url: str, env: dict[str, str]) -> None:
        self.work = work
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store_url = store_url
        self.env = env
        self.log = work / "decisions.jsonl"
        self.stderr_path = work / "gateway.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.down_windows: list[tuple[float, float]] = []  # kill .. ready again

    def start(self) -> None:
        secrets_dir = self.work / "secrets"
        secrets_dir.mkdir(exist_ok=True)
        command = [
            sys.executable, "-m", "routectl.cli.main", "gateway", "serve",
            "--port", str(self.port), "--store", self.store_url, "--log", str(self.log),
            "--breaker-cooldown", "1", "--breaker-failures", "3",
            "--secrets-dir", str(secrets_dir), "--provider-host", "127.0.0.1",
        ]  # fmt: skip
        with self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(command, env=self.env, stderr=stderr, cwd=self.work)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the gateway did not start; see {self.stderr_path}")

    def kill_and_restart(self) -> None:
        assert self.process is not None
        killed = time.monotonic()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.start()
        self.down_windows.append((killed, time.monotonic()))

    def was_down(self, started: float, ended: float) -> bool:
        return any(s <= ended and started <= e for s, e in self.down_windows)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Traffic(threading.Thread):
    """Steady requests during the faults; half pii, each pii body marked."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(daemon=True)
        self.gateway = gateway
        self.stop_event = threading.Event()
        self.sent = self.answered = self.cut_by_kill = 0
        self.lost: list[str] = []
        self.statuses: dict[int, int] = {}
        self.texts: list[str] = []

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.gateway.url, timeout=15) as client:
            while not self.stop_event.is_set():
                n += 1
                pii = n % 2 == 0
                content = f"{fz.PII_MARKER}{n}" if pii else f"public question {n}"
                headers = {
                    "authorization": f"Bearer {fz.APP_KEY}",
                    "x-routectl-classification": "pii" if pii else "public",
                    "x-request-id": f"traffic-{n}",
                }
                body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
                if n % 7 == 0:
                    body["stream"] = True
                started = time.monotonic()
                self.sent += 1
                try:
                    response = client.post("/v1/chat/completions", json=body, headers=headers)
                    self.answered += 1
                    self.statuses[response.status_code] = (
                        self.statuses.get(response.status_code, 0) + 1
                    )
                    if n % 10 == 0:
                        self.texts.append(response.text)
                except httpx.HTTPError as exc:
                    if self.gateway.was_down(started, time.monotonic()) or _killing.is_set():
                        self.cut_by_kill += 1
                    else:
                        self.lost.append(f"traffic-{n}: {type(exc).__name__}: {exc}")
                    time.sleep(0.05)


_killing = threading.Event()


def _log_records(path: Path) -> list[dict]:
    """The decision log's complete lines (a flush may be under way: skip a partial last one)."""
    text = path.read_text(errors="replace")
    lines = text.split("\n")[:-1]  # after the last newline: partial or empty
    return [json.loads(line) for line in lines if line.strip()]


def _offline_worker(count: int, workdir: str, queue: multiprocessing.Queue) -> None:
    outcome = offline_fuzz.fuzz(count, Path(workdir))
    queue.put(outcome)


_cleanup: list = []


def main() -> int:
    try:
        return _main()
    finally:
        for step in reversed(_cleanup):
            with contextlib.suppress(Exception):
                step()


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chat", type=int, default=3400)
    parser.add_argument("--headers", type=int, default=3400)
    parser.add_argument("--changesets", type=int, default=3400)
    parser.add_argument("--offline", type=int, default=10000)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--reloads", type=int, default=30)
    parser.add_argument("--outages", type=int, default=2)
    parser.add_argument("--fault-seconds", type=float, default=60.0)
    parser.add_argument("--memory-mb", type=float, default=150.0)
    args = parser.parse_args()
    began = time.monotonic()

    work = Path(tempfile.mkdtemp(prefix="routectl-reliability-"))
    queue: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
    offline = multiprocessing.get_context("fork").Process(
        target=_offline_worker, args=(args.offline, str(work / "offline"), queue)
    )
    offline.start()
    _cleanup.append(lambda: offline.is_alive() and offline.terminate())

    upstream = FaultyUpstream()
    mock_server = ServerThread(upstream.app).__enter__()
    upstream.url = mock_server.url  # type: ignore[attr-defined]
    store = Store(work)
    _cleanup.append(store.stop)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "ROUTECTL_ADMIN_TOKEN": fz.ADMIN_TOKEN,
        "ROUTECTL_SECRETS_KEY": SECRETS_KEY,
        "GW_TEST_PROVIDER_KEY": fz.PROVIDER_CANARY,
        "GW_TEST_APP_KEY": fz.APP_KEY,
    }
    os.environ.update({k: env[k] for k in ("ROUTECTL_SECRETS_KEY", "GW_TEST_APP_KEY")})
    os.environ["GW_TEST_PROVIDER_KEY"] = fz.PROVIDER_CANARY
    seed_store = open_store(store.url)
    policy_dir = work / "policy"
    apply_policy(seed_store, fz.policy(upstream.url), policy_dir)
    seed_store.close()
    gateway = Gateway(work, store.url, env)
    _cleanup.append(gateway.stop)
    gateway.start()
    admin = httpx.Client(
        base_url=f"{gateway.url}/admin/v1",
        headers={"authorization": f"Bearer {fz.ADMIN_TOKEN}"},
        timeout=30,
    )
    # The p-b key is pushed: stored encrypted, resolved by the gateway.
    current = admin.get("/config").json()
    provider = next(r for r in current["resources"] if r["address"] == "provider/p-b")
    spec = dict(provider["spec"], credentials={"apiKey": {"value": fz.PUSHED_CANARY}})
    pushed = admin.post(
        "/changesets",
        json={
            "author": "bench",
            "operations": [
                {"action": "update", "kind": "Provider", "name": "p-b", "resource": {"spec": spec}}
            ],
        },
        headers={"if-match": f'"{current["revision"]}"'},
    )
    assert pushed.status_code == 200, pushed.text

    # ---------------------------------------------------------------- live fuzzing
    client = httpx.Client(base_url=gateway.url, timeout=30)
    prober = fz.Prober(client, secrets=(*fz.Prober(client).secrets, SECRETS_KEY))
    assert gateway.process is not None
    rss_start = _rss_mb(gateway.process.pid)
    rss_peak = rss_start
    for fuzz, count in (
        (fz.fuzz_chat, args.chat),
        (fz.fuzz_headers, args.headers),
        (fz.fuzz_admin, args.changesets),
    ):
        fuzz(prober, count)
        rss_peak = max(rss_peak, _rss_mb(gateway.process.pid))
    time.sleep(1.5)  # the decision log flushes
    metrics = client.get("/metrics").text
    rss_end = _rss_mb(gateway.process.pid)
    records = _log_records(gateway.log)
    logged_500 = sum(r.get("status") == 500 for r in records)
    metered_500 = fz.metric_total(
        metrics, "routectl_gateway_server_errors_total", status="500"
    ) + fz.metric_total(metrics, "routectl_gateway_requests_total", status="5xx")
    unaccounted_500 = max(0, prober.errors_500 - min(logged_500, int(metered_500)))

    # ---------------------------------------------------------------- faults under traffic
    traffic = Traffic(gateway)
    traffic.start()
    faults = {"kills": 0, "upstream failures": 0, "reloads": 0, "store outages": 0}
    plan: list[str] = (
        ["kill"] * args.kills
        + ["upstream"] * max(8, args.reloads // 3)
        + ["reload"] * args.reloads
        + ["outage"] * args.outages
    )
    import random

    random.Random(14).shuffle(plan)
    pause = args.fault_seconds / max(1, len(plan))
    modes = ["503", "hang", "400ctx", "500", "429"]
    for index, fault in enumerate(plan):
        if fault == "kill":
            _killing.set()
            gateway.kill_and_restart()
            _killing.clear()
            faults["kills"] += 1
        elif fault == "upstream":
            victim = ("p-a", "p-us", "p-b")[index % 3]
            upstream[victim].mode = modes[index % len(modes)]
            threading.Timer(
                pause * 1.5, lambda v=victim: setattr(upstream[v], "mode", "ok")
            ).start()
            faults["upstream failures"] += 1
        elif fault == "reload":
            try:
                current = admin.get("/config").json()
                tier = {"action": "create", "kind": "Tier", "name": f"bench-{index}",
                        "resource": {"spec": {"rank": 100 + index}}}  # fmt: skip
                admin.post(
                    "/changesets",
                    json={"author": "bench", "operations": [tier]},
                    headers={"if-match": f'"{current["revision"]}"'},
                )
                faults["reloads"] += 1
            except httpx.HTTPError:
                pass  # the gateway was being killed; the next reload goes through
        elif fault == "outage" and store.outage(min(8.0, pause * 2)):
            faults["store outages"] += 1
        time.sleep(pause)
    for behaviour in list(upstream.providers.values()):
        behaviour.mode = "ok"
    time.sleep(2)
    traffic.stop_event.set()
    traffic.join(30)

    # ---------------------------------------------------------------- offline results
    outcome = None
    while outcome is None and (offline.is_alive() or not queue.empty()):
        try:  # read before joining: a child blocks on put until the result is taken
            outcome = queue.get(timeout=5)
        except Exception:
            continue
    offline.join()

    # ---------------------------------------------------------------- findings
    violations = fz.sovereignty_violations(upstream["p-us"].received)
    time.sleep(1.5)
    gateway.stop()
    stderr_text = gateway.stderr_path.read_text(errors="replace")
    searched = {
        "answers": " ".join(traffic.texts),
        "decision log": gateway.log.read_text(errors="replace"),
        "gateway stderr": stderr_text,
        "metrics": metrics,
    }
    secrets = (fz.PUSHED_CANARY, fz.PROVIDER_CANARY, fz.ADMIN_TOKEN, SECRETS_KEY)
    leaks = list(prober.secrets_found)
    for where, text in searched.items():
        leaks += [f"{where}: {s[:8]}…" for s in secrets if s in text]
    for path in store.files():
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if fz.PUSHED_CANARY.encode() in data:
            leaks.append(f"store file {path.name}: the pushed key in plaintext")
    gateway_tracebacks = stderr_text.count("Traceback")
    mock_server.__exit__(None, None, None)

    fuzzed_live = args.chat + args.headers + args.changesets
    lost = len(prober.no_answer) + len(traffic.lost)
    offline_bad = (
        (len(outcome.tracebacks) + len(outcome.unlocated) + len(outcome.slow)) if outcome else 1
    )
    failed = bool(
        lost
        or violations
        or leaks
        or prober.tracebacks
        or gateway_tracebacks
        or unaccounted_500
        or offline_bad
        or rss_end - rss_start > args.memory_mb
    )
    print("routectl reliability")
    print(f"  inputs fuzzed           {fuzzed_live + (outcome.inputs if outcome else 0):,}")
    print(f"    live: chat bodies     {args.chat:,}   header sets {args.headers:,}   "
          f"admin change sets {args.changesets:,}")  # fmt: skip
    if outcome:
        print(f"    offline: manifests+traffic {outcome.inputs:,} (loaded {outcome.loaded:,}, "
              f"simulated {outcome.simulated:,}); tracebacks {len(outcome.tracebacks)}, "
              f"unlocated errors {len(outcome.unlocated)}, over 5 s {len(outcome.slow)} "
              f"(slowest step {outcome.slowest_s:.2f} s)")  # fmt: skip
    else:
        print("    offline: the worker returned nothing (crashed)")
    status_line = ", ".join(f"{k}: {v}" for k, v in sorted(prober.statuses.items()))
    print(f"    live answers by status {status_line}; unsendable by the client {prober.unsendable}")
    print(f"  faults injected         kills {faults['kills']}, upstream failures "
          f"{faults['upstream failures']}, reloads {faults['reloads']}, store outages "
          f"{faults['store outages']} ({store.url.split(':')[0]})")  # fmt: skip
    traffic_status = ", ".join(f"{k}: {v}" for k, v in sorted(traffic.statuses.items()))
    print(f"  requests sent           {prober.sent + traffic.sent:,} (fuzz {prober.sent:,}, "
          f"traffic under faults {traffic.sent:,}: {traffic_status})")  # fmt: skip
    print(f"  requests lost           {lost} (cut by kill -9, not counted: {traffic.cut_by_kill})")
    print(f"  sovereignty violations  {violations} (pii bodies at the US provider, of "
          f"{len(upstream['p-us'].received):,} it received)")  # fmt: skip
    print(f"  secrets found           {len(leaks)}")
    print(f"  500s: answered {prober.errors_500}, logged {logged_500}, metered "
          f"{int(metered_500)}; tracebacks in answers {len(prober.tracebacks)}, in the "
          f"gateway's stderr {gateway_tracebacks}")  # fmt: skip
    print(f"  gateway memory          {rss_start:.0f} MB -> peak {rss_peak:.0f} MB -> "
          f"{rss_end:.0f} MB after fuzzing (bound +{args.memory_mb:.0f} MB)")  # fmt: skip
    print(f"  wall time               {time.monotonic() - began:.0f} s")
    for line in (prober.no_answer + traffic.lost + leaks)[:5]:
        print(f"    ! {line}")
    if outcome:
        for line in (outcome.tracebacks + outcome.unlocated + outcome.slow)[:5]:
            print(f"    ! {line}")
    if failed:
        print(f"FAIL (inputs and logs kept in {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
