"""The admin API of two gateway replicas sharing one PostgreSQL store."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from admin_helpers import TOKEN, changeset, create, gateway_app, if_match, serve

from routectl.admin.service import AdminService
from routectl.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


def client(url: str, openapi_check) -> httpx.Client:
    return httpx.Client(
        base_url=url + "/admin/v1",
        headers={"Authorization": f"Bearer {TOKEN}"},
        event_hooks={"response": [openapi_check]},
        timeout=30,
    )


def test_what_one_replica_applies_the_other_serves(new_postgres_database, openapi_check):
    url = new_postgres_database()
    first, second = PostgresStore(url), PostgresStore(url)
    with (
        serve(gateway_app(AdminService(first), token=TOKEN)) as one,
        serve(gateway_app(AdminService(second), token=TOKEN)) as two,
        client(one, openapi_check) as api_one,
        client(two, openapi_check) as api_two,
    ):
        assert api_one.post("/changesets", json=changeset(create("p1")), headers=if_match(0))
        assert api_two.get("/config").json() == api_one.get("/config").json()
        stale = api_two.post("/changesets", json=changeset(create("p2")), headers=if_match(0))
        assert stale.status_code == 412 and stale.json()["error"]["current_revision"] == 1
    first.close()
    second.close()


def test_a_lost_store_is_503_without_saying_where_it_is(postgres_server, openapi_check):
    url = postgres_server.create_database()
    store = PostgresStore(url, connect_timeout_s=1)  # gives up on the lost store sooner
    with (
        serve(gateway_app(AdminService(store), token=TOKEN)) as gateway,
        client(gateway, openapi_check) as api,
    ):
        assert api.get("/health").status_code == 200
        database = url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        health = api.get("/health")  # at once: the pool is still trying to reconnect
        assert health.status_code == 503 and health.elapsed.total_seconds() < 4
        assert database not in health.text and "127.0.0.1" not in health.text
        config = api.get("/config")  # authenticated callers learn which store failed
        assert config.status_code == 503 and database in config.json()["error"]["message"]
    store.close()
