"""``routectl gateway serve``: run the AI gateway (data plane + admin API) on uvicorn."""

from __future__ import annotations

import contextlib
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
from routectl.store.crypto import SecretCipher

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
        counters: str = typer.Option(
            "memory",
            "--counters",
            help="Where budget spend and consumer rate windows are counted: memory (this "
            "process) or redis://HOST:PORT/DB (shared by workers and replicas).",
        ),
        counters_down: str = typer.Option(
            "closed",
            "--counters-down",
            help="When the counters do not answer: closed (refuse consumers whose budget can "
            "block or who have rate limits, 503) or open (serve them unmetered).",
        ),
        workers: int = typer.Option(
            1,
            "--workers",
            min=1,
            max=64,
            help="Processes serving the same port; more than one needs --counters redis://…",
        ),
        secrets_dirs: list[Path] = typer.Option(
            [],
            "--secrets-dir",
            help="file: credentials may lie only under these directories (default: none).",
        ),
        secret_env: list[str] = typer.Option(
            [],
            "--secret-env",
            help="env: credentials may name only these variables or globs (default: any "
            "but ROUTECTL_*, which is always refused).",
        ),
        provider_hosts: list[str] = typer.Option(
            [],
            "--provider-host",
            help="Providers' baseUrl hosts or globs allowed (default: any).",
        ),
        secrets_key_file: Path = typer.Option(
            None,
            "--secrets-key-file",
            help="Fernet keys (one per line, the first encrypts) for pushed secrets at rest; "
            "default: ROUTECTL_SECRETS_KEY or ROUTECTL_SECRETS_KEY_FILE.",
        ),
    ) -> None:
        """Serve POST /v1/chat/completions, GET /v1/models, /metrics and the admin API.

        Exit 2 on bad options, a missing admin token, an unusable store or log, or a busy port.
        """
        from routectl.counters import open_counters
        from routectl.gateway.app import GatewaySettings, create_app
        from routectl.gateway.egress import EgressPolicy

        token = os.environ.get(TOKEN_ENV) or None
        if insecure_local and not is_loopback(host):
            raise _fail(f"--insecure-local serves only a loopback host (127.0.0.1), not {host}")
        if token is None and not insecure_local:
            raise _fail(
                f"{TOKEN_ENV} is not set: set it to the admin API's bearer token, "
                "or pass --insecure-local with a loopback --host for local use"
            )
        if counters_down not in ("closed", "open"):
            raise _fail(f"--counters-down is closed or open, not {counters_down!r}")
        try:
            open_counters(counters)  # checks the URL; connections open in each worker
        except ValueError as exc:
            raise _fail(str(exc)) from None
        if workers > 1 and not counters.startswith("redis://"):
            raise _fail(
                f"--workers {workers} share budgets and rate limits only through Redis: "
                "pass --counters redis://HOST:PORT/DB"
            )
        try:
            cipher = (
                SecretCipher.from_file(secrets_key_file)
                if secrets_key_file
                else SecretCipher.from_environment()
            )
            store = open_store(store_url)
            if cipher is not None and hasattr(store, "secrets_cipher"):
                store.secrets_cipher = cipher
            revision = store.current_revision()
        except StoreError as exc:
            raise _fail(str(exc)) from None
        except ImportError:
            raise _fail(
                f"this installation has no store for {store_url.split(':', 1)[0]}"
            ) from None
        settings = GatewaySettings(
            breaker_failures=breaker_failures,
            breaker_cooldown_s=breaker_cooldown,
            shadow_concurrency=shadow_concurrency,
            counters_url=None if counters in ("memory", "memory://") else counters,
            counters_fail_closed=counters_down == "closed",
        )

        egress = EgressPolicy.create(secrets_dirs, secret_env, provider_hosts)

        def app_for_this_process(store):
            if cipher is not None and hasattr(store, "secrets_cipher"):
                store.secrets_cipher = cipher  # a worker's own store decrypts pushed secrets too
            try:
                return create_app(
                    store,
                    admin_token=token,
                    insecure_local=insecure_local,
                    log_path=log,
                    settings=settings,
                    egress=egress,
                )
            except OSError as exc:
                raise _fail(f"cannot open the decision log {log}: {exc.strerror}") from None

        if workers == 1:
            gateway_app = app_for_this_process(store)
        sock = _bind(host, port)
        _log_to_stderr()
        stderr.print(
            f"routectl gateway on http://{host}:{sock.getsockname()[1]} "
            f"(configuration revision {revision}"
            + (f", {workers} workers" if workers > 1 else "")
            + ")"
        )
        if workers > 1:
            store.close()  # each worker opens its own connections after the fork
            raise typer.Exit(_run_workers(workers, sock, store_url, app_for_this_process))
        try:
            _serve(gateway_app, sock)
        finally:
            store.close()

    @gateway.command("rotate-secrets")
    def rotate_secrets(
        store_url: str = typer.Option(DEFAULT_STORE_URL, "--store", help="The store to re-key."),
        secrets_key_file: Path = typer.Option(
            None, "--secrets-key-file", help="As for serve; the first key encrypts."
        ),
    ) -> None:
        """Re-encrypt every pushed secret with the first secrets key (after adding a new key
        in front of the old one); values stored before encryption get encrypted too.

        Exit 0 done, 2 no or bad key, unusable store.
        """
        try:
            store = open_store(store_url)
            if secrets_key_file is not None:
                store.secrets_cipher = SecretCipher.from_file(secrets_key_file)  # type: ignore[attr-defined]
            count = store.rotate_secrets()  # type: ignore[attr-defined]
        except StoreError as exc:
            raise _fail(str(exc)) from None
        stderr.print(f"re-encrypted {count} pushed secret(s) with the first key")
        store.close()


def _serve(gateway_app, sock: socket.socket) -> None:
    config = uvicorn.Config(
        gateway_app,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        access_log=False,
        proxy_headers=False,  # the gateway reads no client address; one layer less
        log_level="warning",
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])


def _run_workers(count: int, sock: socket.socket, store_url: str, make_app) -> int:
    """Fork ``count`` workers that accept on the one listening socket (the kernel hands
    each connection to one of them); forward SIGINT/SIGTERM; exit when all have.

    Each worker has its own store connections, HTTP client, breakers and metrics;
    budget spend and consumer rate windows are shared through the Redis counters.
    """
    import signal

    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                store = open_store(store_url)
                try:
                    _serve(make_app(store), sock)
                finally:
                    store.close()
            except BaseException:  # noqa: BLE001 - a worker reports and exits, never returns
                logging.getLogger("routectl.gateway").exception("worker failed")
                code = 1
            os._exit(code)
        children.append(pid)

    def forward(signum, frame) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    for child in children:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        worst = max(worst, os.waitstatus_to_exitcode(status) if status else 0)
    sock.close()
    return 1 if worst else 0
