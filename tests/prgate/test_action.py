"""action.yml, run step by step on this machine: a pull request, its comment, its gates."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import ROOT
from tests.prgate.action_runner import run_action
from tests.prgate.conftest import git
from tests.prgate.github_standin import StandIn
from tests.prgate.markdown_check import problems
from tests.reconcile.conftest import TOKEN


def pull_request(tmp_path: Path, origin: Path) -> tuple[Path, Path]:
    """A clone checked out at the pull request's head, and its event payload."""
    work = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", "--branch", "feature", str(origin), str(work))
    event = tmp_path / "event.json"
    head = git(work, "rev-parse", "HEAD")
    event.write_text(json.dumps({"pull_request": {"number": 12, "head": {"sha": head}}}))
    return work, event


def github_context(event: Path, standin: StandIn) -> dict[str, str]:
    return {
        "event_name": "pull_request",
        "base_ref": "main",
        "event_path": str(event),
        "repository": "acme/policies",
        "api_url": standin.url,
        "token": "ghs_token",
        "action_path": str(ROOT),
    }


ENV = {"PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_the_action_gates_a_pull_request_and_keeps_one_comment(
    policy_repo: Path, tmp_path: Path, gateway
) -> None:
    work, event = pull_request(tmp_path, policy_repo)
    inputs = {
        "path": "policies/three-tier",
        "traffic": "traffic.csv\n",
        "simulate-args": "--set intent=classify --set classification=internal",
        "max-shift": "90",
        "gateway-url": gateway.url,
        "gateway-token": TOKEN,
    }
    with StandIn(token="ghs_token") as github:
        first = run_action(work, inputs, github_context(event, github), ENV)
        # The head breaks three policy tests, so the check fails; every other check ran.
        assert first.failed_step == "Fail when a check failed", first.logs
        check = first.outputs["check"]
        assert check["failed"] == "test" and check["passed"] == "false"
        assert Path(check["sarif"]).is_file() and Path(check["plan"]).is_file()
        uses = dict(first.uses)
        assert uses["github/codeql-action/upload-sarif@v3"]["sarif_file"] == check["sarif"]
        assert uses["actions/upload-artifact@v4"]["name"] == "routectl-plan"
        sarif = json.loads(Path(check["sarif"]).read_text())
        assert sarif["version"] == "2.1.0"

        comments = github.state.comments[("acme/policies", 12)]
        assert len(comments) == 1
        body = comments[0].body
        assert problems(body) == []
        assert "| ❌ policy tests | 12 passed, 3 failed |" in body
        assert "| ✅ simulate |" in body and "1 gate(s) passed" in body
        assert "| ✅ plan | 34 to add" in body
        assert f"for {git(work, 'rev-parse', 'HEAD')[:12]}" in body
        assert first.summary.strip() == body.strip()

        # The author fixes the tests and pushes; the same comment turns green.
        tests = work / "policies" / "three-tier" / "tests.yaml"
        text = tests.read_text()  # request ids that draw gpt-4o-mini's 30%
        text = text.replace("requestId: ticket-1}", "requestId: ticket-b}")
        tests.write_text(text.replace("requestId: ticket-3\n", "requestId: ticket-b\n"))
        git(work, "commit", "-q", "-am", "tests follow the new split")
        second = run_action(work, inputs, github_context(event, github), ENV)
        assert second.failed_step is None, second.logs
        assert second.outputs["check"] == {
            "sarif": check["sarif"],
            "plan": check["plan"],
            "failed": "",
            "passed": "true",
        }
        comments = github.state.comments[("acme/policies", 12)]
        assert len(comments) == 1
        assert comments[0].body.split("\n")[1].startswith("## ✅ routectl: policies/three-tier")

        methods = [m for m, _ in github.state.requests]
        assert methods.count("POST") == 1 and methods.count("PATCH") == 1
