"""Envoy runs the compiled bootstrap; what reaches the upstreams matches the core."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.compile.conftest import envoy_binary, stop, wait_for_port
from tests.compile.fidelity import (
    Fidelity,
    RecordingUpstream,
    attempts,
    compile_for,
    expected,
    fidelity_policy,
    key_env,
)
from tests.gateway.servers import ServerThread, free_port


@pytest.fixture(scope="module")
def envoy(tmp_path_factory):
    binary = envoy_binary()
    mock = RecordingUpstream()
    with ServerThread(mock.app) as upstream:
        root = tmp_path_factory.mktemp("envoy")
        compiled = compile_for(fidelity_policy(root / "policy", upstream.url), "envoy")
        port = free_port()
        # The listener port is a deployment choice; the compiled default is 10000.
        config = root / "envoy.yaml"
        config.write_text(
            compiled.files["envoy.yaml"].replace("port_value: 10000", f"port_value: {port}")
        )
        check = subprocess.run(
            [binary, "--mode", "validate", "-c", config], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        log = root / "envoy.log"
        process = subprocess.Popen(
            [
                binary,
                "-c",
                config,
                "--disable-hot-restart",
                "--base-id",
                str(port),
                "-l",
                "warning",
                "--concurrency",
                "2",
            ],
            env={**os.environ, **key_env(compiled.policy)},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, process, log)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

            def send_one(item):
                intent, classification, marker = item
                headers = {}
                if intent:
                    headers["x-routectl-intent"] = intent
                if classification:
                    headers["x-routectl-classification"] = classification
                response = client.post(
                    "/v1/chat/completions",
                    headers=headers,
                    json={"model": "any", "messages": [{"role": "user", "content": marker}]},
                )
                return response.status_code, response.headers.get("x-routectl-model")

            def send(batch):
                with ThreadPoolExecutor(8) as pool:
                    return list(pool.map(send_one, batch))

            fidelity = Fidelity(compiled, mock, send)
            fidelity.client = client
            yield fidelity
            client.close()
        finally:
            stop(process)


def test_deterministic_decisions_are_exact(envoy):
    envoy.check_deterministic()


def test_weighted_split_within_three_sigma(envoy):
    envoy.check_weighted()


@pytest.mark.parametrize("mode", ["503", "429"])
def test_failover_walks_the_compiled_chain(envoy, mode):
    envoy.check_failover(mode)


def test_routing_features_lifted_from_the_body(envoy):
    """Without headers, the Lua selector reads the body's metadata."""
    envoy.mock.reset()
    marker = "req-" + "0" * 32
    response = envoy.client.post(
        "/v1/chat/completions",
        json={
            "model": "any",
            "messages": [{"role": "user", "content": marker}],
            "metadata": {"intent": "analysis", "classification": "public"},
        },
    )
    decision = expected(envoy.policy, "analysis", "public", marker)
    assert response.status_code == 200
    assert attempts(envoy.mock, envoy.policy)[marker] == [decision.primary]
    # A client cannot pick a lane itself: the selector overwrites x-routectl-lane.
    response = envoy.client.post(
        "/v1/chat/completions",
        headers={
            "x-routectl-lane": "zero-retention.confidential",
            "x-routectl-intent": "analysis",
            "x-routectl-classification": "public",
        },
        json={"model": "any", "messages": [{"role": "user", "content": marker}]},
    )
    assert response.headers["x-routectl-model"] == decision.primary


def test_no_classification_reaches_a_forbidden_upstream(envoy):
    envoy.check_never_forbidden()
