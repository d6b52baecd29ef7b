"""routectl fmt: canonical key order, indentation and quoting; comments kept; --check."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from tests.conftest import EXAMPLES
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.state import desired_state
from routectl.loader.yaml_source import load_paths

runner = CliRunner()

MESSY = textwrap.dedent(
    """\
    # yaml-language-server: $schema=../schemas/routectl.schema.json
    # The default route.
    kind: Route
    spec:
        targets:
        -   model: small   # the cheap one
        -   {weight: 10, model: big}
        fallback:
            on: ['429', "timeout"]
            chain: [big]
        order: 10   # before the catch-all
        strategy: 'priority'
    metadata: {name: default}
    apiVersion: routectl.dev/v1
    ---
    apiVersion: routectl.dev/v1
    kind: Tier
    metadata:
      name: cheap
    spec: {description: 'yes', rank: 1}
    """
)

CANONICAL = textwrap.dedent(
    """\
    # yaml-language-server: $schema=../schemas/routectl.schema.json
    # The default route.
    apiVersion: routectl.dev/v1
    kind: Route
    metadata: {name: default}
    spec:
      order: 10     # before the catch-all
      strategy: priority
      targets:
        - model: small     # the cheap one
        - {model: big, weight: 10}
      fallback:
        chain: [big]
        triggers: ["429", timeout]
    ---
    apiVersion: routectl.dev/v1
    kind: Tier
    metadata:
      name: cheap
    spec: {rank: 1, description: "yes"}
    """
)


def test_fmt_lays_out_canonically_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(MESSY)
    result = runner.invoke(app, ["fmt", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert path.read_text() == CANONICAL
    assert f"reformatted {path}" in result.stdout
    again = runner.invoke(app, ["fmt", "--check", str(path)])
    assert again.exit_code == 0 and "0 file(s) would be reformatted" in again.stderr


def test_check_lists_what_would_change_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(MESSY)
    result = runner.invoke(app, ["fmt", "--check", "--diff", str(tmp_path)])
    assert result.exit_code == 1
    assert f"would reformat {path}" in result.stdout
    assert '+    triggers: ["429", timeout]' in result.stdout
    assert path.read_text() == MESSY


def test_files_that_are_not_manifests_are_left_alone(tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yaml"
    compose.write_text("services:\n    web: {image: 'nginx'}\n")
    result = runner.invoke(app, ["fmt", "--check", str(tmp_path)])
    assert result.exit_code == 0
    assert compose.read_text() == "services:\n    web: {image: 'nginx'}\n"


def test_invalid_yaml_is_a_located_error_and_nothing_is_written(tmp_path: Path) -> None:
    good = tmp_path / "a.yaml"
    good.write_text(MESSY)
    (tmp_path / "b.yaml").write_text("apiVersion: routectl.dev/v1\nkind: [Tier\n")
    result = runner.invoke(app, ["fmt", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'b.yaml'}:3:1: invalid YAML")
    assert good.read_text() == MESSY


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir()))
def test_formatting_the_examples_keeps_their_meaning_and_is_stable(
    name: str, tmp_path: Path
) -> None:
    policy = tmp_path / name
    shutil.copytree(EXAMPLES / name, policy)
    before = load_paths([policy])
    assert runner.invoke(app, ["fmt", str(policy)]).exit_code == 0
    after = load_paths([policy])
    assert after.ok, [str(e) for e in after.errors]
    assert desired_state(d.doc for d in after.documents) == desired_state(
        d.doc for d in before.documents
    )
    for original in (EXAMPLES / name).glob("*.yaml"):
        comments = [line.strip() for line in original.read_text().splitlines() if "# " in line]
        text = (policy / original.name).read_text()
        assert all(c.split("# ", 1)[1] in text for c in comments if c.startswith("#"))
    assert runner.invoke(app, ["fmt", "--check", str(policy)]).exit_code == 0
