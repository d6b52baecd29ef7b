"""Every provider adapter end to end: a real gateway, mock upstreams that check each protocol."""

from __future__ import annotations

import json

import pytest

from gateway.conftest import ADAPTER_MODELS, read_log, route

ADAPTED = [(p, t, m) for p, (t, m, _) in ADAPTER_MODELS.items()]
IDS = [t for _, t, _ in ADAPTED]
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def sse_chunks(text: str) -> list[dict]:
    events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]", events[-3:]
    return [json.loads(e) for e in events[:-1]]


def streamed_content(chunks: list[dict]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )


@pytest.mark.parametrize(("provider", "type_", "model"), ADAPTED, ids=IDS)
def test_each_adapter_answers_in_openai_shape(
    provider, type_, model, configure_adapters, gateway, mock, tmp_path
):
    gateway.await_revision(configure_adapters(route(targets=f"[{{model: {model}}}]")))
    response = gateway.chat(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        max_tokens=64,
        temperature=0.2,
    )
    assert response.status_code == 200, response.text
    assert mock.all_violations() == {}
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == model == response.headers["x-routectl-model"]
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert message["content"].startswith(f"answer from {provider}/")
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert (record["model"], record["input_tokens"], record["output_tokens"]) == (model, 11, 7)
    (sent,) = mock[provider].received
    if type_ == "anthropic":
        assert sent["system"] == "Be brief." and sent["max_tokens"] == 64
        assert sent["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "hello there"}]}
        ]
    elif type_ == "bedrock":
        assert sent["system"] == [{"text": "Be brief."}]
        assert sent["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.2}
        # The model id is one path segment, its ':' percent-encoded (and signed that way).
        assert mock[provider].paths == [
            "/p-bed/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
        ]
    else:
        assert sent["model"] == ADAPTER_MODELS[provider][2]


@pytest.mark.parametrize(("provider", "type_", "model"), ADAPTED, ids=IDS)
def test_each_adapter_streams_openai_events(
    provider, type_, model, configure_adapters, gateway, mock, tmp_path
):
    gateway.await_revision(configure_adapters(route(targets=f"[{{model: {model}}}]")))
    response = gateway.chat(stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert mock.all_violations() == {}
    chunks = sse_chunks(response.text)
    assert {c["model"] for c in chunks} == {model}
    assert streamed_content(chunks).startswith(f"answer from {provider}/") or type_ in (
        "vertex",
        "azure-openai",
    )
    assert chunks[-1]["usage"]["completion_tokens"] in (3, 7)
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert record["output_tokens"] == chunks[-1]["usage"]["completion_tokens"]
    if type_ == "bedrock":
        assert mock[provider].paths[0].endswith("/converse-stream")
    if type_ == "anthropic":
        assert mock[provider].received[0]["stream"] is True


@pytest.mark.parametrize(("provider", "type_", "model"), ADAPTED[:2], ids=IDS[:2])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_tools_images_and_tool_results_translate(
    provider, type_, model, stream, configure_adapters, gateway, mock
):
    gateway.await_revision(configure_adapters(route(targets=f"[{{model: {model}}}]")))
    response = gateway.chat(
        stream=stream,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in this picture, and the weather?"},
                    {"type": "image_url", "image_url": {"url": PIXEL}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Baku"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "windy"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    assert response.status_code == 200, response.text
    assert mock.all_violations() == {}
    (sent,) = mock[provider].received
    if type_ == "anthropic":
        image = sent["messages"][0]["content"][1]
        assert image["source"]["type"] == "base64" and image["source"]["media_type"] == "image/png"
        assert sent["messages"][1]["content"][0]["input"] == {"city": "Baku"}
        assert sent["messages"][2]["content"][0]["tool_use_id"] == "call_1"
        assert sent["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}
        assert sent["tool_choice"] == {"type": "auto"}
    else:
        assert sent["messages"][0]["content"][1]["image"]["format"] == "png"
        assert sent["messages"][2]["content"][0]["toolResult"]["toolUseId"] == "call_1"
        assert sent["toolConfig"]["toolChoice"] == {"auto": {}}
    if stream:
        chunks = sse_chunks(response.text)
        calls = [
            call
            for c in chunks
            if c.get("choices")
            for call in c["choices"][0]["delta"].get("tool_calls") or []
        ]
        assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"]
        arguments = "".join(call["function"]["arguments"] for call in calls)
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    else:
        message = response.json()["choices"][0]["message"]
        (call,) = message["tool_calls"]
        assert call["function"]["name"] == "get_weather" and call["type"] == "function"
        arguments = call["function"]["arguments"]
        finish = [response.json()["choices"][0]["finish_reason"]]
    assert "answer" in json.loads(arguments)
    assert finish[-1] == "tool_calls"


@pytest.mark.parametrize(("provider", "type_", "model"), ADAPTED[:2], ids=IDS[:2])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_json_mode_is_answered_through_a_forced_tool(
    provider, type_, model, stream, configure_adapters, gateway, mock
):
    gateway.await_revision(configure_adapters(route(targets=f"[{{model: {model}}}]")))
    response = gateway.chat(stream=stream, response_format={"type": "json_object"})
    assert response.status_code == 200, response.text
    assert mock.all_violations() == {}
    if stream:
        chunks = sse_chunks(response.text)
        content = streamed_content(chunks)
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    else:
        content = response.json()["choices"][0]["message"]["content"]
        assert response.json()["choices"][0]["finish_reason"] == "stop"
    assert isinstance(json.loads(content), dict)


@pytest.mark.parametrize(("provider", "type_", "model"), ADAPTED, ids=IDS)
@pytest.mark.parametrize(
    ("mode", "trigger"), [("429", "429"), ("500", "5xx"), ("too-long", "context-length")]
)
def test_protocol_errors_fire_the_fallback_triggers(
    provider, type_, model, mode, trigger, configure_adapters, gateway, mock, tmp_path
):
    gateway.await_revision(
        configure_adapters(
            route(
                targets=f"[{{model: {model}}}]",
                fallback=f"{{chain: [m-c], on: ['{trigger}']}}",
            )
        )
    )
    mock[provider].mode = mode
    response = gateway.chat()
    assert response.status_code == 200, response.text
    assert response.headers["x-routectl-model"] == "m-c"
    assert mock.all_violations() == {}
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert [a["model"] for a in record["attempts"]] == [model, "m-c"]


def test_an_answer_the_adapter_cannot_read_is_a_provider_failure_that_fails_over(
    configure_adapters, gateway, mock, tmp_path
):
    gateway.await_revision(
        configure_adapters(route(targets="[{model: m-anth}]", fallback="{chain: [m-c], on: [5xx]}"))
    )
    mock["p-anth"].mode = "garbled"
    response = gateway.chat()
    assert response.status_code == 200, response.text
    assert response.headers["x-routectl-model"] == "m-c"
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    first, second = record["attempts"]
    assert (first["model"], first["status"], second["model"]) == ("m-anth", 502, "m-c")
    assert "unreadable answer" in first["error"]


def test_without_the_trigger_the_client_gets_the_error_in_openai_shape(
    configure_adapters, gateway, mock
):
    gateway.await_revision(
        configure_adapters(route(targets="[{model: m-anth}]", fallback="{chain: [m-c], on: [5xx]}"))
    )
    mock["p-anth"].mode = "too-long"
    response = gateway.chat()
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert "prompt is too long" in response.json()["error"]["message"]


def test_the_bedrock_mock_rejects_a_wrong_signature(configure_adapters, gateway, mock, monkeypatch):
    wrong = {"accessKeyId": "AKIAMOCKGATEWAYTEST1", "secretAccessKey": "not-it", "region": "x-1"}
    monkeypatch.setenv("GW_TEST_AWS_CREDENTIALS", json.dumps(wrong))
    gateway.await_revision(configure_adapters(route(targets="[{model: m-bed}]")))
    response = gateway.chat()
    assert response.status_code == 400
    assert mock["p-bed"].violations == ["SigV4 signature does not verify"]


def test_bedrock_refuses_images_by_url(configure_adapters, gateway, mock):
    gateway.await_revision(configure_adapters(route(targets="[{model: m-bed}]")))
    part = {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}
    response = gateway.chat(messages=[{"role": "user", "content": [part]}])
    assert response.status_code == 400
    assert "inline" in response.json()["error"]["message"]
    assert mock["p-bed"].received == []


def test_vertex_mints_one_token_for_many_requests(configure_adapters, gateway, mock):
    gateway.await_revision(configure_adapters(route(targets="[{model: m-vtx}]")))
    before = mock.tokens.grants
    for _ in range(3):
        assert gateway.chat().status_code == 200
    assert mock.tokens.grants - before == 1
    assert mock.all_violations() == {}


def test_a_body_an_adapter_cannot_translate_is_a_400_not_a_500(configure_adapters, gateway, mock):
    gateway.await_revision(configure_adapters(route(targets="[{model: m-anth}]")))
    odd = {"role": "assistant", "content": "x", "tool_calls": 7}
    response = gateway.chat(messages=[{"role": "user", "content": "hi"}, odd])
    assert response.status_code == 400
    assert "cannot translate" in response.json()["error"]["message"]
    assert mock["p-anth"].received == []
