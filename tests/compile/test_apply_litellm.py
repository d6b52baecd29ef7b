"""apply --target litellm --write-config: the proxy converges; a second apply changes nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.compile.conftest import litellm_python
from tests.compile.fidelity import fidelity_policy, key_env
from tests.gateway.servers import free_port

RESTART = Path(__file__).parent / "peers" / "restart_litellm.py"
MASTER_KEY = "sk-routectl-apply-master-0123456789"


def routectl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "routectl.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_apply_converges_and_second_apply_changes_nothing(tmp_path):
    litellm = litellm_python().parent / "litellm"
    policy = fidelity_policy(tmp_path / "policy", "http://127.0.0.1:9")
    from routectl.cli.common import load_policy

    env = {
        **os.environ,
        **key_env(load_policy([str(policy)]).policy),
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    config_dir, pidfile, port = tmp_path / "litellm", tmp_path / "litellm.pid", free_port()
    log = tmp_path / "litellm.log"
    reload_cmd = f"{sys.executable} {RESTART} {litellm} {pidfile} {config_dir} {port} {log}"
    args = [
        str(policy),
        "--target",
        "litellm",
        "--write-config",
        str(config_dir),
        "--allow-approximate",
    ]
    try:
        planned = routectl("plan", *args, "--detailed-exitcode", env=env)
        assert planned.returncode == 2, planned.stderr
        assert "create" in planned.stdout and not config_dir.exists()

        first = routectl(
            "apply",
            *args,
            "--reload-cmd",
            reload_cmd,
            "--gateway",
            f"litellm+http://127.0.0.1:{port}",
            env=env,
        )
        assert first.returncode == 0, first.stdout + first.stderr
        assert "serves the" in first.stdout
        started = pidfile.read_text()

        second = routectl(
            "apply",
            *args,
            "--reload-cmd",
            reload_cmd,
            "--gateway",
            f"litellm+http://127.0.0.1:{port}",
            env=env,
        )
        assert second.returncode == 0 and "No changes" in second.stdout, second.stdout
        assert pidfile.read_text() == started, "nothing changed, so nothing was reloaded"
        assert routectl("plan", *args, "--detailed-exitcode", env=env).returncode == 0

        routes = policy / "routes.yaml"
        routes.write_text(routes.read_text().replace("chain: [gemini-2.5-flash]", "chain: []"))
        changed = routectl("plan", *args, "--detailed-exitcode", env=env)
        assert changed.returncode == 2 and "update" in changed.stdout
        assert (
            "-      - model/gemini-2.5-flash" in changed.stdout
            or "gemini-2.5-flash" in changed.stdout
        )
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_write_config_needs_one_compile_target(tmp_path):
    policy = fidelity_policy(tmp_path / "policy", "http://127.0.0.1:9")
    out = routectl(
        "apply",
        str(policy),
        "--target",
        "Route/x",
        "--write-config",
        str(tmp_path / "o"),
        env={**os.environ},
    )
    assert out.returncode == 1 and "exactly one --target" in out.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_unsupported_feature_writes_nothing(tmp_path, command):
    example = Path(__file__).resolve().parents[2] / "examples" / "policies" / "three-tier"
    out = routectl(
        command,
        str(example),
        "--target",
        "envoy",
        "--write-config",
        str(tmp_path / "o"),
        "--allow-approximate",
        env={**os.environ},
    )
    assert out.returncode == 1 and "cannot express match.teams" in out.stderr
    assert not (tmp_path / "o").exists()
