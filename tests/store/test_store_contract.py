"""Each store and the admin service over it: revisions, atomicity, write-only secrets."""

from __future__ import annotations

import threading
import time

import pytest

from routectl.admin.service import AdminService, InvalidPayload
from routectl.store import open_store
from routectl.store.base import InvalidChange, StaleRevision, wait_for_change

PROVIDER_SPEC = {
    "baseUrl": "https://api.example/v1",
    "jurisdiction": "DE",
    "credentials": {"apiKey": {"value": "sk-canary-4242"}},
}


def create_provider(name: str, spec=None) -> dict:
    return {
        "action": "create",
        "kind": "Provider",
        "name": name,
        "resource": {"spec": spec or PROVIDER_SPEC, "owner": "git:test"},
    }


@pytest.fixture
def service(store_url):
    store = open_store(store_url)
    yield AdminService(store)
    store.close()


def test_apply_creates_a_revision_and_masks_pushed_secrets(service):
    result = service.apply({"author": "alice", "operations": [create_provider("p1")]}, 0)
    assert result == {"revision": 1, "applied": 1}
    config = service.get_config()
    assert config["revision"] == 1
    (resource,) = config["resources"]
    assert resource["spec"]["credentials"]["apiKey"] == {
        "fingerprint": resource["spec"]["credentials"]["apiKey"]["fingerprint"]
    }
    assert "sk-canary-4242" not in repr(config)
    assert service.store.secret_value("provider/p1", ("credentials", "apiKey")) == "sk-canary-4242"
    assert service.history()[0]["author"] == "alice"


def test_stale_revision_writes_nothing(service):
    service.apply({"author": "a", "operations": [create_provider("p1")]}, 0)
    with pytest.raises(StaleRevision) as info:
        service.apply({"author": "b", "operations": [create_provider("p2")]}, 0)
    assert (info.value.expected, info.value.current) == (0, 1)
    assert [r["name"] for r in service.get_config()["resources"]] == ["p1"]


def test_past_revisions_stay_readable(service):
    service.apply({"author": "a", "operations": [create_provider("p1")]}, 0)
    service.apply(
        {"author": "a", "operations": [{"action": "delete", "kind": "Provider", "name": "p1"}]}, 1
    )
    assert service.get_config()["resources"] == []
    assert [r["name"] for r in service.get_config(1)["resources"]] == ["p1"]


def test_invalid_spec_is_rejected_with_its_path(service):
    bad = dict(PROVIDER_SPEC, jurisdiction="germany")
    with pytest.raises(InvalidPayload) as info:
        service.apply({"author": "a", "operations": [create_provider("p1", bad)]}, 0)
    assert info.value.path[-1] == "jurisdiction"
    assert service.get_config()["revision"] == 0


def test_update_of_missing_resource_is_invalid(service):
    op = create_provider("p1") | {"action": "update"}
    with pytest.raises(InvalidChange):
        service.apply({"author": "a", "operations": [op]}, 0)


def test_racing_applies_exactly_one_wins(store_url):
    open_store(store_url).close()
    outcomes: list[str] = []
    start = threading.Barrier(10)

    def writer(i: int) -> None:
        store = open_store(store_url)
        try:
            start.wait()
            AdminService(store).apply(
                {"author": f"w{i}", "operations": [create_provider(f"p{i}")]}, 0
            )
            outcomes.append("won")
        except StaleRevision:
            outcomes.append("stale")
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["stale"] * 9 + ["won"]
    store = open_store(store_url)
    assert store.current_revision() == 1
    assert len(store.snapshot().resources) == 1
    store.close()


def test_a_replica_notices_a_new_revision(store_url):
    writer, replica = open_store(store_url), open_store(store_url)
    try:
        assert wait_for_change(replica, 0, timeout=0.05) == 0  # nothing happened: times out
        applied = threading.Timer(
            0.2,
            lambda: AdminService(writer).apply(
                {"author": "a", "operations": [create_provider("p1")]}, 0
            ),
        )
        started = time.monotonic()
        applied.start()
        assert wait_for_change(replica, 0, timeout=10) == 1
        applied.join()
        # Generous bound: replicas must pick a revision up within a second.
        assert time.monotonic() - started < 1.2
        assert "provider/p1" in replica.snapshot().resources
    finally:
        writer.close()
        replica.close()


def test_any_text_round_trips_unchanged(service):
    text = 'Zürich \u00e9\u4e2d \U0001f680 tab\t nul\u0000 quote"'
    op = create_provider("p1")
    op["resource"]["labels"] = {"note": text}
    service.apply({"author": "ö", "operations": [op]}, 0)
    (stored,) = service.get_config()["resources"]
    assert stored["labels"] == {"note": text}
    assert stored["updated_by"] == "ö"
    assert list(stored["spec"]) == sorted(stored["spec"])  # same key order on every backend
