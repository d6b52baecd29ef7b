"""A consumer set to ``intentSource: detected`` cannot unlock an intent by declaring one."""

from __future__ import annotations

from gateway.conftest import APP_KEY, route
from routectl.core.evaluator import decide
from routectl.core.request import Request

INTENTS = """
kind: Intent
metadata: {name: chat}
spec: {default: true}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: analysis}
spec: {detect: {keywords: [analyze, analyse]}}
"""
LIMITED = """
kind: Consumer
metadata: {name: limited}
spec: {apiKey: env:GW_TEST_LIMITED_KEY, allow: {intents: [chat]}, intentSource: detected}
"""
TRUSTED = """
kind: Consumer
metadata: {name: trusted}
spec: {apiKey: env:GW_TEST_TRUSTED_KEY, allow: {intents: [chat]}}
"""
ANALYSIS_PROMPT = [{"role": "user", "content": "analyze the quarterly numbers in depth"}]


def test_a_declared_intent_does_not_unlock_a_detected_consumer(
    configure, gateway, mock, monkeypatch
):
    monkeypatch.setenv("GW_TEST_LIMITED_KEY", "limited-key")
    monkeypatch.setenv("GW_TEST_TRUSTED_KEY", "trusted-key")
    gateway.await_revision(configure(INTENTS, LIMITED, TRUSTED, route(targets="[{model: m-a}]")))
    declared = {"x-routectl-intent": "chat"}
    denied = gateway.chat("limited-key", headers=declared, messages=ANALYSIS_PROMPT)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "consumer.intent"
    in_body = gateway.chat("limited-key", messages=ANALYSIS_PROMPT, metadata={"intent": "chat"})
    assert in_body.status_code == 403
    # A plain chat request of the same consumer is served.
    assert gateway.chat("limited-key").status_code == 200
    # A consumer left at the default (declared) is trusted with its header, as documented.
    assert (
        gateway.chat("trusted-key", headers=declared, messages=ANALYSIS_PROMPT).status_code == 200
    )
    assert APP_KEY


def test_explain_and_the_gateway_agree_on_detected_intents(make_policy):
    policy = make_policy(
        """
        apiVersion: routectl.dev/v1
        kind: Intent
        metadata: {name: chat}
        spec: {default: true}
        ---
        apiVersion: routectl.dev/v1
        kind: Intent
        metadata: {name: analysis}
        spec: {detect: {keywords: [analyze]}}
        ---
        apiVersion: routectl.dev/v1
        kind: Consumer
        metadata: {name: limited}
        spec: {apiKey: env:K, allow: {intents: [chat]}, intentSource: detected}
        """
    )
    request = Request(intent="chat", consumer="limited", prompt="analyze this")
    decision = decide(policy, request)
    assert decision.intent == "analysis"
    assert not decision.routable
