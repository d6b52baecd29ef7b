"""The same reconcile loop over HTTP (admin_app under uvicorn), and every way the API can fail."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from tests.conftest import EXAMPLES
from tests.reconcile.conftest import TOKEN, ServerThread, free_port, run, set_split

from routectl.admin.client import GatewayError, HttpBackend
from routectl.admin.http import admin_app
from routectl.admin.service import AdminService
from routectl.store.sqlite import SqliteStore

AUTH = {"ROUTECTL_TOKEN": TOKEN}


def test_cycle_over_http(policy, gateway):
    applied = run("apply", str(policy), "--gateway", gateway.url, "--auto-approve", env=AUTH)
    assert applied.exit_code == 0, applied.output
    assert f"-> {gateway.url} (revision 0)" in applied.stdout
    assert gateway.store.current_revision() == 1
    assert (
        run(
            "plan", str(policy), "--detailed-exitcode", "--gateway", gateway.url, env=AUTH
        ).exit_code
        == 0
    )

    set_split(policy, 90)
    plan = run("plan", str(policy), "--detailed-exitcode", "--gateway", gateway.url, env=AUTH)
    assert plan.exit_code == 2, plan.output
    changed = [line.strip() for line in plan.stdout.splitlines() if line.startswith("      ")]
    assert changed == ["spec.targets[0].weight: 95 -> 90", "spec.targets[1].weight: 5 -> 10"]

    env = AUTH | {"ROUTECTL_GATEWAY": gateway.url}  # the gateway from the environment
    assert run("apply", str(policy), "--auto-approve", env=env).exit_code == 0
    assert run("plan", str(policy), "--detailed-exitcode", env=env).exit_code == 0
    assert gateway.store.current_revision() == 2


def test_stale_plan_writes_nothing(policy, gateway, workdir):
    env = AUTH | {"ROUTECTL_GATEWAY": gateway.url}
    assert run("apply", str(policy), "--auto-approve", env=env).exit_code == 0
    set_split(policy, 80)
    saved = run("plan", str(policy), "--out", "change.plan", env=env)
    assert saved.exit_code == 0 and (workdir / "change.plan").exists()
    set_split(policy, 70)
    assert run("apply", str(policy), "--auto-approve", env=env).exit_code == 0  # revision 2

    stale = run("apply", "change.plan", env=env)
    assert stale.exit_code == 1
    assert stale.stderr.strip() == (
        f"error: stale plan: change.plan was computed against revision 1 but gateway "
        f"{gateway.url} is now at revision 2; nothing was written; run plan again"
    )
    assert gateway.store.current_revision() == 2
    weights = [t["weight"] for t in _route(gateway, "default")["spec"]["targets"]]
    assert weights == [70, 30]


def test_saved_plan_applies_exactly_and_refuses_tampering(policy, gateway, workdir):
    env = AUTH | {"ROUTECTL_GATEWAY": gateway.url}
    assert run("plan", str(policy), "--out", "first.plan", env=env).exit_code == 0
    set_split(policy, 1)  # not in the saved plan
    applied = run("apply", "first.plan", env=env)
    assert applied.exit_code == 0, applied.output
    assert [t["weight"] for t in _route(gateway, "default")["spec"]["targets"]] == [95, 5]

    doc = json.loads((workdir / "first.plan").read_text())
    doc["base_revision"] = 1
    (workdir / "forged.plan").write_text(json.dumps(doc))
    forged = run("apply", "forged.plan", env=env)
    assert forged.exit_code == 1
    assert "the plan file was modified after it was saved" in forged.stderr
    other = run("apply", "first.plan", "--gateway", "http://127.0.0.1:1", env=AUTH)
    assert other.exit_code == 1 and "was planned for gateway" in other.stderr


def test_drift_made_through_the_admin_api_names_who_and_when(policy, gateway):
    env = AUTH | {"ROUTECTL_GATEWAY": gateway.url}
    assert run("apply", str(policy), "--auto-approve", env=env).exit_code == 0
    assert run("drift", str(policy), env=env).exit_code == 0

    route = _route(gateway, "default")
    route["spec"]["targets"][0]["weight"] = 50
    body = {
        "author": "alice@ops-console",
        "operations": [
            {
                "action": "update",
                "kind": "Route",
                "name": "default",
                "resource": {k: route[k] for k in ("spec", "owner", "protected", "labels")},
            },
            {"action": "delete", "kind": "Experiment", "name": "try-mistral"},
        ],
    }
    response = httpx.post(
        f"{gateway.url}/admin/v1/changesets",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}", "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    when = gateway.store.history(1)[0].created_at.isoformat()

    drift = run("drift", str(policy), env=env)
    assert drift.exit_code == 2, drift.output
    lines = drift.stdout.splitlines()
    assert (
        f"~ route/default changed outside routectl by alice@ops-console at {when} (revision 2)"
        in lines
    )
    assert "    spec.targets[0].weight: 95 -> 50  (git -> live)" in lines
    assert (
        f"- experiment/try-mistral deleted outside routectl by alice@ops-console at {when} "
        "(revision 2)" in lines
    )
    doc = json.loads(run("drift", str(policy), "--format", "json", env=env).stdout)
    assert {r["address"]: r["updated_by"] for r in doc["resources"]} == {
        "experiment/try-mistral": "alice@ops-console",
        "route/default": "alice@ops-console",
    }
    # apply puts Git's state back; drift is gone.
    assert run("apply", str(policy), "--auto-approve", env=env).exit_code == 0
    assert run("drift", str(policy), env=env).exit_code == 0


def test_unreachable_gateway(policy):
    url = f"http://127.0.0.1:{free_port()}"
    for command in (["plan"], ["apply", "--auto-approve"], ["drift"]):
        result = run(command[0], str(policy), *command[1:], "--gateway", url, env=AUTH)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"error: gateway {url} is unreachable (connection refused on GET /config); check "
            "--gateway/ROUTECTL_GATEWAY and that `routectl gateway serve` is running there"
        )


@pytest.mark.parametrize(
    ("token", "status", "hint"),
    [
        (
            "wrong-token",
            "403",
            "check that ROUTECTL_TOKEN matches the gateway's ROUTECTL_ADMIN_TOKEN",
        ),
        (None, "401", "set ROUTECTL_TOKEN to the gateway's admin token (ROUTECTL_ADMIN_TOKEN)"),
    ],
)
def test_wrong_or_missing_token(policy, gateway, token, status, hint):
    env = {"ROUTECTL_TOKEN": token} if token else {}
    result = run("apply", str(policy), "--auto-approve", "--gateway", gateway.url, env=env)
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith(
        f"error: gateway {gateway.url} refused the admin token on GET /config ({status}: "
    )
    assert line.endswith(hint) and "\n" not in line
    assert "wrong-token" not in result.output and TOKEN not in result.output
    assert gateway.store.current_revision() == 0


def test_server_errors_and_malformed_answers(policy):
    async def broken(request):
        return PlainTextResponse("upstream exploded", status_code=500)

    async def html(request):
        return PlainTextResponse("<html>login page</html>", media_type="text/html")

    async def wrong_shape(request):
        return PlainTextResponse(json.dumps({"revision": "many"}), media_type="application/json")

    app = Starlette(
        routes=[
            Route("/broken/admin/v1/config", broken),
            Route("/html/admin/v1/config", html),
            Route("/shape/admin/v1/config", wrong_shape),
        ]
    )
    with ServerThread(app) as server:
        cases = {
            "broken": "failed on GET /config (HTTP 500: Internal Server Error); "
            "check the gateway's logs",
            "html": "sent a malformed answer to GET /config (not JSON); "
            "is --gateway a routectl gateway?",
            "shape": "sent a malformed answer to GET /config "
            "(revision: Input should be a valid integer",
        }
        for prefix, message in cases.items():
            url = f"{server.url}/{prefix}"
            result = run("plan", str(policy), "--gateway", url, "--detailed-exitcode", env=AUTH)
            assert result.exit_code == 1, result.output
            assert f"error: gateway {url} {message}" in result.stderr
            assert "Traceback" not in result.output


def _route(gateway, name: str) -> dict:
    response = httpx.get(
        f"{gateway.url}/admin/v1/resources/route/{name}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    response.raise_for_status()
    return response.json()


def test_every_example_converges_over_http(workdir, tmp_path):
    examples = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    for example in examples:
        store = SqliteStore(tmp_path / f"{example.name}.db")
        asgi = Starlette(routes=[Mount("/admin/v1", app=admin_app(AdminService(store), TOKEN))])
        with ServerThread(asgi) as server:
            env = AUTH | {"ROUTECTL_GATEWAY": server.url}
            applied = run("apply", str(example), "--auto-approve", env=env)
            assert applied.exit_code == 0, f"{example.name}: {applied.output}"
            plan = run("plan", str(example), "--detailed-exitcode", env=env)
            assert plan.exit_code == 0, f"{example.name}: {plan.output}"
        assert store.current_revision() == 1
        store.close()


def test_a_gateway_that_does_not_answer_in_time():
    async def slow(request):
        await asyncio.sleep(2)
        return PlainTextResponse("{}")

    app = Starlette(
        routes=[
            Route("/admin/v1/config", slow),
            Route("/admin/v1/changesets", slow, methods=["POST"]),
        ]
    )
    with ServerThread(app) as server:
        backend = HttpBackend(server.url, TOKEN, timeout_s=0.2, attempts=2, backoff_s=0.01)
        with pytest.raises(GatewayError) as read:
            backend.get_config()
        assert str(read.value) == (
            f"gateway {server.url} is unreachable (timed out waiting for an answer on GET "
            "/config); check --gateway/ROUTECTL_GATEWAY and that `routectl gateway serve` is "
            "running there"
        )
        # A write that was sent is never retried: it may have landed.
        with pytest.raises(GatewayError) as write:
            backend.apply({"author": "a", "operations": []}, 0)
        assert (
            "failed after the request was sent (timed out waiting for an answer); it may "
            "or may not have been applied: run routectl plan" in str(write.value)
        )
        backend.close()
