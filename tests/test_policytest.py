"""``routectl test``: what it prints, where it points, and its exit codes in every format."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routectl.cli.common import Exit
from routectl.cli.main import app

runner = CliRunner()

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu}
spec: {baseUrl: "https://eu.example/v1", jurisdiction: DE, credentials: {apiKey: env:EU_KEY}}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: us}
spec: {baseUrl: "https://us.example/v1", jurisdiction: US, credentials: {apiKey: env:US_KEY}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: eu-small}
spec:
  provider: eu
  upstreamModel: small
  contextWindow: 32000
  maxOutputTokens: 4096
  pricing: {input: 0.1, output: 0.3}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: us-big}
spec:
  provider: us
  upstreamModel: big
  contextWindow: 128000
  maxOutputTokens: 16384
  pricing: {input: 2.5, output: 10}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: pii}
spec: {allow: {jurisdictions: [EU]}}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: public}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: default}
spec:
  targets: [{model: us-big}]
  fallback: {chain: [eu-small]}
"""

PASSING = """
apiVersion: routectl.dev/v1
kind: PolicyTest
metadata: {name: residency}
spec:
  cases:
    - name: public goes to the big model
      request: {classification: public}
      expect: {routesTo: us-big, fallbacks: [eu-small]}
    - name: pii stays in the eu
      request: {classification: pii}
      expect: {routesTo: eu-small, neverRoutesTo: [us-big]}
"""

# Line numbers matter: failures point at the line of their case (9, 12 and 15).
FAILING = """\
apiVersion: routectl.dev/v1
kind: PolicyTest
metadata: {name: wrong}
spec:
  cases:
    - name: right
      request: {classification: pii}
      expect: {routesTo: eu-small}
    - name: wrong primary and fallbacks
      request: {classification: public}
      expect: {routesTo: eu-small, fallbacks: []}
    - name: reaches a forbidden model
      request: {classification: public}
      expect: {neverRoutesTo: [us-big, eu-small]}
    - name: expected unroutable
      request: {classification: pii}
      expect: {unroutable: true}
"""


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return directory


def run(*args: str):
    result = runner.invoke(app, ["test", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def test_passing_tests_exit_0_and_summarise(tmp_path):
    policy = write(tmp_path / "p", policy=POLICY, tests=PASSING)
    result = run(str(policy))
    assert result.exit_code == Exit.OK
    assert "2 passed, 0 failed" in result.stdout
    assert "FAILED" not in result.stdout


def test_verbose_lists_passing_cases(tmp_path):
    policy = write(tmp_path / "p", policy=POLICY, tests=PASSING)
    result = run(str(policy), "-v")
    assert "PASSED residency::public goes to the big model" in result.stdout
    assert "PASSED residency::pii stays in the eu" in result.stdout


def test_failures_exit_1_and_point_at_the_case(tmp_path):
    policy = write(tmp_path / "p", policy=POLICY, tests=FAILING)
    tests = policy / "tests.yaml"
    result = run(str(policy))
    assert result.exit_code == Exit.FAILED
    out = result.stdout
    assert "1 passed, 3 failed" in out
    assert f"FAILED wrong::wrong primary and fallbacks  {tests}:9:7" in out
    assert "expected primary eu-small, got us-big" in out
    assert "expected fallbacks [], got ['eu-small']" in out
    assert f"FAILED wrong::reaches a forbidden model  {tests}:12:7" in out
    assert "may reach eu-small, us-big, which it must never route to" in out
    assert f"FAILED wrong::expected unroutable  {tests}:15:7" in out
    assert "expected unroutable, but routes to eu-small" in out
    assert "wrong::right" not in out


def test_json_format_carries_the_same_results_and_exit_codes(tmp_path):
    policy = write(tmp_path / "p", policy=POLICY, tests=FAILING)
    result = run(str(policy), "--format", "json")
    assert result.exit_code == Exit.FAILED
    payload = json.loads(result.stdout)
    assert (payload["passed"], payload["failed"]) == (1, 3)
    by_name = {case["case"]: case for case in payload["cases"]}
    wrong = by_name["wrong primary and fallbacks"]
    assert wrong["passed"] is False
    assert wrong["location"] == f"{policy / 'tests.yaml'}:9:7"
    assert wrong["primary"] == "us-big" and wrong["route"] == "default"
    assert "expected primary eu-small, got us-big" in wrong["failures"]
    assert by_name["right"] == {
        "test": "wrong",
        "case": "right",
        "location": f"{policy / 'tests.yaml'}:6:7",
        "passed": True,
        "failures": [],
        "primary": "eu-small",
        "route": "default",
        "arm": "primary",
        "shadows": [],
        "served_by": None,
    }

    passing = write(tmp_path / "q", policy=POLICY, tests=PASSING)
    result = run(str(passing), "--format", "json")
    assert result.exit_code == Exit.OK
    assert json.loads(result.stdout)["failed"] == 0


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_a_policy_without_tests_fails(tmp_path, output_format):
    policy = write(tmp_path / "p", policy=POLICY)
    result = run(str(policy), "--format", output_format)
    assert result.exit_code == Exit.FAILED
    assert "no policy tests found" in result.stdout


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_a_policy_that_does_not_load_is_a_usage_error(tmp_path, output_format):
    policy = write(tmp_path / "p", policy=POLICY, tests=PASSING.replace("routesTo", "routeTo"))
    result = run(str(policy), "--format", output_format)
    assert result.exit_code == Exit.USAGE
    assert "unknown field 'routeTo'" in result.stderr
    assert result.stdout == ""


def test_tests_may_live_in_their_own_files_and_be_run_alone_with_the_policy(tmp_path):
    policy = write(tmp_path / "p", policy=POLICY)
    tests = write(tmp_path / "t", tests=PASSING)
    result = run(str(policy), str(tests))
    assert result.exit_code == Exit.OK
    assert "2 passed, 0 failed" in result.stdout
