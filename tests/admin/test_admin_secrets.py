"""Pushed secret values are write-only: no answer of the admin API ever carries one."""

from __future__ import annotations

import pytest
from admin_helpers import PROVIDER_SPEC, TOKEN, changeset, create, if_match

CANARY = "sk-canary-5d41402abc4b2a76"


def provider_with_secrets(name: str) -> dict:
    spec = dict(
        PROVIDER_SPEC,
        credentials={
            "apiKey": {"value": CANARY},
            "headers": {"X-Org": {"value": CANARY + "-org"}},
        },
    )
    return create(name, spec)


def consumer_with_secret(name: str) -> dict:
    return create(name, {"team": "web", "apiKey": {"value": CANARY + "-consumer"}}, kind="Consumer")


def test_no_answer_ever_contains_a_pushed_secret(api, anonymous, openapi_check, service):
    planted = changeset(provider_with_secrets("p1"), consumer_with_secret("c1"))
    assert api.post("/changesets", json=planted, headers=if_match(0)).status_code == 200
    # Every read, at every revision.
    api.get("/config")
    api.get("/config", params={"revision": 1})
    api.get("/revisions")
    api.get("/revisions/1")
    provider = api.get("/resources/provider/p1").json()
    api.get("/resources/consumer/c1")
    anonymous.get("/health")
    # Every failure with the secret in the request.
    api.post("/changesets", json=planted, headers=if_match(0))  # 412
    api.post("/changesets", json=planted, headers=if_match(1))  # 409: exists
    bad = provider_with_secrets("p2")
    bad["resource"]["spec"]["jurisdiction"] = "nowhere"
    api.post("/changesets", json=changeset(bad), headers=if_match(1))  # 422
    pasted = create("p3", dict(PROVIDER_SPEC, credentials={"apiKey": CANARY}))
    api.post("/changesets", json=changeset(pasted), headers=if_match(1))  # 422
    api.post("/changesets", content=f'{{"author": "{CANARY}"', headers=if_match(1))  # 422
    api.post("/changesets", json=planted)  # 428
    api.post("/changesets", json=planted, headers={"If-Match": CANARY})  # 400
    anonymous.post("/changesets", json=planted, headers=if_match(1))  # 401
    anonymous.get("/config", headers={"Authorization": f"Bearer {CANARY}"})  # 403

    statuses = sorted({r.status_code for r in openapi_check.seen})
    assert statuses == [200, 400, 401, 403, 409, 412, 422, 428]
    said = openapi_check.everything_said()
    assert "sk-canary" not in said
    assert TOKEN not in said
    # What a read shows instead: the fingerprint; the gateway itself still has the value.
    assert provider["spec"]["credentials"]["apiKey"]["fingerprint"].startswith("sha256:")
    assert service.store.secret_value("provider/p1", ("credentials", "apiKey")) == CANARY


@pytest.mark.parametrize(
    "mistake",
    [
        {"valu": CANARY},  # a mistyped push
        {"fingerprint": CANARY},  # a secret pasted where a read-back fingerprint goes
        {"value": CANARY, "note": "x"},
        {"value": ""},
    ],
)
def test_a_malformed_secret_field_is_refused_not_stored(api, openapi_check, mistake):
    spec = dict(PROVIDER_SPEC, credentials={"apiKey": mistake})
    answer = api.post("/changesets", json=changeset(create("p1", spec)), headers=if_match(0))
    assert answer.status_code == 422
    assert answer.json()["error"]["path"][-2:] == ["credentials", "apiKey"]
    assert api.get("/config").json()["revision"] == 0
    assert "sk-canary" not in openapi_check.everything_said()


def test_a_read_back_fingerprint_keeps_the_pushed_value(api, service):
    api.post("/changesets", json=changeset(provider_with_secrets("p1")), headers=if_match(0))
    read = api.get("/resources/provider/p1").json()
    update = {
        "action": "update",
        "kind": "Provider",
        "name": "p1",
        "expected_hash": read["hash"],
        "resource": {"spec": dict(read["spec"], baseUrl="https://api.example/v2")},
    }
    assert api.post("/changesets", json=changeset(update), headers=if_match(1)).status_code == 200
    assert service.store.secret_value("provider/p1", ("credentials", "apiKey")) == CANARY
