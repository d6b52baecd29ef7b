"""What only the PostgreSQL store does: NOTIFY on apply, shared schema setup, safe errors."""

from __future__ import annotations

import socket
import threading

import psycopg
import pytest

from routectl.admin.service import AdminService
from routectl.store import open_store
from routectl.store.base import StoreError
from routectl.store.postgres import NOTIFY_CHANNEL, PostgresStore, redacted

pytestmark = pytest.mark.postgres

PROVIDER = {
    "action": "create",
    "kind": "Provider",
    "name": "p1",
    "resource": {"spec": {"baseUrl": "https://api.example/v1", "jurisdiction": "DE"}},
}


def test_apply_notifies_listeners_with_the_new_revision(new_postgres_database):
    url = new_postgres_database()
    store = PostgresStore(url)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        AdminService(store).apply({"author": "a", "operations": [PROVIDER]}, 0)
        received = [(n.channel, n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    store.close()
    assert received == [(NOTIFY_CHANNEL, "1")]


def test_a_stale_apply_sends_no_notification(new_postgres_database):
    url = new_postgres_database()
    store = PostgresStore(url)
    AdminService(store).apply({"author": "a", "operations": [PROVIDER]}, 0)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with pytest.raises(StoreError):
            AdminService(store).apply({"author": "b", "operations": [PROVIDER]}, 0)
        assert list(listener.notifies(timeout=0.3, stop_after=1)) == []
    store.close()


def test_replicas_starting_together_create_the_schema_once(new_postgres_database):
    url = new_postgres_database()
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []
    start = threading.Barrier(6)

    def replica() -> None:
        start.wait()
        try:
            stores.append(PostgresStore(url))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.current_revision() for s in stores} == {0}
    for s in stores:
        s.close()


def test_an_unreachable_server_is_a_one_line_error_without_the_password():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreError) as info:
        open_store(f"postgresql://admin:hunter2-canary@127.0.0.1:{port}/gw")
    message = str(info.value)
    assert "hunter2-canary" not in message
    assert f"postgresql://admin@127.0.0.1:{port}/gw" in message
    assert "\n" not in message


def test_redacted_drops_the_password_in_every_url_form():
    assert redacted("postgresql://u:pw@db.example:5433/cfg") == "postgresql://u@db.example:5433/cfg"
    assert "pw" not in redacted("host=db user=u password=pw dbname=cfg")
    assert redacted("postgresql://%zz:pw@[bad") == "postgresql://…"


def _kill_other_connections(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(killed[0]) if killed else 0


def test_a_store_survives_its_connections_being_cut(new_postgres_database):
    url = new_postgres_database()
    store = PostgresStore(url)
    AdminService(store).apply({"author": "a", "operations": [PROVIDER]}, 0)
    assert store.wait_for_change(0, timeout=1) == 1  # opens the LISTEN connection
    assert _kill_other_connections(url) >= 2
    # The pool checks connections out with a round trip and the listener reconnects:
    # callers never see the cut.
    assert store.current_revision() == 1
    assert store.snapshot().revision == 1
    assert store.wait_for_change(1, timeout=0.3) == 1
    AdminService(store).apply(
        {"author": "a", "operations": [{"action": "delete", "kind": "Provider", "name": "p1"}]}, 1
    )
    assert store.wait_for_change(1, timeout=5) == 2
    store.close()
