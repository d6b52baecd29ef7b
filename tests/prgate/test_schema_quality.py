"""The schema explains itself, reads the same in YAML 1.1 tools, and one mistake is one finding."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from tests.conftest import EXAMPLES, ROOT
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.manifest import json_schema
from routectl.core.state import desired_state
from routectl.lint.registry import all_rules, rules_markdown
from routectl.loader.yaml_source import load_paths

runner = CliRunner()


def properties() -> list[tuple[str, str, dict]]:
    schema = json_schema()
    return [
        (definition, name, prop)
        for definition, body in schema["$defs"].items()
        for name, prop in body.get("properties", {}).items()
    ]


def test_every_property_is_described() -> None:
    undescribed = [f"{d}.{n}" for d, n, p in properties() if not p.get("description")]
    assert undescribed == []
    assert len(properties()) > 140


def test_titles_are_words_not_squashed_camel_case() -> None:
    for _, name, prop in properties():
        title = prop.get("title")
        if title is None:
            continue  # a $ref: the referenced definition carries the title
        assert title.lower().replace(" ", "") == name.lower(), (name, title)
        if re.search(r"[a-z][A-Z]", name):
            assert " " in title, (name, title)
    titles = {p.get("title") for _, _, p in properties()}
    assert {"Base URL", "API key", "Context window", "TTFT ms"} <= titles


def test_schema_write_works_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "policies" / "team").mkdir(parents=True)
    monkeypatch.chdir(repo / "policies" / "team")
    result = runner.invoke(app, ["schema", "--write"])
    assert result.exit_code == 0, result.output
    written = repo / "routectl.schema.json"
    assert json.loads(written.read_text()) == json.loads(json.dumps(json_schema()))
    assert "# yaml-language-server: $schema=../../routectl.schema.json" in result.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_examples_read_the_same_in_yaml_1_1(name: str) -> None:
    """PyYAML (YAML 1.1) sees no boolean keys: `on:` would read as True."""

    def keys(node: object) -> list[object]:
        if isinstance(node, dict):
            return list(node) + [k for v in node.values() for k in keys(v)]
        if isinstance(node, list):
            return [k for v in node for k in keys(v)]
        return []

    for path in (EXAMPLES / name).glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert all(isinstance(k, str) for k in keys(doc)), path


ROUTE = """\
apiVersion: routectl.dev/v1
kind: Route
metadata: {{name: default}}
spec:
  targets: [{{model: gpt-4o-mini}}]
  fallback:
    chain: [gpt-4.1-mini]
    {key}: ["429", 5xx]
"""


def test_the_old_on_key_still_works_and_is_warned_about(tmp_path: Path) -> None:
    policies = {}
    for key in ("on", "triggers"):
        directory = tmp_path / key
        shutil.copytree(EXAMPLES / "three-tier", directory)
        (directory / "routes.yaml").write_text(ROUTE.format(key=key))
        result = load_paths([directory])
        assert result.ok, [str(e) for e in result.errors]
        policies[key] = desired_state(d.doc for d in result.documents)
    assert policies["on"] == policies["triggers"]
    lint = runner.invoke(app, ["lint", str(tmp_path / "on"), "--format", "json"])
    findings = json.loads(lint.stdout)["findings"]
    (warned,) = [f for f in findings if f["code"] == "RT022"]
    assert warned["line"] == 8 and "rename the key to triggers" in warned["hint"]
    both = tmp_path / "both.yaml"
    both.write_text(ROUTE.format(key="on") + '    triggers: ["429"]\n')
    assert not load_paths([both]).ok


def test_did_you_mean_for_fields_and_kinds(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: routectl.dev/v1\nkind: Rout\nmetadata: {name: a}\nspec: {}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "apiVersion: routectl.dev/v1\nkind: Model\nmetadata: {name: b}\nspec:\n"
        "  provider: p\n  upstreamModel: m\n  contextWindw: 10\n  maxOutputTokens: 1\n"
        "  pricing: {input: 1.0, output: 1.0}\n"
    )
    result = runner.invoke(app, ["lint", str(tmp_path), "--format", "json"])
    hints = {f["message"]: f["hint"] for f in json.loads(result.stdout)["findings"]}
    assert hints["unknown kind 'Rout'"].startswith("did you mean 'Route'? use one of: Provider")
    field = "spec.contextWindw: unknown field 'contextWindw'"
    assert hints[field] == "did you mean 'contextWindow'?"


def test_no_python_reprs_in_load_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: Route\nmetadata: {name: a}\n")
    result = runner.invoke(app, ["lint", str(tmp_path), "--format", "json"])
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert messages == ["apiVersion must be 'routectl.dev/v1', got nothing"]


def broken_copy(tmp_path: Path, file: str, old: str, new: str, count: int = 1) -> Path:
    policy = tmp_path / "policy"
    shutil.copytree(EXAMPLES / "three-tier", policy)
    path = policy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))
    return policy


@pytest.mark.parametrize(
    ("file", "old", "new", "code"),
    [
        ("providers.yaml", "\n  ", "\n\t", "RC005"),  # a tab-indented file
        ("routes.yaml", 'triggers: ["429"', "triggers: [429", "RC007"),  # an unquoted 429
        ("models.yaml", "contextWindow: 128000", "contextWindow: lots", "RC007"),
        ("providers.yaml", "baseUrl: https://api.openai.com/v1", "baseUrl: api.openai", "RC007"),
    ],
    ids=["tab", "unquoted-429", "context-window", "base-url"],
)
def test_one_mistake_is_one_finding(tmp_path: Path, file: str, old: str, new: str, code: str):
    policy = broken_copy(tmp_path, file, old, new)
    result = runner.invoke(app, ["lint", str(policy), "--format", "json"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], Path(f["file"]).name) for f in findings] == [(code, file)], findings


def test_rule_docs_are_in_the_repository_not_on_an_invented_site() -> None:
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == rules_markdown()
    for rule in all_rules().values():
        assert f"\n## {rule.code} {rule.name}\n" in rules_markdown()
        assert rule.help_page == f"docs/rules.md#{rule.code.lower()}-{rule.name}"
    shown = runner.invoke(app, ["rules", "RT005"])
    assert "https://routectl.dev" not in shown.stdout
    assert "docs/rules.md#rt005-classification-without-target" in shown.stdout


def test_a_routectlignore_file_leaves_other_yaml_out(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(EXAMPLES / "three-tier", policy)
    (policy / "docker-compose.yaml").write_text("services:\n  gateway: {image: routectl}\n")
    (policy / "ci").mkdir()
    (policy / "ci" / "pipeline.yml").write_text("stages: [test]\n")
    before = runner.invoke(app, ["lint", str(policy), "--format", "json"])
    assert {f["code"] for f in json.loads(before.stdout)["findings"]} == {"RC006"}
    (policy / ".routectlignore").write_text("# not manifests\ndocker-compose.yaml\nci/\n")
    after = runner.invoke(app, ["lint", str(policy)])
    assert after.exit_code == 0, after.output
    assert runner.invoke(app, ["test", str(policy)]).exit_code == 0
    assert runner.invoke(app, ["fmt", "--check", str(policy / "ci")]).exit_code == 0
