"""Portkey's gateway runs the compiled config; what reaches the upstreams matches the core."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jsonschema
import pytest
from tests.compile.conftest import peer, portkey_entry, stop, wait_for_port
from tests.compile.fidelity import (
    Fidelity,
    RecordingUpstream,
    attempts,
    compile_for,
    fidelity_policy,
    key_env,
)
from tests.gateway.servers import ServerThread, free_port

from routectl.compile.portkey import CONFIG_SCHEMA

LOOPBACK = Path(__file__).parent / "peers" / "loopback.js"


def expand(config_text: str, env: dict[str, str]) -> str:
    """What a caller does before sending the config: fill in the key references."""
    for name, value in env.items():
        config_text = config_text.replace("${" + name + "}", value)
    return json.dumps(json.loads(config_text), separators=(",", ":"))


@pytest.fixture(scope="module")
def portkey(tmp_path_factory):
    entry = portkey_entry()
    node = shutil.which("node") or peer(Path("/usr/bin/node"), "node")
    mock = RecordingUpstream()
    with ServerThread(mock.app) as upstream:
        root = tmp_path_factory.mktemp("portkey")
        compiled = compile_for(fidelity_policy(root / "policy", upstream.url), "portkey")
        config = expand(compiled.files["portkey-config.json"], key_env(compiled.policy))
        port = free_port()
        log = root / "portkey.log"
        process = subprocess.Popen(
            # The config travels in a header; Node's default 16 KiB header limit is too small.
            [
                node,
                "--max-http-header-size=1048576",
                "-r",
                str(LOOPBACK),
                str(entry),
                f"--port={port}",
                "--headless",
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        try:
            wait_for_port(port, process, log)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

            def send_one(item):
                intent, classification, marker = item
                metadata = {
                    k: v for k, v in (("intent", intent), ("classification", classification)) if v
                }
                response = client.post(
                    "/v1/chat/completions",
                    headers={
                        "x-portkey-config": config,
                        "x-portkey-metadata": json.dumps(metadata),
                    },
                    json={"model": "any", "messages": [{"role": "user", "content": marker}]},
                )
                return response.status_code, None

            def send(batch):
                with ThreadPoolExecutor(8) as pool:
                    return list(pool.map(send_one, batch))

            fidelity = Fidelity(compiled, mock, send)
            fidelity.client, fidelity.config, fidelity.port = client, config, port
            yield fidelity
            client.close()
        finally:
            stop(process)


def test_listens_on_loopback_only(portkey):
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{portkey.port}"], capture_output=True, text=True
    )
    if out.returncode != 0:
        pytest.skip("ss is not available")
    addresses = {
        line.split()[3].rsplit(":", 1)[0] for line in out.stdout.splitlines() if line.strip()
    }
    assert addresses == {"127.0.0.1"}, out.stdout


def test_compiled_config_uses_only_fields_portkey_reads(portkey):
    jsonschema.validate(json.loads(portkey.config), CONFIG_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(portkey.config), "retries": 3}, CONFIG_SCHEMA)


def test_deterministic_decisions_are_exact(portkey):
    portkey.check_deterministic()


def test_weighted_split_within_three_sigma(portkey):
    portkey.check_weighted()


@pytest.mark.parametrize("mode", ["503", "429"])
def test_failover_walks_the_compiled_chain(portkey, mode):
    portkey.check_failover(mode)


def test_last_used_option_names_the_target(portkey):
    portkey.mock.reset()
    marker = "req-" + "1" * 32
    response = portkey.client.post(
        "/v1/chat/completions",
        headers={
            "x-portkey-config": portkey.config,
            "x-portkey-metadata": json.dumps({"intent": "analysis", "classification": "public"}),
        },
        json={"model": "any", "messages": [{"role": "user", "content": marker}]},
    )
    assert response.status_code == 200
    index = response.headers["x-portkey-last-used-option-index"]
    lane = portkey.lowering.lane_for("analysis", "public")
    position = list(portkey.lowering.lanes).index(lane)
    assert index.startswith(f"config.targets[{position}]")
    assert attempts(portkey.mock, portkey.policy)[marker] == [
        portkey.lowering.lanes[lane].arms[0].primary
    ]


def test_no_classification_reaches_a_forbidden_upstream(portkey):
    portkey.check_never_forbidden()
