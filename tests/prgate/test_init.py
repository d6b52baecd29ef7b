"""routectl init: a starter repository on which lint, test, simulate and fmt all pass."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from tests.prgate.test_github_yaml import validate
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.manifest import json_schema

runner = CliRunner()


def test_init_scaffolds_a_repository_that_passes_every_check(tmp_path: Path) -> None:
    repo = tmp_path / "policy-repo"
    result = runner.invoke(app, ["init", str(repo)])
    assert result.exit_code == 0, result.output
    for name in (
        "policy/models.yaml",
        "policy/tests.yaml",
        "traffic/sample.csv",
        ".routectl.yaml",
        ".github/workflows/routectl.yml",
        ".pre-commit-config.yaml",
        ".gitignore",
        "routectl.schema.json",
    ):
        assert (repo / name).is_file(), name
    policy, traffic = str(repo / "policy"), str(repo / "traffic" / "sample.csv")

    lint = runner.invoke(app, ["lint", policy, "--fail-severity", "warning"])
    assert lint.exit_code == 0, lint.output
    test = runner.invoke(app, ["test", policy])
    assert test.exit_code == 0 and "4 passed, 0 failed" in test.stdout
    simulate = runner.invoke(
        app, ["simulate", policy, "--traffic", traffic, "--fail-on-unroutable", "--format", "json"]
    )
    assert simulate.exit_code == 0, simulate.output
    report = json.loads(simulate.stdout)
    assert report["requests"] == 600 and report["unroutable"]["count"] == 0
    assert {m["model"] for m in report["by_model"]} >= {"mistral-small", "gpt-4.1-mini"}
    assert runner.invoke(app, ["fmt", "--check", policy]).exit_code == 0

    # Every model has a dated price.
    assert (repo / "policy" / "models.yaml").read_text().count(', 2025-06"}') == 4
    # The workflow and the pre-commit config are valid for their tools.
    assert validate(repo / ".github" / "workflows" / "routectl.yml", "github-workflows.json") == []
    from pre_commit import clientlib

    config = clientlib.load_config(str(repo / ".pre-commit-config.yaml"))
    hooks = [h["id"] for r in config["repos"] for h in r["hooks"]]
    assert hooks == ["routectl-fmt", "routectl-lint", "routectl-test"]
    # The schema the manifests point to is routectl's, and the state dir is ignored.
    schema = json.loads((repo / "routectl.schema.json").read_text())
    assert schema == json.loads(json.dumps(json_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert ".routectl/" in (repo / ".gitignore").read_text()


def test_init_overwrites_nothing(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("mine\n")
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path} already has README.md")
    assert (tmp_path / "README.md").read_text() == "mine\n"
    assert not (tmp_path / "policy").exists()
