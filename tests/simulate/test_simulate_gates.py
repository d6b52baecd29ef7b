"""CI gates and their exit codes (the same in every format), and the markdown report."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.conftest import write_policy

from simulate.helpers import CONV, CONV_ROWS, simulate

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: p}
spec: {baseUrl: "https://p.example", jurisdiction: DE}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small}
spec: {provider: p, upstreamModel: s, contextWindow: 200000, maxOutputTokens: 8000,
       pricing: {input: 1.0, output: 1.0}, latency: {ttftMs: 100, outputTokensPerSecond: 50}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: large}
spec: {provider: p, upstreamModel: l, contextWindow: 200000, maxOutputTokens: 8000,
       pricing: {input: 2.0, output: 2.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: tiny}
spec: {provider: p, upstreamModel: t, contextWindow: 1000, maxOutputTokens: 500,
       pricing: {input: 0.1, output: 0.1}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: main}
spec:
  strategy: weighted
  targets: [{model: small, weight: SMALL}, {model: large, weight: LARGE}]
"""


def policy(directory: Path, small: int, large: int, target: str = "") -> Path:
    text = POLICY.replace("SMALL", str(small)).replace("LARGE", str(large))
    if target:
        text = text.replace("targets: [{model: small", f"targets: [{target}, {{model: small")
    write_policy(directory, text)
    return directory


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    # head moves 20% of the traffic from small to large: cost +20% (large costs 2x).
    return policy(tmp_path / "base", 100, 0), policy(tmp_path / "head", 80, 20)


@pytest.mark.parametrize("output_format", ["text", "json", "markdown"])
def test_cost_gate(pair, output_format):
    base, head = pair
    args = [head, "--base", base, "--traffic", CONV, "--format", output_format]
    assert simulate(*args, "--max-cost-increase", "19").exit_code == 1
    assert simulate(*args, "--max-cost-increase", "21").exit_code == 0


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_shift_gate(pair, output_format):
    base, head = pair
    args = [head, "--base", base, "--traffic", CONV, "--format", output_format]
    failed = simulate(*args, "--max-shift", "10")
    assert failed.exit_code == 1
    if output_format == "json":
        report = json.loads(failed.stdout)
        assert report["shifted"]["percent"] == pytest.approx(20.0)
        assert report["gates"] == [
            {"gate": "max-shift", "limit_percent": 10.0, "value_percent": pytest.approx(20.0),
             "passed": False}
        ]  # fmt: skip
    else:
        assert "FAIL max-shift" in failed.stdout
    assert simulate(*args, "--max-shift", "25").exit_code == 0


def test_unroutable_gate(tmp_path):
    # Only "tiny" is targeted: every request longer than its 1,000-token window is unroutable.
    directory = policy(tmp_path / "p", 0, 0, "{model: tiny, weight: 1}")
    text = (directory / "policy.yaml").read_text(encoding="utf-8")
    text = text.replace(", {model: small, weight: 0}, {model: large, weight: 0}", "")
    (directory / "policy.yaml").write_text(text, encoding="utf-8")
    result = simulate(directory, "--traffic", CONV, "--fail-on-unroutable", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert 0 < report["unroutable"]["count"] < CONV_ROWS
    assert "no eligible model" in report["unroutable"]["reasons"][0]["reason"]
    assert simulate(directory, "--traffic", CONV).exit_code == 0


def test_gates_needing_a_base_and_bad_policies_are_usage_errors(pair, tmp_path):
    base, head = pair
    result = simulate(head, "--traffic", CONV, "--max-cost-increase", "5")
    assert result.exit_code == 2 and "--base" in result.stderr
    broken = tmp_path / "broken"
    write_policy(
        broken, "apiVersion: routectl.dev/v1\nkind: Model\nmetadata: {name: x}\nspec: {}\n"
    )
    result = simulate(broken, "--traffic", CONV)
    assert result.exit_code == 2 and "policy.yaml:" in result.stderr
    result = simulate(head, "--base", "no-such-ref", "--traffic", CONV)
    assert result.exit_code == 2 and "no-such-ref" in result.stderr
    assert "Traceback" not in result.output


def test_latency_estimate_and_text_report(pair):
    base, head = pair
    result = simulate(head, "--base", base, "--traffic", CONV)
    assert result.exit_code == 0
    assert "shift (base → head)" in result.stdout and "small" in result.stdout
    assert "estimated mean latency" in result.stdout


MANY_MODELS_HEADER = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: provider-with-a-rather-long-name-to-fill-the-tables-quickly-x}
spec: {baseUrl: "https://p.example", jurisdiction: DE}
"""


def many_models_policy(directory: Path, count: int, seed: int) -> Path:
    """``count`` models each taking one intent, one file each: a long report."""
    rng = random.Random(seed)
    write_policy(directory, MANY_MODELS_HEADER, "provider.yaml")
    for n in range(count):
        name = f"model-{n:04d}-with-a-long-name-so-that-rows-are-wide-{'x' * 10}"
        target = f"model-{(n + seed) % count:04d}-with-a-long-name-so-that-rows-are-wide-{'x' * 10}"
        write_policy(
            directory,
            f"apiVersion: routectl.dev/v1\nkind: Model\nmetadata: {{name: {name}}}\n"
            "spec: {provider: provider-with-a-rather-long-name-to-fill-the-tables-quickly-x, "
            f"upstreamModel: u, contextWindow: 200000, maxOutputTokens: 8000, "
            f"pricing: {{input: {rng.uniform(0.1, 5):.3f}, output: 1.0}}}}\n---\n"
            f"apiVersion: routectl.dev/v1\nkind: Route\nmetadata: {{name: r{n}}}\n"
            f"spec: {{order: {n}, match: {{intents: [i{n}]}}, targets: [{{model: {target}}}]}}\n",
            f"m{n}.yaml",
        )
    return directory


def test_markdown_stays_under_the_comment_limit(tmp_path):
    count = 120
    traffic = tmp_path / "t.csv"
    traffic.write_text(
        "intent,input_tokens,output_tokens\n"
        + "\n".join(f"i{n % count},{100 + n},{10 + n % 7}" for n in range(1200)),
        encoding="utf-8",
    )
    base = many_models_policy(tmp_path / "base", count, 0)
    head = many_models_policy(tmp_path / "head", count, 1)
    result = simulate(head, "--base", base, "--traffic", traffic, "--format", "markdown")
    assert result.exit_code == 0
    text = result.stdout
    assert len(text) < 60_000
    # The summary is whole; the tail of long tables is summed up, not dropped.
    assert "| cost |" in text and "requests changing model" in text
    assert "more models*" in text and "more moves*" in text
    assert "```mermaid" in text and "pie showData" in text and "xychart-beta" in text
    full = json.loads(
        simulate(head, "--base", base, "--traffic", traffic, "--format", "json").stdout
    )
    assert len(full["by_model"]) == count and len(full["shift"]) == count


def test_markdown_for_a_small_change_lists_everything(pair):
    base, head = pair
    result = simulate(head, "--base", base, "--traffic", CONV, "--format", "markdown")
    text = result.stdout
    assert "| `small` |" in text and "| `large` |" in text
    assert "more models" not in text
    assert f"{CONV_ROWS:,} requests replayed" in text
