"""simulate as a reviewer reads it: whole numbers, no float noise, base beside head, warnings."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from routectl.cli.main import app

runner = CliRunner()


def simulate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def split_args(repo: Path) -> list[str]:
    """The lightweight route's keyless 30/70 split: expected (fractional) counts."""
    return [
        str(repo / "policies" / "three-tier"),
        "--traffic", str(repo / "traffic.csv"),
        "--set", "intent=classify", "--set", "classification=internal",
    ]  # fmt: skip


def test_counts_are_whole_and_json_has_no_float_noise(policy_repo: Path) -> None:
    code, text, _ = simulate(*split_args(policy_repo), "--base", "HEAD~1")
    assert code == 0
    assert not re.search(r"\d,\d{3}\.\d\b", text), "a fractional count printed as 8,378.0"
    code, output, _ = simulate(*split_args(policy_repo), "--base", "HEAD~1", "--format", "json")
    assert code == 0
    assert not re.search(r"\d\.\d{11,}", output), "float noise such as 440.95000000000005"
    report = json.loads(output)
    assert report["requests"] == 1499 and isinstance(report["requests"], int)
    moved = sum(m["requests"] for m in report["shift"] if m["from"] != m["to"])
    assert moved == report["shifted"]["requests"] > 0


def test_text_with_a_base_shows_base_head_and_change(policy_repo: Path) -> None:
    code, text, _ = simulate(*split_args(policy_repo), "--base", "HEAD~1")
    assert code == 0
    assert "by model (base → head)" in text
    header = next(line for line in text.splitlines() if "requests base" in line)
    assert "cost base" in header and header.count("Δ") == 2
    row = next(line for line in text.splitlines() if "gemini-2.0-flash" in line and "│" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    base, head, delta = (int(c.replace(",", "").replace("+", "")) for c in cells[3:6])
    assert delta > 0 and abs(head - base - delta) <= 1  # each rounded for display
    # Staying and moving traffic are told apart.
    assert re.search(r"shift: [\d,]+ requests change model, [\d,]+ keep theirs", text)
    moving = text.split("shift (base → head): requests that change model")[1].split("\n\n")[0]
    for line in moving.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) == 3 and cells[0] != "from":
            assert cells[0] != cells[1], line


def test_unclassified_traffic_is_warned_about_with_the_count_and_the_fix(
    policy_repo: Path,
) -> None:
    policy, traffic = str(policy_repo / "policies" / "three-tier"), str(policy_repo / "traffic.csv")
    code, text, _ = simulate(policy, "--traffic", traffic)
    assert code == 0
    assert "warning: 1,499 of 1,499 requests (100%) carry no classification" in text
    assert "--set classification=NAME" in text
    code, output, err = simulate(policy, "--traffic", traffic, "--format", "json")
    (warning,) = json.loads(output)["warnings"]
    assert warning["code"] == "unclassified-traffic" and warning["requests"] == 1499
    assert "carry no classification" in err  # CI logs see it whatever the format
    code, text, _ = simulate(policy, "--traffic", traffic, "--set", "classification=public")
    assert "no classification" not in text


def test_long_unroutable_reason_lists_are_folded_in_text(tmp_path: Path, policy_repo: Path):
    traffic = tmp_path / "callers.csv"
    with traffic.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["timestamp", "consumer", "classification", "input_tokens", "output_tokens"]
        )
        for i in range(400):
            at = f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
            writer.writerow([at, f"c-{i}", "public", 90, 10])
    code, text, _ = simulate(
        str(policy_repo / "policies" / "three-tier"), "--traffic", str(traffic)
    )
    assert code == 0
    assert text.count("unknown consumer") == 10
    assert "… 390 more reasons (--format json lists them all)" in text
