"""TensorZero's embedded gateway runs the compiled config; upstreams see what the core decides."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.compile.conftest import stop, tensorzero_python
from tests.compile.fidelity import (
    Fidelity,
    RecordingUpstream,
    compile_for,
    fidelity_policy,
    key_env,
)
from tests.gateway.servers import ServerThread

WORKER = Path(__file__).parent / "peers" / "tensorzero_worker.py"
PREFIX = "@routectl "


@pytest.fixture(scope="module")
def tensorzero(tmp_path_factory):
    python = tensorzero_python()
    mock = RecordingUpstream()
    with ServerThread(mock.app) as upstream:
        root = tmp_path_factory.mktemp("tensorzero")
        compiled = compile_for(fidelity_policy(root / "policy", upstream.url), "tensorzero")
        for name, text in compiled.files.items():
            (root / name).write_text(text)
        process = subprocess.Popen(
            [python, WORKER, root / "tensorzero.toml", root / "routectl-lanes.json"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(root / "tensorzero.log").open("w"),
            text=True,
            env={**os.environ, **key_env(compiled.policy), "RUST_LOG": "error"},
        )

        def answer():
            for line in process.stdout:
                if line.startswith(PREFIX):
                    return json.loads(line[len(PREFIX) :])
            raise AssertionError((root / "tensorzero.log").read_text()[-2000:])

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


def test_deterministic_decisions_are_exact(tensorzero):
    tensorzero.check_deterministic()


def test_weighted_split_within_three_sigma(tensorzero):
    tensorzero.check_weighted()


@pytest.mark.parametrize("mode", ["503", "429"])
def test_failover_walks_the_compiled_chain(tensorzero, mode):
    tensorzero.check_failover(mode)


def test_no_classification_reaches_a_forbidden_upstream(tensorzero):
    tensorzero.check_never_forbidden()
