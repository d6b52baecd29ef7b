"""Project settings other than lint's: who owns a policy's resources, where the local store is.

``.routectl.yaml`` (the nearest one above the policy) may say::

    owner: acme/policies/prod   # the namespace this policy's resources belong to

An owner declared here survives moving or renaming the policy folder; without
one, the owner is derived from the git repository and the policy's path in it,
which changes when the folder moves (and then the resources look foreign).

The embedded store (used by plan/apply/drift without ``--gateway``) lives in
the git repository's root, in ``.routectl/`` (which ignores itself, so it is
never committed by accident), or in the current directory outside git.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from routectl.loader.yaml_source import Location, parse_yaml, position

CONFIG_NAMES = (".routectl.yaml", ".routectl.yml")
STATE_DIR = ".routectl"
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")


class SettingsError(Exception):
    """A located problem in .routectl.yaml."""


@dataclass(frozen=True)
class Settings:
    owner: str | None = None
    source: Path | None = None  # the file it came from


def find_settings_file(policy_path: str | Path) -> Path | None:
    start = Path(policy_path).resolve()
    directory = start if start.is_dir() else start.parent
    for candidate_dir in (directory, *directory.parents):
        for name in CONFIG_NAMES:
            if (candidate_dir / name).is_file():
                return candidate_dir / name
    return None


def load_settings(policy_path: str | Path) -> Settings:
    path = find_settings_file(policy_path)
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read: {exc}") from None
    documents, errors = parse_yaml(str(path), text)
    if errors:
        raise SettingsError(f"{errors[0].location}: {errors[0].message}")
    raw = documents[0] if documents else None
    if not isinstance(raw, dict) or "owner" not in raw:
        return Settings(source=path)
    owner = raw["owner"]
    if not isinstance(owner, str) or not OWNER_PATTERN.match(owner):
        where = Location(str(path), *position(raw, ["owner"]))
        raise SettingsError(
            f"{where}: owner must be a name such as acme/policies/prod (letters, digits, "
            "'.', '_', ':', '/', '@', '-')"
        )
    return Settings(owner=owner, source=path)


def repository_root(path: str | Path) -> Path | None:
    start = Path(path).resolve()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def default_store_path(policy_path: str | Path) -> Path:
    """``<git root>/.routectl/gateway.db`` for a policy in git, else ``./.routectl/gateway.db``."""
    root = repository_root(policy_path)
    base = root if root is not None else Path.cwd()
    return base / STATE_DIR / "gateway.db"


def prepare_state_dir(store_file: Path) -> None:
    """Create ``.routectl/`` with a .gitignore that ignores everything in it, itself included."""
    directory = store_file.parent
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if directory.name == STATE_DIR and not ignore.exists():
        ignore.write_text("# routectl's local state: never committed\n*\n", encoding="utf-8")
