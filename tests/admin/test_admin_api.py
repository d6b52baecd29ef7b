"""Reading and changing the configuration over HTTP: revisions, ETags, If-Match, errors."""

from __future__ import annotations

import threading

import httpx
import pytest
from admin_helpers import PROVIDER_SPEC, TOKEN, changeset, create, gateway_app, if_match, serve

from routectl.admin.service import AdminService
from routectl.store import open_store


def test_health_needs_no_token_and_reports_the_revision(anonymous):
    answer = anonymous.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "revision": 0}


def test_apply_then_read_everything_back(api):
    empty = api.get("/config")
    assert (empty.status_code, empty.headers["ETag"], empty.json()) == (
        200,
        '"0"',
        {"revision": 0, "resources": []},
    )
    applied = api.post(
        "/changesets",
        json=changeset(create("p1"), create("p2"), plan_hash="sha256:abc", summary="two"),
        headers=if_match(0),
    )
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"revision": 1, "applied": 2}
    assert applied.headers["ETag"] == '"1"'

    config = api.get("/config")
    assert config.headers["ETag"] == '"1"'
    resources = config.json()["resources"]
    assert [r["address"] for r in resources] == ["provider/p1", "provider/p2"]
    assert all(r["hash"].startswith("sha256:") and r["revision"] == 1 for r in resources)

    one = api.get("/resources/providers/p1")  # plural or singular, any case
    assert one.status_code == 200 and one.headers["ETag"] == '"1"'
    assert one.json() == resources[0] == api.get("/resources/Provider/p1").json()

    (entry,) = api.get("/revisions").json()
    assert entry["author"] == "alice" and entry["plan_hash"] == "sha256:abc"
    assert entry["summary"] == "two"
    assert entry["changes"] == [
        {"action": "create", "address": "provider/p1"},
        {"action": "create", "address": "provider/p2"},
    ]


def test_past_revisions_stay_readable(api):
    api.post("/changesets", json=changeset(create("p1")), headers=if_match(0))
    delete = {"action": "delete", "kind": "Provider", "name": "p1"}
    assert api.post("/changesets", json=changeset(delete), headers=if_match(1)).status_code == 200
    assert api.get("/config").json()["resources"] == []
    past = api.get("/revisions/1")
    assert past.headers["ETag"] == '"1"'
    assert [r["name"] for r in past.json()["resources"]] == ["p1"]
    assert api.get("/config", params={"revision": 1}).json() == past.json()
    assert [e["revision"] for e in api.get("/revisions", params={"limit": 1}).json()] == [2]


def test_a_stale_if_match_is_412_naming_both_revisions_and_writes_nothing(api):
    api.post("/changesets", json=changeset(create("p1")), headers=if_match(0))
    stale = api.post("/changesets", json=changeset(create("p2")), headers=if_match(0))
    assert stale.status_code == 412
    error = stale.json()["error"]
    assert (error["code"], error["expected_revision"], error["current_revision"]) == (
        "stale_revision",
        0,
        1,
    )
    assert "revision 0" in error["message"] and "revision 1" in error["message"]
    assert [r["name"] for r in api.get("/config").json()["resources"]] == ["p1"]
    assert len(api.get("/revisions").json()) == 1


def test_if_match_is_required_and_must_be_a_revision(api):
    missing = api.post("/changesets", json=changeset(create("p1")))
    assert missing.status_code == 428
    assert "If-Match" in missing.json()["error"]["message"]
    for bad in ("*", '"1", "2"', "W/x", ""):
        answer = api.post("/changesets", json=changeset(create("p1")), headers={"If-Match": bad})
        assert answer.status_code == 400, bad
    assert api.post(
        "/changesets", json=changeset(create("p1")), headers={"If-Match": "0"}
    ).is_success
    assert api.get("/config").json()["revision"] == 1


@pytest.mark.parametrize(
    ("body", "path_tail"),
    [
        (changeset(create("p1", dict(PROVIDER_SPEC, jurisdiction="germany"))), "jurisdiction"),
        (changeset(create("p1") | {"colour": "red"}), "colour"),
        (changeset(create("Bad Name!")), "name"),
        ({"operations": []}, "author"),
        (changeset({"action": "create", "kind": "Provider", "name": "p1"}), "resource"),
    ],
)
def test_an_invalid_change_set_is_422_with_the_offending_path(api, body, path_tail):
    answer = api.post("/changesets", json=body, headers=if_match(0))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_payload"
    assert error["path"][-1] == path_tail
    assert api.get("/config").json()["revision"] == 0


def test_a_body_that_is_not_json_is_422_with_line_and_column(api):
    answer = api.post(
        "/changesets", content=b'{"author": "a",\n  "operations": [}', headers=if_match(0)
    )
    assert answer.status_code == 422
    assert "line 2 column" in answer.json()["error"]["message"]
    assert api.post("/changesets", content=b"\xff\xfe\x00", headers=if_match(0)).status_code == 422


def test_bad_query_parameters_are_422(api):
    for params in ({"revision": "abc"}, {"revision": "-1"}):
        answer = api.get("/config", params=params)
        assert answer.status_code == 422 and answer.json()["error"]["path"] == ["query", "revision"]
    assert api.get("/revisions", params={"limit": "0"}).status_code == 422


def test_unknown_things_are_404_and_wrong_methods_405(api):
    assert api.get("/resources/provider/nope").status_code == 404
    assert api.get("/revisions/7").status_code == 404
    assert api.get("/config", params={"revision": 3}).status_code == 404
    unknown = api.get("/nothing/here")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert api.delete("/config").status_code == 405


def test_impossible_changes_are_409_and_write_nothing(api):
    api.post("/changesets", json=changeset(create("p1")), headers=if_match(0))
    again = api.post("/changesets", json=changeset(create("p2"), create("p1")), headers=if_match(1))
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    update = create("p1") | {"action": "update", "expected_hash": "sha256:" + "0" * 64}
    moved = api.post("/changesets", json=changeset(update), headers=if_match(1))
    assert moved.status_code == 409 and "changed since it was read" in moved.text
    assert [r["name"] for r in api.get("/config").json()["resources"]] == ["p1"]


def test_bodies_over_the_limit_are_413_declared_or_streamed(api):
    big = b'{"author": "a", "summary": "' + b"x" * (10 * 1024 * 1024) + b'", "operations": []}'
    declared = api.post("/changesets", content=big, headers=if_match(0))
    assert declared.status_code == 413

    def chunks():  # no Content-Length: the server must count as it reads
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    streamed = api.post("/changesets", content=chunks(), headers=if_match(0))
    assert streamed.status_code == 413
    assert api.get("/config").json()["revision"] == 0


def test_racing_applies_over_http_exactly_one_wins(store_url, openapi_check):
    store = open_store(store_url)
    statuses: list[int] = []
    start = threading.Barrier(10)
    with (
        serve(gateway_app(AdminService(store), token=TOKEN)) as url,
        httpx.Client(  # thread-safe, with a connection per writer
            base_url=url + "/admin/v1",
            headers={"Authorization": f"Bearer {TOKEN}"},
            event_hooks={"response": [openapi_check]},
            limits=httpx.Limits(max_connections=10),
        ) as client,
    ):

        def writer(i: int) -> None:
            start.wait()
            answer = client.post(
                "/changesets", json=changeset(create(f"p{i}")), headers=if_match(0)
            )
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(statuses) == [200] + [412] * 9
    assert store.current_revision() == 1 and len(store.snapshot().resources) == 1
    store.close()
