"""Shared fixtures. Policies in tests are written as YAML text, like users write them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from routectl.core.policy import Policy, resolve
from routectl.loader.yaml_source import load_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "policies"


def write_policy(directory: Path, text: str, name: str = "policy.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def policy_from_text(tmp_path: Path, text: str) -> Policy:
    write_policy(tmp_path, text)
    result = load_paths([tmp_path])
    assert result.ok, [str(e) for e in result.errors]
    return resolve(d.doc for d in result.documents)


@pytest.fixture
def make_policy(tmp_path: Path):
    def make(text: str) -> Policy:
        return policy_from_text(tmp_path / "policy", text)

    return make
