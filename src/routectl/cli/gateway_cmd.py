"""``routectl gateway serve``: run the AI gateway (data plane + admin API) on uvicorn."""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import socket
from pathlib import Path

import typer
import uvicorn

from routectl.cli.common import Exit, stderr
from routectl.store import DEFAULT_STORE_URL, open_store
from routectl.store.base import StoreError

TOKEN_ENV = "ROUTECTL_ADMIN_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fail(message: str) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(Exit.USAGE)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _log_to_stderr() -> None:
    """routectl's own INFO lines (reloads); libraries stay at WARNING,
    so nothing logs per-request URLs or headers."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("routectl").setLevel(logging.INFO)


def register(app: typer.Typer) -> None:
    gateway = typer.Typer(help="Run the routectl AI gateway.", no_args_is_help=True)
    app.add_typer(gateway, name="gateway")

    @gateway.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
        store_url: str = typer.Option(
            DEFAULT_STORE_URL,
            "--store",
            help="sqlite:///PATH or postgresql://… (shared by replicas).",
        ),
        log: Path = typer.Option(
            None, "--log", help="Append one JSON decision record per request."
        ),
        insecure_local: bool = typer.Option(
            False,
            "--insecure-local",
            help=f"Serve the admin API without {TOKEN_ENV} (loopback only).",
        ),
        breaker_failures: int = typer.Option(5, "--breaker-failures", min=1),
        breaker_cooldown: float = typer.Option(
            30.0, "--breaker-cooldown", min=0.0, help="Seconds."
        ),
        shadow_concurrency: int = typer.Option(16, "--shadow-concurrency", min=0),
    ) -> None:
        """Serve POST /v1/chat/completions, GET /v1/models, /metrics and the admin API.

        Exit 2 on bad options, a missing admin token, an unusable store or log, or a busy port.
        """
        from routectl.gateway.app import GatewaySettings, create_app

        token = os.environ.get(TOKEN_ENV) or None
        if insecure_local and not is_loopback(host):
            raise _fail(f"--insecure-local serves only a loopback host (127.0.0.1), not {host}")
        if token is None and not insecure_local:
            raise _fail(
                f"{TOKEN_ENV} is not set: set it to the admin API's bearer token, "
                "or pass --insecure-local with a loopback --host for local use"
            )
        try:
            store = open_store(store_url)
            revision = store.current_revision()
        except StoreError as exc:
            raise _fail(str(exc)) from None
        except ImportError:
            raise _fail(
                f"this installation has no store for {store_url.split(':', 1)[0]}"
            ) from None
        try:
            gateway_app = create_app(
                store,
                admin_token=token,
                insecure_local=insecure_local,
                log_path=log,
                settings=GatewaySettings(
                    breaker_failures=breaker_failures,
                    breaker_cooldown_s=breaker_cooldown,
                    shadow_concurrency=shadow_concurrency,
                ),
            )
        except OSError as exc:
            raise _fail(f"cannot open the decision log {log}: {exc.strerror}") from None
        sock = _bind(host, port)
        _log_to_stderr()
        stderr.print(
            f"routectl gateway on http://{host}:{sock.getsockname()[1]} "
            f"(configuration revision {revision})"
        )
        config = uvicorn.Config(
            gateway_app,
            loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
            http="httptools" if importlib.util.find_spec("httptools") else "h11",
            access_log=False,
            proxy_headers=False,  # the gateway reads no client address; one layer less
            log_level="warning",
            lifespan="on",
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            store.close()
