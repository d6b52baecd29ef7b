"""action/apply.sh on a merge: the reviewed plan applies exactly, or fails as stale."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT
from tests.reconcile.conftest import TOKEN
from typer.testing import CliRunner

from routectl.cli.main import app

runner = CliRunner()
STANDIN = Path(__file__).parent / "bin"


def apply_script(tmp_path: Path, gateway_url: str, state: dict) -> subprocess.CompletedProcess:
    state_file = tmp_path / "gh-state.json"
    state_file.write_text(json.dumps(state))
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir(exist_ok=True)
    env = os.environ | {
        "PATH": f"{STANDIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "GH_STANDIN_STATE": str(state_file),
        "GH_TOKEN": "ghs_x",
        "GITHUB_REPOSITORY": "acme/policies",
        "GITHUB_SHA": "merge-sha",
        "RUNNER_TEMP": str(runner_temp),
        "RC_GATEWAY_URL": gateway_url,
        "RC_GATEWAY_TOKEN": TOKEN,
    }
    return subprocess.run(
        ["bash", str(ROOT / "action" / "apply.sh")],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip


def test_the_merged_pull_requests_plan_is_applied_then_refused_when_stale(tmp_path, gateway):
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    planned = runner.invoke(
        app,
        ["plan", str(EXAMPLES / "three-tier"), "--gateway", gateway.url, "--token", TOKEN,
         "--out", str(artifact / "routectl.plan"), "--owner", "acme/prod"],
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output
    state = {
        "pulls": {"merge-sha": "head-sha"},
        "runs": {"head-sha": ["101", "100"]},
        "artifacts": {"100": {"routectl-plan": str(artifact)}},
    }
    done = apply_script(tmp_path, gateway.url, state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Applying the plan of run 100 (pull request head head-sha)" in done.stdout
    assert "Apply complete: 34 added" in done.stdout
    assert gateway.store.current_revision() == 1

    # The same plan again: the gateway moved on, so it is stale and nothing is written.
    again = apply_script(tmp_path, gateway.url, state)
    assert again.returncode == 1
    assert "stale plan" in again.stderr
    assert gateway.store.current_revision() == 1


def test_a_push_without_a_pull_request_applies_nothing(tmp_path, gateway):
    done = apply_script(tmp_path, gateway.url, {"pulls": {}, "runs": {}, "artifacts": {}})
    assert done.returncode == 0
    assert "merged no pull request; nothing to apply" in done.stdout
    missing = apply_script(
        tmp_path, gateway.url, {"pulls": {"merge-sha": "h"}, "runs": {"h": ["7"]}, "artifacts": {}}
    )
    assert missing.returncode == 1
    assert "no routectl-plan artifact from a run of h" in missing.stdout
