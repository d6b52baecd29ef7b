"""Bad input never becomes a traceback: every case is a located error and exit 2.

Each case is a file as a user could write it, run through ``routectl test``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from routectl.cli.common import Exit
from routectl.cli.main import app
from routectl.loader.yaml_source import MAX_FILE_BYTES, load_bytes, load_paths

runner = CliRunner()

TIER = b"apiVersion: routectl.dev/v1\nkind: Tier\nmetadata: {name: cheap}\n"


def _alias_bomb() -> bytes:
    """Billion laughs: nine levels of nine aliases, ~387 million strings once expanded."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join(['*' + previous] * 9)}]")
    return ("\n".join(lines) + "\n").encode()


# (case, file content, expected "line:col", words the message must contain)
CASES = [
    (
        "malformed",
        TIER + b"spec: {rank: 1\n",
        "5:1",
        ["invalid YAML", "expected ',' or '}'", "started at line 4, column 7"],
    ),
    (
        "duplicate-key",
        TIER + b"spec:\n  rank: 1\n  rank: 2\n",
        "6:3",
        ['duplicate key "rank"', "remove one of the duplicated keys"],
    ),
    (
        "unknown-field",
        TIER + b"spec:\n  rank: 1\n  colour: red\n",
        "6:3",
        ["spec.colour: unknown field 'colour'", "routectl schema"],
    ),
    (
        "wrong-type",
        TIER + b"spec:\n  rank: high\n",
        "5:3",
        ["spec.rank", "valid integer", "(got 'high')"],
    ),
    (
        "missing-field",
        b"apiVersion: routectl.dev/v1\nkind: Model\nmetadata: {name: m}\nspec:\n"
        b"  provider: p\n  upstreamModel: m\n  maxOutputTokens: 10\n"
        b"  pricing: {input: 1, output: 1}\n",
        "4:1",
        ["missing required field 'contextWindow'", "add it"],
    ),
    (
        "non-utf8",
        b"apiVersion: routectl.dev/v1\nkind: Tier\nmetadata: {name: caf\xe9}\n",
        "3:21",
        ["not UTF-8", "0xe9", "save the file as UTF-8"],
    ),
    (
        "utf16",
        "apiVersion: routectl.dev/v1\n".encode("utf-16"),
        "1:1",
        ["not UTF-8", "0xff"],
    ),
    (
        "alias-bomb",
        _alias_bomb(),
        "1:1",
        ["expands to more than", "alias bomb"],
    ),
    (
        "deep-nesting",
        b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "1:4",
        ["nested more than 64 levels"],
    ),
    (
        "tab-indent",
        b"apiVersion: routectl.dev/v1\nkind: Tier\nmetadata:\n\tname: a\n",
        "4:1",
        ["invalid YAML", "'\\t'"],
    ),
    (
        "wrong-api-version",
        b"apiVersion: routectl.dev/v2\nkind: Tier\nmetadata: {name: a}\nspec: {rank: 1}\n",
        "1:1",
        ["apiVersion must be 'routectl.dev/v1', got 'routectl.dev/v2'"],
    ),
    (
        "missing-api-version",
        b"kind: Tier\nmetadata: {name: a}\nspec: {rank: 1}\n",
        "1:1",
        ["apiVersion must be 'routectl.dev/v1', got nothing"],
    ),
    (
        "wrong-kind",
        b"apiVersion: routectl.dev/v1\nkind: Teir\nmetadata: {name: a}\nspec: {rank: 1}\n",
        "2:1",
        ["unknown kind 'Teir'", "use one of: Provider"],
    ),
    (
        "not-a-mapping",
        b"- apiVersion: routectl.dev/v1\n- kind: Tier\n",
        "1:1",
        ["expected a mapping", "got a list"],
    ),
    (
        "unquoted-status-code",
        b"apiVersion: routectl.dev/v1\nkind: Route\nmetadata: {name: r}\nspec:\n"
        b"  targets: [{model: a}]\n  fallback: {chain: [b], on: [429, 5xx]}\n",
        "6:31",
        ["spec.fallback.on.0", 'quote it: "429"'],
    ),
    (
        "second-document-broken",
        TIER + b"spec: {rank: 1}\n---\n" + TIER + b"spec: {rank: -1}\n",
        "9:8",
        ["spec.rank", "greater than or equal to 0"],
    ),
]


