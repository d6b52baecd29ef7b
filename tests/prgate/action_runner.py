"""Run action.yml's shell steps on this machine as a GitHub runner would.

Steps that ``uses:`` another action (setup-python, code scanning, artifacts) are
not run; they are returned with their evaluated ``with:`` values so tests can
check what they would receive. The install step is not run either: the tests
run the routectl of this checkout. Expressions are evaluated for the forms the
action uses (``inputs.x``, ``github.x``, ``steps.id.outputs.x``, ``a && 'b'``);
anything else fails the test, which keeps the action's expressions simple.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tests.conftest import ROOT

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class RunResult:
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    uses: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    failed_step: str | None = None
    summary: str = ""


def load_action() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def run_action(
    workdir: Path, inputs: dict[str, str], github: dict[str, str], env: dict[str, str]
) -> RunResult:
    action = load_action()
    values = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    result = RunResult()
    temp = workdir.parent / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary = temp / "summary.md"
    context = {"github": github}

    def lookup(name: str) -> str:
        name = name.strip()
        if re.fullmatch(r"'[^']*'", name):
            return name[1:-1]
        parts = name.split(".")
        if parts[0] == "inputs":
            return str(values[parts[1]])
        if parts[0] == "steps":
            return result.outputs.get(parts[1], {}).get(parts[3], "")
        if parts[0] == "github":
            return context["github"][".".join(parts[1:])]
        raise AssertionError(f"expression not understood by the test runner: {name}")

    def evaluate(expression: str) -> str:
        if "&&" in expression:
            left, right = expression.split("&&", 1)
            return evaluate(right) if lookup(left) else ""
        return lookup(expression)

    def substitute(text: str) -> str:
        return EXPRESSION.sub(lambda m: evaluate(m.group(1)), str(text))

    for name, value in inputs.items():
        assert name in values, f"action.yml has no input {name}"
        values[name] = value
    values = {k: substitute(v) for k, v in values.items()}

    for step in action["runs"]["steps"]:
        step_id = step.get("id", step.get("name", step.get("uses")))
        if "uses" in step:
            with_values = {k: substitute(v) for k, v in (step.get("with") or {}).items()}
            result.uses.append((step["uses"], with_values))
            continue
        if step_id == "install" or "apply" in step.get("name", "").lower():
            continue
        assert not EXPRESSION.search(step["run"]), "run scripts take inputs through env only"
        output_file = temp / f"output-{step_id}"
        output_file.write_text("")
        step_env = {
            **os.environ,
            **env,
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(temp),
            **{f"GITHUB_{k.upper()}": v for k, v in github.items() if "." not in k},
            **{k: substitute(v) for k, v in (step.get("env") or {}).items()},
        }
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=workdir,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        result.logs.append(done.stdout + done.stderr)
        outputs = {}
        for line in output_file.read_text().splitlines():
            key, _, value = line.partition("=")
            outputs[key] = value
        result.outputs[step_id] = outputs
        if done.returncode != 0:
            result.failed_step = step.get("name", step_id)
            break
    result.summary = summary.read_text() if summary.exists() else ""
    return result
