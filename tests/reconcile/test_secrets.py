"""--push-secrets: values are read at apply time, sent once, and appear nowhere else.

A canary value is planted in the environment; every output, plan file, log
line and admin API response is searched for it.
"""

from __future__ import annotations

import json
import logging

import httpx
from tests.reconcile.conftest import TOKEN, run

CANARY = "sk-canary-9c1e5a77d3"
ENV = {
    "ROUTECTL_TOKEN": TOKEN,
    "RECONCILE_TEST_OPENAI_KEY": CANARY,
    "RECONCILE_TEST_WEB_KEY": "web-key-value-1",
}


def admin_get(gateway, path: str) -> str:
    response = httpx.get(
        f"{gateway.url}/admin/v1{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.text
    return response.text


def test_canary_secret_never_leaves_the_store(policy, gateway, workdir, caplog):
    caplog.set_level(logging.DEBUG)
    env = ENV | {"ROUTECTL_GATEWAY": gateway.url}
    outputs = []

    saved = run("plan", str(policy), "--push-secrets", "--out", "push.plan", env=env)
    outputs.append(saved)
    assert saved.exit_code == 0, saved.output
    plan_file = (workdir / "push.plan").read_text()
    doc = json.loads(plan_file)
    provider = next(c for c in doc["resource_changes"] if c["address"] == "provider/openai")
    assert provider["secret_refs"] == {"credentials/apiKey": "env:RECONCILE_TEST_OPENAI_KEY"}
    assert set(provider["after"]["spec"]["credentials"]["apiKey"]) == {"fingerprint"}

    applied = run("apply", "push.plan", env=env)
    outputs.append(applied)
    assert applied.exit_code == 0, applied.output
    # The gateway holds the value (its data plane needs it), write-only.
    assert gateway.store.secret_value("provider/openai", ("credentials", "apiKey")) == CANARY

    outputs.append(run("plan", str(policy), "--push-secrets", "--detailed-exitcode", env=env))
    assert outputs[-1].exit_code == 0, outputs[-1].output  # same value: no change

    rotated = ENV | {"ROUTECTL_GATEWAY": gateway.url, "RECONCILE_TEST_OPENAI_KEY": CANARY + "-v2"}
    changed = run("plan", str(policy), "--push-secrets", "--detailed-exitcode", env=rotated)
    outputs.append(changed)
    assert changed.exit_code == 2
    fields = [line.strip() for line in changed.stdout.splitlines() if line.startswith("      ")]
    assert fields == ["spec.credentials.apiKey: (sensitive value changed)"]
    for output_format in ("json", "markdown"):
        outputs.append(
            run("plan", str(policy), "--push-secrets", "--format", output_format, env=rotated)
        )
        assert "(sensitive value changed)" in outputs[-1].stdout or output_format == "json"
    outputs.append(run("apply", str(policy), "--push-secrets", "--auto-approve", env=rotated))
    assert outputs[-1].exit_code == 0
    stored = gateway.store.secret_value("provider/openai", ("credentials", "apiKey"))
    assert stored == CANARY + "-v2"
    outputs.append(run("drift", str(policy), "--push-secrets", env=rotated))
    assert outputs[-1].exit_code == 0, outputs[-1].output
    outputs.append(run("drift", str(policy), "--format", "json", env=env))
    assert outputs[-1].exit_code == 2  # without --push-secrets: references vs pushed values

    responses = [
        admin_get(gateway, "/config"),
        admin_get(gateway, "/revisions"),
        admin_get(gateway, "/revisions/1"),
        admin_get(gateway, "/revisions/2"),
        admin_get(gateway, "/resources/provider/openai"),
    ]
    haystacks = [plan_file, caplog.text, *responses]
    haystacks += [o.stdout + o.stderr for o in outputs]
    for text in haystacks:
        assert CANARY not in text
        assert "web-key-value-1" not in text


def test_secret_changed_between_plan_and_apply_is_refused(policy, gateway, workdir):
    env = ENV | {"ROUTECTL_GATEWAY": gateway.url}
    assert run("plan", str(policy), "--push-secrets", "--out", "p.plan", env=env).exit_code == 0
    moved = env | {"RECONCILE_TEST_OPENAI_KEY": "another-value-55"}
    result = run("apply", "p.plan", env=moved)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: provider/openai credentials.apiKey: the value of env:RECONCILE_TEST_OPENAI_KEY "
        "changed since the plan was made; run plan again"
    )
    assert "another-value-55" not in result.output
    assert gateway.store.current_revision() == 0


def test_missing_secret_is_a_clear_error(policy, gateway):
    env = {"ROUTECTL_TOKEN": TOKEN, "RECONCILE_TEST_WEB_KEY": "x"}
    result = run(
        "apply", str(policy), "--push-secrets", "--auto-approve", "--gateway", gateway.url, env=env
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: provider/openai credentials.apiKey: env:RECONCILE_TEST_OPENAI_KEY is not set in "
        "this environment; set it, or apply without --push-secrets to let the gateway resolve "
        "the reference on its own host"
    )
    assert gateway.store.current_revision() == 0


def test_references_are_applied_as_references_by_default(policy, gateway):
    env = ENV | {"ROUTECTL_GATEWAY": gateway.url}
    assert run("apply", str(policy), "--auto-approve", env=env).exit_code == 0
    config = json.loads(admin_get(gateway, "/config"))
    openai = next(r for r in config["resources"] if r["name"] == "openai")
    assert openai["spec"]["credentials"]["apiKey"] == "env:RECONCILE_TEST_OPENAI_KEY"
    assert gateway.store.secret_value("provider/openai", ("credentials", "apiKey")) is None
