"""Hot reload: new revisions take over within a second, in-flight traffic never fails.

Also several replicas sharing one PostgreSQL store.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from gateway.conftest import APP_KEY, route

BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


class Load:
    """A client loop in a thread: (sent at, status, model) for every request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.results: list[tuple[float, int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post(
                        "/v1/chat/completions", json=BODY, headers={"x-api-key": APP_KEY}
                    )
                    status, model = response.status_code, response.headers.get("x-routectl-model")
                except httpx.HTTPError:
                    status, model = 0, None
                self.results.append((sent, status, model))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def takeover_seconds(results, applied_at: float, model: str) -> float:
    """Seconds after ``applied_at`` from which every request went to ``model``."""
    last_other = max(
        (sent for sent, _, served in results if sent >= applied_at and served != model),
        default=applied_at,
    )
    return last_other - applied_at


def test_new_revision_takes_over_under_load_without_failures(configure, gateway, mock):
    gateway.await_revision(configure(route(targets="[{model: m-a}]")))
    mock["p-a"].chunk_delay_s = 0
    with Load(gateway.url) as load:
        time.sleep(0.4)
        applied_at = time.monotonic()
        configure(route(targets="[{model: m-b}]"))
        time.sleep(1.5)
    statuses = {status for _, status, _ in load.results}
    assert statuses == {200}, statuses
    assert len(load.results) > 50
    assert {m for s, _, m in load.results if s < applied_at} == {"m-a"}
    assert load.results[-1][2] == "m-b"
    assert takeover_seconds(load.results, applied_at, "m-b") < 1.0


@pytest.mark.postgres
def test_two_replicas_on_one_postgres_serve_a_new_revision_within_a_second(
    new_postgres_database, start_gateway, configure, mock
):
    from routectl.store import open_store

    url = new_postgres_database()
    writer, store_1, store_2 = open_store(url), open_store(url), open_store(url)
    try:
        configure(route(targets="[{model: m-a}]"), target_store=writer)
        replicas = [start_gateway(store_1), start_gateway(store_2)]
        for replica in replicas:
            replica.await_revision(1)
            assert replica.chat().headers["x-routectl-model"] == "m-a"
        revision = configure(route(targets="[{model: m-c}]"), target_store=writer)
        waits = [replica.await_revision(revision, timeout_s=3) for replica in replicas]
        assert max(waits) < 1.0, waits
        for replica in replicas:
            assert replica.chat().headers["x-routectl-model"] == "m-c"
    finally:
        for store in (writer, store_1, store_2):
            store.close()
