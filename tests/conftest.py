"""Shared fixtures. Policies in tests are written as YAML text, like users write them."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from routectl.core.policy import Policy, resolve
from routectl.loader.yaml_source import load_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "policies"


def write_policy(directory: Path, text: str, name: str = "policy.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def policy_from_text(tmp_path: Path, text: str) -> Policy:
    write_policy(tmp_path, text)
    result = load_paths([tmp_path])
    assert result.ok, [str(e) for e in result.errors]
    return resolve(d.doc for d in result.documents)


@pytest.fixture
def make_policy(tmp_path: Path):
    def make(text: str) -> Policy:
        return policy_from_text(tmp_path / "policy", text)

    return make


# ---------------------------------------------------------------- secrets key
# Pushed secrets are stored encrypted; tests that push one get a key, as an operator's
# gateway would. Tests of the key itself set or unset it themselves.
_SECRETS_KEY = "mA3Q0v0H2hC1k9VfJ0q9s8d7f6g5h4j3k2l1z0x9c8U="


@pytest.fixture(autouse=True)
def secrets_key(monkeypatch) -> str:
    monkeypatch.setenv("ROUTECTL_SECRETS_KEY", _SECRETS_KEY)
    return _SECRETS_KEY


# ---------------------------------------------------------------- PostgreSQL
# One throwaway server per session (tests/pgserver.py). Without PostgreSQL
# installed its tests are skipped, except in CI (CI set), where that fails.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    import pgserver

    try:
        server = pgserver.start_server()
    except pgserver.PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL: {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def new_postgres_database(postgres_server) -> Callable[[], str]:
    """Call it for another empty database on the session's server; returns its URL."""
    return postgres_server.create_database


@pytest.fixture(scope="session")
def postgres_url(new_postgres_database) -> str:
    """One database shared by the session; use new_postgres_database() for a clean one."""
    return new_postgres_database()


# ---------------------------------------------------------------- Redis
# One throwaway server per session (tests/redisserver.py); skipped without the
# binary, except in CI, where that fails.


@pytest.fixture(scope="session")
def redis_server() -> Iterator[object]:
    import redisserver

    try:
        server = redisserver.start_server()
    except redisserver.RedisUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Redis: {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for each test."""
    import socket

    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as sock:
        sock.sendall(b"FLUSHDB\r\n")
        assert sock.recv(16).startswith(b"+OK")
    return redis_server.url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """A URL for an empty store, once per backend; several store objects may open it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gw.db'}"
    return request.getfixturevalue("new_postgres_database")()
