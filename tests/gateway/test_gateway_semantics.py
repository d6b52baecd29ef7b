"""What routing depends on, as the gateway serves it: limits, a request's needs, the log of both."""

from __future__ import annotations

import time

from gateway.conftest import APP_KEY, read_log, route
from routectl.gateway.decisionlog import FIELDS

PIXEL = "data:image/png;base64,iVBORw0KGgo="


def model(name: str, provider: str, capabilities: str = "[chat]", limits: str = "{}") -> str:
    return f"""kind: Model
metadata: {{name: {name}}}
spec:
  provider: {provider}
  upstreamModel: upstream-{name}
  capabilities: {capabilities}
  contextWindow: 100000
  maxOutputTokens: 4096
  pricing: {{input: 1.0, output: 1.0}}
  rateLimits: {limits}"""


def test_a_model_over_its_rpm_is_treated_like_a_429(configure, gateway, mock, tmp_path):
    gateway.await_revision(
        configure(
            model("m-limited", "p-a", limits="{rpm: 2}"),
            route(targets="[{model: m-limited}]", fallback="{chain: [m-b], on: ['429']}"),
        )
    )
    for _ in range(2):  # again if a minute turned between the requests (a new window)
        minute = time.time() // 60
        models = [gateway.chat().headers["x-routectl-model"] for _ in range(3)]
        if time.time() // 60 == minute:
            break
    assert models == ["m-limited", "m-limited", "m-b"]
    assert len(mock["p-a"].received) in (2, 4)  # the limited attempt never reached it
    limited = read_log(tmp_path / "decisions.jsonl", 3)[-1]["attempts"][0]
    assert (limited["model"], limited["status"]) == ("m-limited", 429)
    assert "2 requests per minute" in limited["error"]


def test_a_provider_tpm_limit_without_a_429_trigger_answers_429(configure, gateway, mock):
    gateway.await_revision(
        configure(
            model("m-small", "p-c", limits="{tpm: 100}"),
            route(targets="[{model: m-small}]", fallback="{chain: [m-b], on: [5xx]}"),
        )
    )
    response = gateway.chat(max_tokens=500)  # 500 output tokens alone are over 100 per minute
    assert response.status_code == 429
    assert "100 tokens per minute" in response.json()["error"]["message"]
    assert mock["p-c"].received == [] and mock["p-b"].received == []


def test_an_image_request_goes_to_a_vision_model_without_a_keyword(configure, gateway, mock):
    gateway.await_revision(
        configure(
            model("m-text", "p-a"),
            model("m-vision", "p-b", "[chat, vision]"),
            route(targets="[{model: m-text}, {model: m-vision}]"),
        )
    )
    assert gateway.chat().headers["x-routectl-model"] == "m-text"
    image = [{"type": "image_url", "image_url": {"url": PIXEL}}]
    response = gateway.chat(messages=[{"role": "user", "content": image}])
    assert response.headers["x-routectl-model"] == "m-vision"


def test_tools_and_json_mode_need_models_that_have_them(configure, gateway):
    gateway.await_revision(
        configure(
            model("m-text", "p-a"),
            model("m-tools", "p-b", "[chat, tools]"),
            model("m-json", "p-c", "[chat, json]"),
            route(targets="[{model: m-text}, {model: m-tools}, {model: m-json}]"),
        )
    )
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert gateway.chat(tools=[tool]).headers["x-routectl-model"] == "m-tools"
    json_mode = {"type": "json_object"}
    assert gateway.chat(response_format=json_mode).headers["x-routectl-model"] == "m-json"
    both = gateway.chat(tools=[tool], response_format=json_mode)
    assert both.status_code == 400  # no model has both: never a model that lacks one
    assert both.json()["error"]["type"] == "unroutable"


def test_the_log_carries_what_a_replay_needs(configure, gateway, tmp_path):
    gateway.await_revision(
        configure(
            model("m-vision", "p-b", "[chat, vision]"),
            route(
                "by-region",
                order=10,
                match="{metadata: {region: eu}}",
                targets="[{model: m-vision}]",
            ),
        )
    )
    image = [{"type": "text", "text": "what is it"}, {"type": "image_url", "image_url": PIXEL}]
    response = gateway.chat(
        headers={"x-routectl-session": "s-42", "x-routectl-metadata-trace": "abc"},
        metadata={"region": "eu"},
        messages=[{"role": "user", "content": image}],
        max_tokens=77,
    )
    assert response.status_code == 200, response.text
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert tuple(record) == FIELDS
    assert record["session"] == "s-42"
    assert record["metadata"] == {"region": "eu"}  # only keys routes match on
    assert record["max_tokens"] == 77
    assert record["requires"] == ["vision"]


def test_the_client_model_field_pins_a_model_or_is_refused(configure, gateway, tmp_path):
    gateway.await_revision(
        configure(
            """kind: Model
metadata: {name: m-fast}
spec:
  provider: p-c
  upstreamModel: upstream-fast
  aliases: [fast-one]
  contextWindow: 100000
  maxOutputTokens: 4096
  pricing: {input: 1.0, output: 1.0}""",
            route(targets="[{model: m-a}, {model: m-fast}]", fallback="{chain: [m-b]}"),
        )
    )
    assert gateway.chat().headers["x-routectl-model"] == "m-a"  # auto: the policy decides
    for asked, served in (("m-b", "m-b"), ("m-fast", "m-fast"), ("fast-one", "m-fast")):
        response = gateway.chat(model=asked)
        assert response.status_code == 200, response.text
        assert response.headers["x-routectl-model"] == served
        assert response.json()["model"] == served  # one name per model, whatever was asked
    unknown = gateway.chat(model="does-not-exist")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "model.unknown"
    assert "does-not-exist" in unknown.json()["error"]["message"]
    elsewhere = gateway.chat(model="m-c")  # a model no route of this request serves
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "model.not_allowed"
    records = read_log(tmp_path / "decisions.jsonl", 6)
    assert [r["requested_model"] for r in records] == [
        None, "m-b", "m-fast", "fast-one", "does-not-exist", "m-c",
    ]  # fmt: skip
    assert [r["model"] for r in records][-2:] == [None, None]


def test_models_lists_what_the_consumer_may_ask_for(configure, gateway):
    gateway.await_revision(configure(route(targets="[{model: m-a}]", fallback="{chain: [m-b]}")))
    listed = gateway.client.get("/v1/models", headers={"authorization": "Bearer " + APP_KEY})
    assert [m["id"] for m in listed.json()["data"]] == ["m-a", "m-b"]
    for name in ("m-a", "m-b"):
        assert gateway.chat(model=name).status_code == 200
