"""Shared helpers for the simulate tests: run the real CLI, read the example traces."""

from __future__ import annotations

import csv
import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from typer.testing import CliRunner

from routectl.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "policies"
TRAFFIC = ROOT / "examples" / "traffic"
CODE = TRAFFIC / "AzureLLMInferenceTrace_code.csv"
CONV = TRAFFIC / "AzureLLMInferenceTrace_conv.csv"
CODE_ROWS, CONV_ROWS = 8_819, 19_366

runner = CliRunner()


def simulate(*args: str | Path) -> Any:
    """Run ``routectl simulate``; the result has exit_code, stdout, stderr."""
    return runner.invoke(app, ["simulate", *(str(a) for a in args)])


def simulate_json(*args: str | Path) -> dict[str, Any]:
    result = simulate(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@cache
def azure_rows(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(timestamp, input, output) straight from the CSV, with the plain csv module."""
    with path.open(newline="", encoding="utf-8") as handle:
        return tuple(
            (row["TIMESTAMP"], int(row["ContextTokens"]), int(row["GeneratedTokens"]))
            for row in csv.DictReader(handle)
        )


def prices(policy_dir: Path) -> dict[str, tuple[float, float]]:
    """model -> (input, output) USD per 1M tokens, read from the YAML directly."""
    out = {}
    yaml = YAML(typ="safe")
    for path in sorted(policy_dir.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "Model":
                pricing = doc["spec"]["pricing"]
                out[doc["metadata"]["name"]] = (float(pricing["input"]), float(pricing["output"]))
    return out


def copy_example(name: str, target: Path) -> Path:
    shutil.copytree(EXAMPLES / name, target)
    return target


def by_model(report: dict[str, Any]) -> dict[str, float]:
    return {m["model"]: m["requests"] for m in report["by_model"]}
