"""How fast gateway replicas see a new revision, and what the PostgreSQL store costs.

    python benchmarks/bench_store.py [--rounds 50]

Starts a throwaway PostgreSQL (tests/pgserver.py; needs the Debian
``postgresql`` package) and, in the same run, measures:

* pickup: the time from an apply's commit until a second store object (a
  replica) returns from ``wait_for_change`` (LISTEN/NOTIFY), against the
  baseline of polling ``current_revision()`` every 100 ms;
* ``current_revision()`` and a one-resource apply on PostgreSQL, against the
  same calls on the SQLite store;
* ``GET /admin/v1/config`` of 200 resources over HTTP, against reading the same
  snapshot in process.

Targets: NOTIFY pickup p99 < 100 ms (replicas must pick up within 1 s) and at
least 2x faster than 100 ms polling at the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "admin")]

from admin_helpers import gateway_app, serve  # noqa: E402

import pgserver  # noqa: E402
from routectl.admin.service import AdminService  # noqa: E402
from routectl.store import open_store  # noqa: E402
from routectl.store.base import ConfigStore  # noqa: E402

TOKEN = "bench-token"


def provider(name: str, action: str = "create") -> dict:
    spec = {"baseUrl": f"https://{name}.example/v1", "jurisdiction": "DE"}
    return {"action": action, "kind": "Provider", "name": name, "resource": {"spec": spec}}


def apply_one(store: ConfigStore, name: str) -> int:
    revision = store.current_revision()
    return AdminService(store).apply({"author": "bench", "operations": [provider(name)]}, revision)[
        "revision"
    ]


def pickup_ms(writer: ConfigStore, wait: Callable[[int], int], rounds: int) -> list[float]:
    """Milliseconds from each apply's return until ``wait(old_revision)`` returned."""
    samples = []
    for i in range(rounds):
        before = writer.current_revision()
        seen_at: list[float] = []

        def replica(revision: int = before, seen: list[float] = seen_at) -> None:
            wait(revision)
            seen.append(time.perf_counter())

        waiter = threading.Thread(target=replica)
        waiter.start()
        time.sleep(0.02)  # the replica is waiting before the apply lands
        apply_one(writer, f"pick-{id(wait)}-{i}")
        committed = time.perf_counter()
        waiter.join()
        samples.append(max(0.0, (seen_at[0] - committed) * 1000))
    return samples


def poll_every(store: ConfigStore, interval_s: float) -> Callable[[int], int]:
    def wait(revision: int) -> int:
        while (current := store.current_revision()) == revision:
            time.sleep(interval_s)
        return current

    return wait


def per_call_us(call: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    try:
        server = pgserver.start_server()
    except pgserver.PostgresUnavailable as exc:
        print(f"skipped: {exc}")
        return 2
    try:
        url = server.create_database("bench")
        writer, replica = open_store(url), open_store(url)
        sqlite = open_store(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
        many = [provider(f"bulk-{i}") for i in range(200)]
        AdminService(sqlite).apply({"author": "bench", "operations": many}, 0)

        notify = pickup_ms(writer, lambda r: replica.wait_for_change(r, 10), args.rounds)
        polled = pickup_ms(writer, poll_every(replica, 0.1), args.rounds)
        print(f"pickup NOTIFY    p50 {pct(notify, 0.5):7.2f} ms  p99 {pct(notify, 0.99):7.2f} ms")
        print(f"pickup poll 100ms p50 {pct(polled, 0.5):7.2f} ms  p99 {pct(polled, 0.99):7.2f} ms")
        ratio = statistics.median(polled) / max(statistics.median(notify), 1e-3)
        print(f"  NOTIFY is {ratio:.1f}x faster than polling at the median")

        pg_rev = per_call_us(replica.current_revision, 500)
        lite_rev = per_call_us(sqlite.current_revision, 500)
        print(
            f"current_revision  postgres {pg_rev:8.1f} us  sqlite {lite_rev:8.1f} us  "
            f"ratio {pg_rev / lite_rev:.1f}x"
        )
        names = iter(range(10**9))
        pg_apply = per_call_us(lambda: apply_one(writer, f"a{next(names)}"), args.rounds)
        lite_apply = per_call_us(lambda: apply_one(sqlite, f"a{next(names)}"), args.rounds)
        print(
            f"apply 1 resource  postgres {pg_apply / 1000:8.2f} ms  sqlite "
            f"{lite_apply / 1000:8.2f} ms  ratio {pg_apply / lite_apply:.1f}x"
        )

        service = AdminService(sqlite)
        in_process = per_call_us(service.get_config, 50)
        with (
            serve(gateway_app(service, token=TOKEN)) as base,
            httpx.Client(
                base_url=base + "/admin/v1", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as api,
        ):
            over_http = per_call_us(lambda: api.get("/config").raise_for_status(), 50)
        count = len(service.get_config()["resources"])
        print(
            f"config of {count} resources  HTTP {over_http / 1000:7.2f} ms  in process "
            f"{in_process / 1000:7.2f} ms  ratio {over_http / in_process:.1f}x"
        )

        ok = pct(notify, 0.99) < 100 and ratio >= 2
        print("targets met" if ok else "TARGETS MISSED")
        for store in (writer, replica, sqlite):
            store.close()
        return 0 if ok else 1
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
