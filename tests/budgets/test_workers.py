"""``routectl gateway serve --workers N``: several processes on one port, one budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from budgets.test_gateway_budgets import BUDGET, EXPECTED, ROUTES, SPENDER_KEY
from gateway.conftest import APP_KEY, PROVIDER_KEY
from gateway.servers import free_port
from routectl.cli.main import app


def test_workers_need_shared_counters(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "gateway",
            "serve",
            "--insecure-local",
            "--workers",
            "2",
            "--store",
            f"sqlite:///{tmp_path}/gw.db",
        ],
    )
    assert result.exit_code == 2
    assert "--counters redis://" in result.output and "Traceback" not in result.output


def test_two_workers_share_one_port_and_one_budget(tmp_path, store, configure, mock, redis_url):
    configure(*ROUTES, BUDGET)
    port = free_port()
    env = {
        **os.environ,
        "ROUTECTL_ADMIN_TOKEN": "admin-token-workers",
        "GW_TEST_PROVIDER_KEY": PROVIDER_KEY,
        "GW_TEST_APP_KEY": APP_KEY,
        "GW_TEST_SPENDER_KEY": SPENDER_KEY,
    }
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
            f"sqlite:///{store.path}",
            "--workers",
            "2",
            "--counters",
            redis_url,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        workers: list[str] = []
        while len(workers) < 2:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "workers did not start"
            listing = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(process.pid)], capture_output=True, text=True
            )
            workers = listing.stdout.split()
            time.sleep(0.1)
        seen = []
        # a fresh connection per request, so the kernel may hand each to either worker
        for _ in EXPECTED:
            while True:
                try:
                    response = httpx.post(
                        f"http://127.0.0.1:{port}/v1/chat/completions",
                        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"authorization": f"Bearer {SPENDER_KEY}"},
                        timeout=10,
                    )
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "gateway did not come up"
                    time.sleep(0.1)
            seen.append(
                response.headers["x-routectl-model"]
                if response.status_code == 200
                else response.status_code
            )
        assert seen == EXPECTED
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
