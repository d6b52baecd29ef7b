"""The SQLite store and the admin service over it: revisions, atomicity, write-only secrets."""

from __future__ import annotations

import threading

import pytest

from routectl.admin.service import AdminService, InvalidPayload
from routectl.store.base import InvalidChange, StaleRevision
from routectl.store.sqlite import SqliteStore

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
def service(tmp_path):
    store = SqliteStore(tmp_path / "gw.db")
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


def test_racing_applies_exactly_one_wins(tmp_path):
    path = tmp_path / "race.db"
    SqliteStore(path).close()
    outcomes: list[str] = []

    def writer(i: int) -> None:
        store = SqliteStore(path)
        try:
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
    assert SqliteStore(path).current_revision() == 1
