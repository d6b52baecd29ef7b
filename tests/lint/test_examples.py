"""The example policies lint clean, and deliberately broken copies fail where they should."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import EXAMPLES
from tests.lint.conftest import line_of

from routectl.lint import lint_paths

EXAMPLE_DIRS = sorted(p for p in EXAMPLES.glob("*") if p.is_dir()) if EXAMPLES.is_dir() else []

pytestmark = pytest.mark.skipif(not EXAMPLE_DIRS, reason="no example policies yet")


def test_every_example_lints_clean(run_cli):
    result = run_cli("lint", *map(str, EXAMPLE_DIRS), "--fail-severity", "warning")
    assert result.exit_code == 0, result.output


def broken_copy(tmp_path: Path, example: str, file: str, old: str, new: str) -> Path:
    """A copy of ``example`` with ``old`` replaced once by ``new`` in ``file``."""
    target = tmp_path / example
    shutil.copytree(EXAMPLES / example, target)
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {example}/{file}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def located(path: Path, code: str) -> list[int]:
    report = lint_paths([path.parent])
    assert not report.usage_errors
    return sorted(f.location.line for f in report.findings if f.code == code)


def test_a_us_fallback_on_the_pii_route_is_skipped_by_pii(tmp_path):
    path = broken_copy(
        tmp_path, "paris-insurer", "routes.yaml", "chain: [mistral-small]", "chain: [gpt-4o]"
    )
    # pii keeps its EU target: the US fallback is skipped for it (a warning), not an error
    assert located(path, "RT019") == [line_of(path, "chain: [gpt-4o]")]
    assert located(path, "RT005") == []


def test_inline_api_key_in_a_provider(tmp_path):
    path = broken_copy(
        tmp_path,
        "paris-insurer",
        "providers.yaml",
        "apiKey: env:MISTRAL_API_KEY",
        "apiKey: sk-proj-AbC123dEf456GhI789jKl012",
    )
    assert located(path, "RT010") == [line_of(path, "apiKey: sk-proj")]


def test_catch_all_moved_first_shadows_every_route(tmp_path):
    path = broken_copy(tmp_path, "paris-insurer", "routes.yaml", "order: 100", "order: 1")
    names = ["{name: pii}", "{name: claims-triage}", "{name: document-extraction}"]
    assert located(path, "RT006") == [line_of(path, n) for n in names]


def test_weights_that_no_longer_sum_to_100(tmp_path):
    path = broken_copy(tmp_path, "three-tier", "routes.yaml", "weight: 30}", "weight: 20}")
    assert located(path, "RT003") == [line_of(path, "  targets:")]


def test_minimum_context_window_above_every_target(tmp_path):
    path = broken_copy(
        tmp_path,
        "munich-oem",
        "routes.yaml",
        "minContextWindow: 100000",
        "minContextWindow: 150000",
    )
    start = line_of(path, "minContextWindow: 150000")
    lines = located(path, "RT008")
    assert len(lines) == 2 and all(start - 10 < n < start for n in lines)


def test_shadow_experiment_turned_live_overlaps_the_live_one(tmp_path):
    path = broken_copy(
        tmp_path, "milan-publisher", "experiments.yaml", "mode: shadow", "mode: live"
    )
    assert located(path, "RT013") == [line_of(path, "route: article-summaries", occurrence=2)]


def test_misspelled_target_model(tmp_path):
    path = broken_copy(
        tmp_path,
        "munich-oem",
        "routes.yaml",
        "    - model: claude-sonnet-4\n",
        "    - model: claude-sonet-4\n",
    )
    assert located(path, "RT001") == [line_of(path, "claude-sonet-4")]


def test_duplicated_model_document(tmp_path):
    path = broken_copy(
        tmp_path, "munich-oem", "models.yaml", "  name: mistral-small\n", "  name: codestral\n"
    )
    assert located(path, "RT002") == [line_of(path, "name: codestral", occurrence=2)]
