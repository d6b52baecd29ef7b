"""Rough edges of plan and apply: ownership, where the store lives, gateways that hang."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

from tests.conftest import EXAMPLES
from tests.prgate.conftest import git
from typer.testing import CliRunner

from routectl.cli.main import app

runner = CliRunner()


def repo_with_policy(tmp_path: Path, folder: str = "policies/prod") -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    policy = repo / folder
    shutil.copytree(EXAMPLES / "three-tier", policy)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    return repo, policy


def test_a_moved_policy_that_skips_resources_is_not_in_sync(tmp_path, monkeypatch) -> None:
    repo, policy = repo_with_policy(tmp_path)
    monkeypatch.chdir(repo)
    assert runner.invoke(app, ["apply", str(policy), "--auto-approve"]).exit_code == 0
    moved = repo / "policies" / "production"
    policy.rename(moved)
    plan = runner.invoke(app, ["plan", str(moved), "--detailed-exitcode"])
    assert plan.exit_code == 2, plan.output
    assert "No changes" not in plan.stdout
    assert "34 skipped: owned by another policy, so the gateway stays out of sync" in plan.stdout
    assert "declare its owner in .routectl.yaml (owner: NAME)" in plan.stderr
    drift = runner.invoke(app, ["drift", str(moved)])
    assert drift.exit_code == 2


def test_a_declared_owner_survives_moving_the_folder(tmp_path, monkeypatch) -> None:
    repo, policy = repo_with_policy(tmp_path)
    (repo / ".routectl.yaml").write_text("owner: acme/routing/prod\n")
    monkeypatch.chdir(repo)
    applied = runner.invoke(app, ["apply", str(policy), "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    moved = repo / "policies" / "production"
    policy.rename(moved)
    plan = runner.invoke(app, ["plan", str(moved), "--detailed-exitcode"])
    assert plan.exit_code == 0, plan.output
    assert "owner acme/routing/prod" in plan.stdout


def test_plan_creates_no_store_and_apply_keeps_it_out_of_git(tmp_path, monkeypatch) -> None:
    repo, policy = repo_with_policy(tmp_path)
    monkeypatch.chdir(policy)
    plan = runner.invoke(app, ["plan", "."])
    assert plan.exit_code == 0, plan.output
    store = repo / ".routectl" / "gateway.db"
    assert f"sqlite:///{store}" in plan.stdout  # it says where
    assert f"the embedded store {store} does not exist yet" in plan.stderr
    assert not (policy / ".routectl").exists() and not (repo / ".routectl").exists()
    applied = runner.invoke(app, ["apply", ".", "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    assert store.is_file() and not (policy / ".routectl").exists()
    git(repo, "add", "-A")
    assert ".routectl" not in git(repo, "status", "--porcelain")


def test_a_gateway_that_never_answers_does_not_hang_plan(tmp_path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(listener.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        started = time.monotonic()
        result = runner.invoke(
            app,
            [
                "plan",
                str(EXAMPLES / "three-tier"),
                "--gateway",
                url,
                "--timeout",
                "1",
                "--token",
                "t",
            ],
        )
        elapsed = time.monotonic() - started
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: gateway {url} is unreachable (timed out")
    assert elapsed < 10, elapsed


def test_client_commands_document_the_token_and_timeout() -> None:
    for command in ("plan", "apply", "drift"):
        text = runner.invoke(app, [command, "--help"], terminal_width=200).stdout
        assert "--token" in text and "ROUTECTL_ADMIN_TOKEN" in text, command
        assert "--timeout" in text, command


def test_drift_and_diff_markdown_are_markdown(tmp_path, monkeypatch) -> None:
    from tests.prgate.markdown_check import problems

    repo, policy = repo_with_policy(tmp_path)
    monkeypatch.chdir(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    assert runner.invoke(app, ["apply", str(policy), "--auto-approve"]).exit_code == 0
    routes = policy / "routes.yaml"
    routes.write_text(
        routes.read_text().replace("chain: [gpt-4o, claude-sonnet-4]", "chain: [claude-sonnet-4]")
    )
    drift = runner.invoke(app, ["drift", str(policy), "--format", "markdown"])
    assert drift.exit_code == 2
    body = drift.stdout
    assert body.startswith("### routectl drift:") and problems(body) == []
    assert "| resource | drift | by | when | revision |" in body
    assert "| `route/standard` | `spec.fallback.chain` |" in body
    diff = runner.invoke(app, ["diff", str(policy), "--base", "HEAD"])
    assert diff.exit_code == 0
    assert "fallback chain [gpt-4o, claude-sonnet-4] -> [claude-sonnet-4]" in diff.stdout
    assert "→" not in diff.stdout
    markdown = runner.invoke(app, ["diff", str(policy), "--base", "HEAD", "--format", "markdown"])
    assert problems(markdown.stdout) == [] and "- **changed** `route standard`" in markdown.stdout
