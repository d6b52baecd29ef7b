"""The workflow, the action and the pre-commit hooks validate against their schemas.

actionlint is not packaged for PyPI without a download at install time, so the
GitHub files are checked against SchemaStore's schemas (tests/data/schemastore),
plus what a schema cannot say: every local script the action runs exists, and
the workflow's action job uses this repository's action on the examples.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from tests.conftest import ROOT

SCHEMAS = ROOT / "tests" / "data" / "schemastore"


def validate(document: Path, schema_name: str) -> list[str]:
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    # PyYAML reads the key `on:` as True, as GitHub's own parser does not: undo that.
    data = yaml.safe_load(document.read_text(encoding="utf-8"))
    if isinstance(data, dict) and True in data:
        data["on"] = data.pop(True)
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{document.name}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(data)
    ]


WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_workflows_match_the_schema(workflow: Path) -> None:
    assert validate(workflow, "github-workflows.json") == []


def test_the_action_matches_the_schema() -> None:
    assert validate(ROOT / "action.yml", "github-actions.json") == []


def test_the_schema_check_catches_mistakes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    step: []\n")
    assert validate(broken, "github-workflows.json") != []


def test_the_action_runs_scripts_that_exist_and_uses_only_its_inputs() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    inputs = set(action["inputs"])
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"inputs\.([a-z-]+)", text))
    assert used <= inputs, used - inputs
    for step in action["runs"]["steps"]:
        for script in re.findall(r"\$GITHUB_ACTION_PATH/(\S+?\.sh)", step.get("run", "")):
            assert (ROOT / script).is_file(), script


def test_the_workflow_runs_the_action_on_the_examples() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["action"]["steps"]
    uses = [s for s in steps if s.get("uses") == "./"]
    assert uses and uses[0]["with"]["path"].startswith("examples/policies/")
    pythons = workflow["jobs"]["test"]["strategy"]["matrix"]["python"]
    assert pythons == ["3.11", "3.12", "3.13"]


def test_pre_commit_hooks_are_valid() -> None:
    from pre_commit import clientlib

    hooks = clientlib.load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert [h["id"] for h in hooks] == ["routectl-lint", "routectl-fmt", "routectl-test"]
