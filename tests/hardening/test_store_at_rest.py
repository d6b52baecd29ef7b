"""Pushed secrets are encrypted at rest, store files are owner-only, keys rotate."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from routectl.admin.service import AdminService
from routectl.core.state import PUSHED_SECRET_REF
from routectl.gateway.secrets import SecretUnavailable, resolve_secret
from routectl.store.sqlite import SqliteStore

CANARY = "sk-at-rest-canary-0f9e8d7c"
WHERE = ("credentials", "apiKey")


def _push(store, name: str = "p1", value: str = CANARY, revision: int = 0) -> int:
    operation = {
        "action": "create",
        "kind": "Provider",
        "name": name,
        "resource": {
            "spec": {
                "baseUrl": "https://api.example.com/v1",
                "jurisdiction": "DE",
                "credentials": {"apiKey": {"value": value}},
            }
        },
    }
    return AdminService(store).apply({"author": "t", "operations": [operation]}, revision)[
        "revision"
    ]


def _everything_on_disk(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())


def test_pushed_secrets_are_not_plaintext_in_the_database_or_its_wal(tmp_path):
    store = SqliteStore(tmp_path / "gw.db")
    _push(store)
    assert (tmp_path / "gw.db-wal").exists()
    assert CANARY.encode() not in _everything_on_disk(tmp_path)
    assert store.secret_value("provider/p1", WHERE) == CANARY
    store.close()
    assert CANARY.encode() not in _everything_on_disk(tmp_path)  # after the checkpoint too


def test_store_files_are_owner_only(tmp_path):
    store = SqliteStore(tmp_path / "gw.db")
    _push(store)
    for name in ("gw.db", "gw.db-wal", "gw.db-shm"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    store.close()


def test_an_existing_world_readable_store_is_tightened(tmp_path):
    (tmp_path / "gw.db").touch(mode=0o644)
    (tmp_path / "gw.db").chmod(0o644)
    SqliteStore(tmp_path / "gw.db").close()
    assert stat.S_IMODE((tmp_path / "gw.db").stat().st_mode) == 0o600


def test_pushing_without_a_key_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("ROUTECTL_SECRETS_KEY")
    store = SqliteStore(tmp_path / "gw.db")
    from routectl.store.base import InvalidChange

    with pytest.raises(InvalidChange, match="ROUTECTL_SECRETS_KEY"):
        _push(store)
    assert store.current_revision() == 0
    store.close()


def test_a_wrong_key_makes_the_secret_unavailable_not_an_error(tmp_path, monkeypatch):
    store = SqliteStore(tmp_path / "gw.db")
    _push(store)
    monkeypatch.setenv("ROUTECTL_SECRETS_KEY", Fernet.generate_key().decode())
    with pytest.raises(SecretUnavailable, match="decrypts"):
        resolve_secret(PUSHED_SECRET_REF, store, "provider/p1", WHERE)
    store.close()


def test_rotation_new_key_first_then_rekey_then_drop_the_old(tmp_path, monkeypatch, secrets_key):
    store = SqliteStore(tmp_path / "gw.db")
    _push(store)
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("ROUTECTL_SECRETS_KEY", f"{new},{secrets_key}")
    assert store.secret_value("provider/p1", WHERE) == CANARY
    store.close()
    done = subprocess.run(
        [sys.executable, "-m", "routectl.cli.main", "gateway", "rotate-secrets", "--store",
         f"sqlite:///{tmp_path / 'gw.db'}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1" in done.stderr
    monkeypatch.setenv("ROUTECTL_SECRETS_KEY", new)
    store = SqliteStore(tmp_path / "gw.db")
    assert store.secret_value("provider/p1", WHERE) == CANARY
    store.close()
