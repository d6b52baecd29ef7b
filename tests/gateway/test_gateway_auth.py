"""Consumer API keys: missing, wrong, alternative header, anonymous consumers, pushed secrets."""

from __future__ import annotations

from gateway.conftest import APP_KEY, apply_policy, base_policy, join, read_log, route
from routectl.admin.service import AdminService


def test_missing_and_wrong_keys_get_openai_shaped_401s(configure, gateway, mock):
    gateway.await_revision(configure(route(targets="[{model: m-a}]")))
    for response in (gateway.chat(key=None), gateway.chat(key="not-the-key")):
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
        assert set(error) == {"message", "type", "code"}
    missing, wrong = gateway.chat(key=None), gateway.chat(key="nope")
    assert missing.json()["error"]["message"].startswith("missing API key")
    assert wrong.json()["error"]["message"].startswith("invalid API key")
    assert mock["p-a"].received == []
    ok = gateway.client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": APP_KEY},
    )
    assert ok.status_code == 200


def test_anonymous_consumer_serves_keyless_requests_only(configure, gateway, mock, tmp_path):
    revision = configure(
        "kind: Consumer\nmetadata: {name: public-site}\nspec: {anonymous: true}",
        route("public", order=10, match="{consumers: [public-site]}", targets="[{model: m-c}]"),
        route("private", order=20, targets="[{model: m-a}]"),
    )
    gateway.await_revision(revision)
    anonymous = gateway.chat(key=None, headers={"x-request-id": "anon"})
    assert anonymous.status_code == 200
    assert anonymous.headers["x-routectl-model"] == "m-c"
    assert gateway.chat(key="wrong").status_code == 401  # a bad key is not anonymous
    assert gateway.chat().headers["x-routectl-model"] == "m-a"
    records = {r["request_id"]: r for r in read_log(tmp_path / "decisions.jsonl", 3)}
    assert records["anon"]["consumer"] == "public-site"


def test_pushed_provider_secret_is_used_and_never_shown(store, start_gateway, mock, tmp_path):
    """A key pushed into the store reaches the upstream; the admin API shows a fingerprint."""
    pushed = "sk-pushed-canary-9090"
    gateway = start_gateway(store, log_path=tmp_path / "log.jsonl")
    service = AdminService(store)
    service.apply(
        {
            "author": "test",
            "operations": [
                {
                    "action": "create",
                    "kind": "Provider",
                    "name": "p-a",
                    "resource": {
                        "spec": {
                            "baseUrl": f"{mock.url}/p-a",
                            "jurisdiction": "DE",
                            "credentials": {"apiKey": {"value": pushed}},
                        }
                    },
                },
                {
                    "action": "create",
                    "kind": "Model",
                    "name": "m-a",
                    "resource": {
                        "spec": {
                            "provider": "p-a",
                            "upstreamModel": "up",
                            "contextWindow": 1000,
                            "maxOutputTokens": 500,
                            "pricing": {"input": 1, "output": 1},
                        }
                    },
                },
                {
                    "action": "create",
                    "kind": "Consumer",
                    "name": "app",
                    "resource": {"spec": {"apiKey": "env:GW_TEST_APP_KEY"}},
                },
                {
                    "action": "create",
                    "kind": "Route",
                    "name": "main",
                    "resource": {"spec": {"targets": [{"model": "m-a"}]}},
                },
            ],
        },
        0,
    )
    gateway.await_revision(1)
    assert gateway.chat().status_code == 200
    assert mock["p-a"].authorization == [f"Bearer {pushed}"]
    assert pushed not in gateway.client.get("/metrics").text
    read_log(tmp_path / "log.jsonl", 1)
    assert pushed not in (tmp_path / "log.jsonl").read_text()


def test_unresolvable_provider_key_fails_over_and_names_only_the_reference(
    store, start_gateway, mock, policy_dir, tmp_path
):
    text = join(
        base_policy(mock.url),
        """
        kind: Provider
        metadata: {name: p-nokey}
        spec: {baseUrl: "http://127.0.0.1:9/v1", jurisdiction: DE,
               credentials: {apiKey: env:GW_TEST_UNSET_VARIABLE}}
        """,
        """
        kind: Model
        metadata: {name: m-nokey}
        spec: {provider: p-nokey, upstreamModel: x, contextWindow: 9000, maxOutputTokens: 900,
               pricing: {input: 1, output: 1}}
        """,
        route(targets="[{model: m-nokey}]", fallback="{chain: [m-b]}"),
    )
    gateway = start_gateway(store, log_path=tmp_path / "log.jsonl")
    gateway.await_revision(apply_policy(store, text, policy_dir()))
    response = gateway.chat()
    assert response.headers["x-routectl-model"] == "m-b"
    (record,) = read_log(tmp_path / "log.jsonl", 1)
    skipped = record["attempts"][0]
    assert skipped["model"] == "m-nokey" and skipped["status"] is None
    assert "env:GW_TEST_UNSET_VARIABLE is not set" in skipped["error"]


def test_oversized_chat_body_is_refused_before_it_reaches_a_provider(configure, gateway, mock):
    from routectl.gateway.app import MAX_CHAT_BODY

    gateway.await_revision(configure(route(targets="[{model: m-a}]")))
    filler = "x" * (MAX_CHAT_BODY + 1)
    response = gateway.client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": filler}]},
        headers={"authorization": f"Bearer {APP_KEY}"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert mock["p-a"].received == []
    assert gateway.chat().status_code == 200  # the gateway goes on serving
