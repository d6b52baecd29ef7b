"""A real, throwaway Redis server for the tests (the Debian ``redis-server`` binary).

Started on a free 127.0.0.1 port with persistence off, in a temporary
directory, and stopped again; nothing touches a system Redis.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass


class RedisUnavailable(Exception):
    """No redis-server binary (the reason says what to install)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    directory: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_server(port: int | None = None) -> RedisServer:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if shutil.os.path.exists("/usr/bin/redis-server") else None
    )
    if binary is None:
        raise RedisUnavailable(
            "no redis-server binary (install the Debian 'redis-server' package; .ci/run does)"
        )
    directory = tempfile.mkdtemp(prefix="routectl-redis-")
    port = port or _free_port()
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
            directory,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return RedisServer(port, process, directory)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RedisUnavailable(f"redis-server did not start on port {port}")
