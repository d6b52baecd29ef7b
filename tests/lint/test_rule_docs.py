"""Every rule's documentation is executable: its failing example fails at the
marked lines with its code, its passing example does not produce its code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from routectl.lint import all_rules, lint_paths
from routectl.lint.registry import HEADER

ALL = list(all_rules().values())
# Rules whose failing example marks lines: every semantic rule, and the load
# errors that can be shown in a YAML file (RC001-RC003 are about files).
SEMANTIC = [r for r in ALL if not r.from_loader]
RUNNABLE = [r for r in ALL if r.code not in ("RC001", "RC002", "RC003")]


def expected_lines(text: str, code: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if re.search(rf"#.*\b{code}\b", line)]


def lint_text(tmp_path: Path, text: str):
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    return lint_paths([path])


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.code)
def test_documentation_has_a_header_and_both_examples(rule):
    assert rule.summary and rule.description
    assert rule.examples("Failing"), f"{rule.code} documents no failing example"
    assert rule.examples("Passing") or rule.code == "RC001", f"{rule.code}: no passing example"
    assert "Options:" in rule.description


@pytest.mark.parametrize("rule", RUNNABLE, ids=lambda r: r.code)
def test_failing_example_reports_the_code_at_the_marked_lines(rule, tmp_path):
    for text in rule.examples("Failing"):
        lines = expected_lines(text, rule.code)
        assert lines, f"{rule.code}: mark the failing lines with '# {rule.code}'"
        report = lint_text(tmp_path, text)
        got = sorted(f.location.line for f in report.findings if f.code == rule.code)
        assert got == lines, [str(f.location) + " " + f.message for f in report.findings]


@pytest.mark.parametrize("rule", RUNNABLE, ids=lambda r: r.code)
def test_passing_example_does_not_report_the_code(rule, tmp_path):
    for text in rule.examples("Passing"):
        report = lint_text(tmp_path, text)
        assert rule.code not in report.codes(), [
            f"{f.location} {f.code} {f.message}" for f in report.findings
        ]


def test_codes_are_unique_and_headers_parse():
    codes = [r.code for r in ALL]
    assert len(codes) == len(set(codes))
    for rule in ALL:
        first = f"{rule.code} {rule.name} ({rule.severity.value}): {rule.summary}"
        assert HEADER.match(first)
