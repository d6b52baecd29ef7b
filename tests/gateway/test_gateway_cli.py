"""``routectl gateway serve`` as users run it: refusals, and a real process end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from gateway.conftest import APP_KEY, PROVIDER_KEY, route
from gateway.servers import free_port
from routectl.cli.main import app

runner = CliRunner()


def serve(*args: str, env: dict | None = None):
    return runner.invoke(app, ["gateway", "serve", *args], env=env)


def test_refuses_to_start_without_an_admin_token(tmp_path):
    result = serve("--store", f"sqlite:///{tmp_path}/gw.db", env={"ROUTECTL_ADMIN_TOKEN": ""})
    assert result.exit_code == 2
    assert "ROUTECTL_ADMIN_TOKEN is not set" in result.output
    assert "Traceback" not in result.output


def test_insecure_local_only_on_loopback(tmp_path):
    result = serve("--insecure-local", "--host", "0.0.0.0", "--store", f"sqlite:///{tmp_path}/x.db")
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_bad_store_url_and_busy_port_are_usage_errors(tmp_path):
    result = serve("--insecure-local", "--store", "mysql://nope")
    assert result.exit_code == 2 and "unsupported store URL" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve(
            "--insecure-local", "--port", str(port), "--store", f"sqlite:///{tmp_path}/gw.db"
        )
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output


def test_served_process_routes_exposes_admin_and_flushes_its_log_on_shutdown(
    tmp_path, store, configure, mock
):
    configure(route(targets="[{model: m-a}]"))
    port = free_port()
    log_path = tmp_path / "decisions.jsonl"
    env = {
        **os.environ,
        "ROUTECTL_ADMIN_TOKEN": "admin-secret-token-77",
        "GW_TEST_PROVIDER_KEY": PROVIDER_KEY,
        "GW_TEST_APP_KEY": APP_KEY,
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
            "--log",
            str(log_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.get("/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "gateway did not come up"
                time.sleep(0.1)
        response = client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {APP_KEY}", "x-request-id": "cli-1"},
        )
        assert response.status_code == 200
        assert response.headers["x-routectl-model"] == "m-a"
        assert client.get("/admin/v1/config").status_code == 401
        config = client.get(
            "/admin/v1/config", headers={"authorization": "Bearer admin-secret-token-77"}
        )
        assert config.status_code == 200 and config.json()["revision"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    # uvicorn re-raises the signal after its graceful shutdown.
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode()
    assert b"Traceback" not in stderr
    (record,) = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert record["request_id"] == "cli-1" and record["model"] == "m-a"
    for secret in (PROVIDER_KEY, APP_KEY, "admin-secret-token-77"):
        assert secret.encode() not in stderr