def run(*args: str):
    result = runner.invoke(app, list(args))
    # An uncaught exception would be kept in result.exception; typer.Exit is a SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize(("case", "content", "where", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_file_gives_a_located_error_and_exit_2(tmp_path, case, content, where, words):
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(content)
    result = run("test", str(path))
    assert result.exit_code == Exit.USAGE
    assert f"{path}:{where}:" in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def test_a_50_mib_file_is_refused_without_being_read(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.write(TIER + b"spec: {rank: 1}\n# ")
        f.truncate(50 * 1024 * 1024)
    result = run("test", str(path))
    assert result.exit_code == Exit.USAGE
    assert f"{path}:1:1: file is 50.0 MiB; manifests are limited to 5 MiB" in result.stderr
    assert "split the policy into several files" in result.stderr


def test_an_oversized_git_blob_is_refused_too():
    result = load_bytes("policy.yaml@main", b"#" * (MAX_FILE_BYTES + 1))
    assert [e.code for e in result.errors] == ["RC002"]
    assert result.documents == []


def test_a_missing_file_is_a_usage_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = run("test", str(missing))
    assert result.exit_code == Exit.USAGE
    assert f"error: {missing}: no such file or directory" in result.stderr
    assert ":1:1" not in result.stderr  # a path that is not there has no line


@pytest.mark.parametrize("content", [b"", b"# only a comment\n", b"---\n---\n"])
def test_a_file_without_documents_names_the_file(tmp_path, content):
    path = tmp_path / "empty.yaml"
    path.write_bytes(content)
    result = run("test", str(path))
    assert result.exit_code == Exit.USAGE
    assert f"no manifests found in {path}" in result.stderr


def test_empty_documents_between_separators_are_skipped(tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_bytes(
        TIER + b"spec: {rank: 1}\n---\n---\n# nothing\n---\n" + TIER + b"spec: {rank: 2}\n"
    )
    result = load_paths([path])
    assert result.ok, [str(e) for e in result.errors]
    assert [d.index for d in result.documents] == [0, 3]


def test_an_inline_secret_is_rejected_without_echoing_it(tmp_path):
    path = tmp_path / "provider.yaml"
    path.write_text(
        "apiVersion: routectl.dev/v1\nkind: Provider\nmetadata: {name: p}\nspec:\n"
        "  baseUrl: https://api.example.com/v1\n  jurisdiction: US\n"
        "  credentials:\n    apiKey: sk-live-0123456789abcdef\n",
        encoding="utf-8",
    )
    result = run("test", str(path))
    assert result.exit_code == Exit.USAGE
    assert f"{path}:8:5: spec.credentials.apiKey" in result.stderr
    assert "env:NAME or file:PATH" in result.stderr
    assert "sk-live" not in result.output


def test_a_directory_with_nested_files_loads_all_and_locates_errors_deep_inside(tmp_path):
    root = tmp_path / "policy"
    (root / "teams" / "search").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "tiers.yaml").write_bytes(TIER + b"spec: {rank: 1}\n")
    (root / "teams" / "more.yml").write_bytes(TIER.replace(b"cheap", b"mid") + b"spec: {rank: 2}\n")
    (root / ".git" / "ignored.yaml").write_bytes(b"not: [valid")
    (root / "teams" / "notes.txt").write_text("not a manifest")
    bad = root / "teams" / "search" / "tier.yaml"
    bad.write_bytes(TIER.replace(b"cheap", b"top") + b"spec:\n  rank: 3\n  extra: 1\n")

    result = load_paths([root])
    assert sorted(d.name for d in result.documents) == ["cheap", "mid"]
    assert [str(e.location) for e in result.errors] == [f"{bad}:6:3"]

    cli = run("test", str(root))
    assert cli.exit_code == Exit.USAGE
    assert f"{bad}:6:3: spec.extra: unknown field 'extra'" in cli.stderr
    assert "ignored.yaml" not in cli.stderr


def test_every_error_of_a_policy_is_reported_at_once(tmp_path):
    for case, content, _, _ in CASES[:5]:
        (tmp_path / f"{case}.yaml").write_bytes(content)
    result = run("test", str(tmp_path))
    assert result.exit_code == Exit.USAGE
    assert "5 error(s) while loading the policy" in result.stderr


def test_the_real_command_prints_no_traceback(tmp_path):
    """One end-to-end run of the installed entry point over every bad file at once."""
    for case, content, _, _ in CASES:
        (tmp_path / f"{case}.yaml").write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "routectl.cli.main", "explain", "--intent", "chat", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == Exit.USAGE
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{len(CASES)} error(s) while loading the policy" in proc.stderr


def test_load_errors_give_the_same_exit_code_in_json_format(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(CASES[0][1])
    assert run("test", str(path), "--format", "json").exit_code == Exit.USAGE
    assert run("test", str(path), "--format", "text").exit_code == Exit.USAGE


def test_a_policy_outside_git_has_no_revision_and_inside_it_has_head(tmp_path):
    from routectl.loader.git_source import head_revision, inside_work_tree

    outside = tmp_path / "plain" / "policy"
    outside.mkdir(parents=True)
    assert not inside_work_tree(outside)
    assert head_revision(outside) is None
    repo = tmp_path / "repo"
    (repo / "policy").mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    (repo / "policy" / "a.yaml").write_text("x: 1\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "c"], check=True, env=env)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert inside_work_tree(repo / "policy")
    assert head_revision(repo / "policy") == head
