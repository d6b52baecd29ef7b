"""Who may call the admin API: bearer-token holders, or loopback clients of an insecure one."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from admin_helpers import TOKEN, changeset, create, gateway_app, if_match, serve

from routectl.admin.http import admin_app


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Basic dXNlcjpwYXNz", 401),
        ("Bearer", 401),
        ("Bearer \t x", 403),
        (f"Token {TOKEN}", 401),
        ("Bearer wrong-token", 403),
        (f"Bearer {TOKEN}x", 403),
        (f"Bearer {TOKEN[:-1]}", 403),
    ],
)
def test_every_guarded_route_refuses_without_the_right_token(anonymous, authorization, status):
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [
        ("GET", "/config"),
        ("GET", "/resources/provider/p1"),
        ("GET", "/revisions"),
        ("GET", "/revisions/0"),
        ("POST", "/changesets"),
    ]:
        answer = anonymous.request(
            method, path, headers=headers | if_match(0), json=changeset(create("p1"))
        )
        assert answer.status_code == status, (method, path)
        error = answer.json()["error"]
        assert error["code"] == ("unauthenticated" if status == 401 else "forbidden")
        assert TOKEN not in answer.text
        if status == 401:
            assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert anonymous.get("/config", headers={"Authorization": f"Bearer {TOKEN}"}).json() == {
        "revision": 0,
        "resources": [],
    }


def test_the_scheme_name_is_case_insensitive(anonymous):
    assert anonymous.get("/config", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_health_and_the_openapi_document_are_public(anonymous):
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").json()["openapi"] == "3.1.0"


def test_no_token_needs_an_explicit_insecure_local(service):
    for token in (None, ""):
        with pytest.raises(ValueError, match="ROUTECTL_ADMIN_TOKEN"):
            admin_app(service, token)


def test_insecure_local_admits_loopback_clients_without_a_token(service, openapi_check):
    with (
        serve(gateway_app(service, token=None, insecure_local=True)) as url,
        httpx.Client(base_url=url + "/admin/v1", event_hooks={"response": [openapi_check]}) as api,
    ):
        applied = api.post("/changesets", json=changeset(create("p1")), headers=if_match(0))
        assert applied.status_code == 200
        assert api.get("/config").json()["revision"] == 1


def test_insecure_local_refuses_clients_from_elsewhere(service):
    app = gateway_app(service, token=None, insecure_local=True)

    async def call(client_address: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client_address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get("/admin/v1/config")

    assert asyncio.run(call("::1")).status_code == 200
    refused = asyncio.run(call("203.0.113.7"))
    assert refused.status_code == 403
    assert "loopback" in refused.json()["error"]["message"]


def test_a_token_is_required_even_with_insecure_local(service, openapi_check):
    with (
        serve(gateway_app(service, token=TOKEN, insecure_local=True)) as url,
        httpx.Client(base_url=url + "/admin/v1", event_hooks={"response": [openapi_check]}) as api,
    ):
        assert api.get("/config").status_code == 401
