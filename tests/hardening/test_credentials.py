"""Credentials that cannot go into an HTTP header (CR, LF, control characters): refused at
push with a 422 naming the field; met at request time, an attempt skipped and failed over."""

from __future__ import annotations

import httpx

from gateway.conftest import apply_policy, base_policy, join, read_log, route
from routectl.admin.service import AdminService
from routectl.core.state import Resource
from routectl.store.base import ChangeSet, Operation

PROVIDER = """
kind: Provider
metadata: {name: p-crlf}
spec: {baseUrl: "MOCK/p-a", jurisdiction: DE, credentials: {apiKey: env:GW_TEST_CRLF_KEY}}
"""
MODEL = """
kind: Model
metadata: {name: m-crlf}
spec: {provider: p-crlf, upstreamModel: x, contextWindow: 9000, maxOutputTokens: 900,
       pricing: {input: 1, output: 1}}
"""


def _provider_op(value: object) -> dict:
    return {
        "action": "create",
        "kind": "Provider",
        "name": "p-pushed",
        "resource": {
            "spec": {
                "baseUrl": "http://127.0.0.1:9/v1",
                "jurisdiction": "DE",
                "credentials": {"apiKey": value},
            }
        },
    }


def test_a_pushed_key_with_cr_is_refused_with_a_422_naming_the_field(gateway):
    for value in ("sk-live-key\r", "sk-live\nX-Injected: 1", "sk-\x00"):
        response = httpx.post(
            f"{gateway.url}/admin/v1/changesets",
            json={"author": "t", "operations": [_provider_op({"value": value})]},
            headers={"authorization": "Bearer admin-token", "if-match": '"0"'},
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["path"] == [
            "operations", 0, "resource", "spec", "credentials", "apiKey"
        ]  # fmt: skip
        assert "sk-live" not in response.text


def test_an_env_credential_with_cr_fails_over_and_is_logged(
    store, start_gateway, mock, policy_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("GW_TEST_CRLF_KEY", "sk-crlf-key\r")
    text = join(
        base_policy(mock.url),
        PROVIDER.replace("MOCK", mock.url),
        MODEL,
        route(targets="[{model: m-crlf}]", fallback="{chain: [m-b]}"),
    )
    gateway = start_gateway(store, log_path=tmp_path / "log.jsonl")
    gateway.await_revision(apply_policy(store, text, policy_dir()))
    response = gateway.chat(headers={"x-request-id": "crlf"})
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-b"
    (record,) = read_log(tmp_path / "log.jsonl", 1)
    skipped = record["attempts"][0]
    assert skipped["model"] == "m-crlf" and skipped["status"] is None
    assert "line break" in skipped["error"] and "sk-crlf" not in skipped["error"]
    metrics = gateway.client.get("/metrics").text
    assert 'routectl_gateway_unusable_models{provider="p-crlf"} 1.0' in metrics


def test_a_stored_pushed_key_with_lf_is_an_unusable_provider_not_a_500(
    store, start_gateway, mock, policy_dir, tmp_path
):
    """A value that reached the store before it was checked (an older gateway wrote it)."""
    text = join(base_policy(mock.url), route(targets="[{model: m-a}]"))
    gateway = start_gateway(store, log_path=tmp_path / "log.jsonl")
    revision = apply_policy(store, text, policy_dir())
    provider = store.snapshot().resources["provider/p-a"].resource
    spec = dict(provider.spec, credentials={"apiKey": {"value": "sk-pushed\n"}})
    store.apply(
        ChangeSet(
            (Operation("update", "Provider", "p-a", Resource("Provider", "p-a", spec)),), "old"
        ),
        revision,
    )
    gateway.await_revision(revision + 1)
    response = gateway.chat(headers={"x-request-id": "lf"})
    assert response.status_code == 502
    assert "line break" in response.json()["error"]["attempts"][0]["error"]
    (record,) = read_log(tmp_path / "log.jsonl", 1)
    assert record["status"] == 502
    assert mock["p-a"].received == []
    assert AdminService  # the admin path is covered above
