"""A git repository holding one example policy at two revisions, and a slice of real traffic."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import EXAMPLES, ROOT

TRAFFIC = ROOT / "examples" / "traffic" / "AzureLLMInferenceTrace_code.csv"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def policy_repo(tmp_path: Path) -> Path:
    """``policies/three-tier`` on ``main``; branch ``feature`` moves the 70/30 split to 30/70."""
    repo = tmp_path / "repo"
    policy = repo / "policies" / "three-tier"
    shutil.copytree(EXAMPLES / "three-tier", policy)
    traffic = repo / "traffic.csv"
    lines = TRAFFIC.read_text(encoding="utf-8").splitlines()
    traffic.write_text("\n".join(lines[:1500]) + "\n", encoding="utf-8")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    routes = policy / "routes.yaml"
    text = routes.read_text(encoding="utf-8")
    text = text.replace("{model: gpt-4o-mini, weight: 70}", "{model: gpt-4o-mini, weight: 30}")
    text = text.replace(
        "{model: gemini-2.0-flash, weight: 30}", "{model: gemini-2.0-flash, weight: 70}"
    )
    routes.write_text(text, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "head")
    return repo


# The admin API over real HTTP, as the reconcile tests run it.
from tests.reconcile.conftest import gateway  # noqa: E402, F401
