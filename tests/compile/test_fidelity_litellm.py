"""LiteLLM (the proxy, and litellm.Router in process) runs the compiled config.

The proxy starts once for the module (it takes tens of seconds to import);
both check the same request sets against the core evaluator.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.compile.conftest import litellm_python, stop, wait_for_port
from tests.compile.fidelity import (
    Fidelity,
    RecordingUpstream,
    attempts,
    compile_for,
    fidelity_policy,
    key_env,
)
from tests.gateway.servers import ServerThread, free_port

ROUTER_WORKER = Path(__file__).parent / "peers" / "litellm_router_worker.py"
PREFIX = "@routectl "
MASTER_KEY = "sk-routectl-litellm-master-0123456789"


def litellm_env(compiled) -> dict[str, str]:
    return {
        **os.environ,
        **key_env(compiled.policy),
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # offline: no price map download
        "LITELLM_TELEMETRY": "False",
    }


@pytest.fixture(scope="module")
def upstream():
    mock = RecordingUpstream()
    with ServerThread(mock.app) as server:
        yield mock, server.url


@pytest.fixture(scope="module")
def compiled_dir(tmp_path_factory, upstream):
    mock, url = upstream
    root = tmp_path_factory.mktemp("litellm")
    compiled = compile_for(fidelity_policy(root / "policy", url), "litellm")
    out = root / "compiled"
    out.mkdir()
    for name, text in compiled.files.items():
        (out / name).write_text(text)
    return compiled, out


@pytest.fixture(scope="module")
def proxy(compiled_dir, upstream):
    python = litellm_python()
    compiled, out = compiled_dir
    mock, _ = upstream
    port = free_port()
    log = out.parent / "litellm.log"
    process = subprocess.Popen(
        [
            python.parent / "litellm",
            "--config",
            out / "config.yaml",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        env=litellm_env(compiled),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=out,
    )
    try:
        wait_for_port(port, process, log, timeout=240)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60,
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
        deployments = _deployments(out)

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
                json={"model": "routectl", "messages": [{"role": "user", "content": marker}]},
            )
            return response.status_code, deployments.get(response.headers.get("x-litellm-model-id"))

        def send(batch):
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(send_one, batch))

        fidelity = Fidelity(compiled, mock, send)
        fidelity.client = client
        yield fidelity
        client.close()
    finally:
        stop(process)


def _deployments(out: Path) -> dict[str, str]:
    text = (out / "routectl_lanes.py").read_text()
    start = text.index('DEPLOYMENTS = json.loads("""') + len('DEPLOYMENTS = json.loads("""')
    return json.loads(text[start : text.index('""")', start)])


@pytest.fixture(scope="module")
def router(compiled_dir, upstream):
    python = litellm_python()
    compiled, out = compiled_dir
    mock, _ = upstream
    process = subprocess.Popen(
        [python, ROUTER_WORKER, out],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(out.parent / "router.log").open("w"),
        text=True,
        env=litellm_env(compiled),
    )

    def answer():
        for line in process.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
        raise AssertionError((out.parent / "router.log").read_text()[-2000:])

    try:
        assert answer() == "ready"

        def send(batch):
            process.stdin.write(json.dumps(batch) + "\n")
            process.stdin.flush()
            return [tuple(item) for item in answer()]

        yield Fidelity(compiled, mock, send)
    finally:
        process.stdin.close()
        stop(process)


@pytest.fixture(params=["proxy", "router"])
def litellm(request):
    return request.getfixturevalue(request.param)


def test_deterministic_decisions_are_exact(litellm):
    litellm.check_deterministic()


def test_weighted_split_within_three_sigma(litellm):
    litellm.check_weighted()


@pytest.mark.parametrize("mode", ["503", "429"])
def test_failover_walks_the_compiled_chain(litellm, mode):
    litellm.check_failover(mode)


def test_proxy_names_the_deployment_and_reads_body_metadata(proxy):
    proxy.mock.reset()
    marker = "req-" + "2" * 32
    response = proxy.client.post(
        "/v1/chat/completions",
        json={
            "model": "routectl",
            "messages": [{"role": "user", "content": marker}],
            "metadata": {"intent": "analysis", "classification": "public"},
        },
    )
    lane = proxy.lowering.lane_for("analysis", "public")
    assert response.status_code == 200
    assert response.headers["x-litellm-model-id"] == lane
    assert attempts(proxy.mock, proxy.policy)[marker] == [
        proxy.lowering.lanes[lane].arms[0].primary
    ]


def test_no_classification_reaches_a_forbidden_upstream(litellm):
    litellm.check_never_forbidden()
