"""The gateway's egress policy: which files and variables a configuration may name as
credentials and which hosts its providers may reach, checked on every change set and at load."""

from __future__ import annotations

import os

import httpx
import pytest

from gateway.conftest import GatewayHandle, apply_policy, base_policy, join, read_log, route
from gateway.servers import ServerThread
from routectl.gateway.app import GatewaySettings, create_app

CANARY = "host-canary-31337"
ADMIN = {"authorization": "Bearer admin-token"}


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(store, egress=None) -> GatewayHandle:
        options = {} if egress is None else {"egress": egress}
        app = create_app(
            store,
            admin_token="admin-token",
            log_path=tmp_path / "log.jsonl",
            settings=GatewaySettings(poll_interval_s=0.1),
            **options,
        )
        server = ServerThread(app).__enter__()
        started.append(server)
        return GatewayHandle(server, app)

    yield start
    for server in started:
        server.__exit__(None, None, None)


def _provider(api_key: str, base_url: str = "http://127.0.0.1:9/v1") -> dict:
    return {
        "author": "attacker",
        "operations": [
            {
                "action": "create",
                "kind": "Provider",
                "name": "exfil",
                "resource": {
                    "spec": {
                        "baseUrl": base_url,
                        "jurisdiction": "DE",
                        "credentials": {"apiKey": api_key, "headers": {"X-Org": "env:ORG_ID"}},
                    }
                },
            }
        ],
    }


def _post(gateway: GatewayHandle, changeset: dict) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/admin/v1/changesets",
        json=changeset,
        headers={**ADMIN, "if-match": f'"{gateway.revision or 0}"'},
    )


@pytest.mark.parametrize(
    "ref, reason",
    [
        ("file:/etc/hostname", "reads no credential files"),
        ("env:ROUTECTL_ADMIN_TOKEN", "ROUTECTL_*"),
        ("env:routectl_secrets_key", "ROUTECTL_*"),
    ],
)
def test_a_changeset_naming_host_files_or_gateway_variables_is_a_422(store, serve, ref, reason):
    gateway = serve(store)
    response = _post(gateway, _provider(ref))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["path"] == ["operations", 0, "resource", "spec", "credentials", "apiKey"]
    assert reason in error["message"]
    assert store.current_revision() == 0


def test_files_under_the_secrets_dir_are_allowed_and_escapes_are_not(store, serve, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "key").write_text("sk-file\n")
    outside = tmp_path / "outside"
    outside.write_text(CANARY)
    (secrets / "link").symlink_to(outside)
    from routectl.gateway.egress import EgressPolicy

    gateway = serve(store, EgressPolicy.create([secrets]))
    assert _post(gateway, _provider(f"file:{secrets}/key")).status_code == 200
    for ref in (f"file:{secrets}/../outside", f"file:{secrets}/link"):
        response = _post(gateway, _provider(ref))
        assert response.status_code == 422, ref
        assert "--secrets-dir" in response.json()["error"]["message"]


def test_env_allow_list_and_provider_hosts(store, serve):
    from routectl.gateway.egress import EgressPolicy

    gateway = serve(store, EgressPolicy.create([], ["PROVIDER_*"], ["*.example.com"]))
    response = _post(gateway, _provider("env:HOME", "https://api.example.com/v1"))
    assert response.status_code == 422
    assert response.json()["error"]["path"][-2:] == ["credentials", "apiKey"]
    response = _post(gateway, _provider("env:PROVIDER_KEY", "http://127.0.0.1:9999/v1"))
    assert response.status_code == 422
    assert response.json()["error"]["path"][-1] == "baseUrl"
    # The header reference must pass the list too.
    response = _post(gateway, _provider("env:PROVIDER_KEY", "https://api.example.com/v1"))
    assert response.status_code == 422
    assert response.json()["error"]["path"][-3:] == ["credentials", "headers", "X-Org"]


def test_refused_references_already_in_the_store_are_never_read_at_load(
    store, serve, mock, policy_dir, tmp_path, monkeypatch
):
    """A store written before the policy (or by the embedded apply): the gateway refuses at
    load, so neither the file nor the variable reaches the provider."""
    monkeypatch.setenv("ROUTECTL_ADMIN_TOKEN", CANARY)
    outside = tmp_path / "host-file"
    outside.write_text(CANARY)
    text = join(
        base_policy(mock.url),
        f"""
        kind: Provider
        metadata: {{name: p-exfil}}
        spec: {{baseUrl: "{mock.url}/p-c", jurisdiction: DE,
               credentials: {{apiKey: "file:{outside}",
                              headers: {{X-Token: env:ROUTECTL_ADMIN_TOKEN}}}}}}
        """,
        """
        kind: Model
        metadata: {name: m-exfil}
        spec: {provider: p-exfil, upstreamModel: x, contextWindow: 9000, maxOutputTokens: 900,
               pricing: {input: 1, output: 1}}
        """,
        route(targets="[{model: m-exfil}]", fallback="{chain: [m-b]}"),
    )
    gateway = serve(store)
    gateway.await_revision(apply_policy(store, text, policy_dir()))
    response = gateway.chat(headers={"x-request-id": "exfil"})
    assert response.headers["x-routectl-model"] == "m-b"
    assert mock["p-c"].received == []
    assert all(CANARY not in (a or "") for a in mock["p-b"].authorization)
    (record,) = read_log(tmp_path / "log.jsonl", 1)
    assert "refused" in record["attempts"][0]["error"]
    assert CANARY not in (tmp_path / "log.jsonl").read_text()
    assert os.environ["ROUTECTL_ADMIN_TOKEN"] == CANARY
