"""Read a policy directory as it is at a git revision: no checkout, no clone.

``--base main`` (simulate), ``--ref v1.2`` (apply, rollback) and ``diff BASE``
all come here. The blobs are read straight from the object database with
gitpython and handed to :func:`routectl.loader.yaml_source.load_blobs`, so a
policy at a revision is loaded by exactly the code that loads the working tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from routectl.loader.yaml_source import (
    IGNORE_FILE,
    MANIFEST_SUFFIXES,
    LoadResult,
    ignore_patterns,
    ignored,
    load_blobs,
    load_paths,
)


@dataclass(frozen=True)
class PolicyRef:
    """Where a policy was read: a directory, or a directory at a git revision."""

    path: str
    revision: str | None = None  # full commit sha when read from git

    def __str__(self) -> str:
        return f"{self.path}@{self.revision[:12]}" if self.revision else self.path


class GitSourceError(Exception):
    pass


def load_at_revision(path: str | Path, ref: str) -> tuple[LoadResult, PolicyRef]:
    """Load the manifests under ``path`` as committed at ``ref``."""
    import git  # here, not at import: a directory given as a base needs no git

    target = Path(path).resolve()
    try:
        repo = git.Repo(
            target if target.is_dir() else target.parent, search_parent_directories=True
        )
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitSourceError(f"{path} is not inside a git repository") from None
    try:
        commit = repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError):
        raise GitSourceError(f"unknown git revision {ref!r} in {repo.working_dir}") from None
    root = Path(repo.working_dir).resolve()
    try:
        relative = target.relative_to(root).as_posix()
    except ValueError:
        raise GitSourceError(f"{path} is outside the repository {root}") from None
    blobs: list[tuple[str, bytes]] = []
    try:
        node = commit.tree if relative in ("", ".") else commit.tree / relative
    except KeyError:
        raise GitSourceError(f"{relative} does not exist at {ref} ({commit.hexsha[:12]})") from None
    display_root = Path(path)
    if node.type == "blob":
        blobs.append((f"{path}@{ref}", node.data_stream.read()))
    else:
        try:
            patterns = ignore_patterns((node / IGNORE_FILE).data_stream.read().decode("utf-8"))
        except (KeyError, UnicodeDecodeError):
            patterns = []
        for item in node.traverse():
            if item.type != "blob" or not item.path.endswith(MANIFEST_SUFFIXES):
                continue
            rel = Path(item.path).relative_to(relative) if relative not in ("", ".") else item.path
            if any(part.startswith(".") for part in Path(rel).parts):
                continue
            if ignored(Path(rel).as_posix(), patterns):
                continue
            blobs.append((f"{display_root / rel}@{ref}", item.data_stream.read()))
    blobs.sort()
    return load_blobs(blobs), PolicyRef(str(path), commit.hexsha)


def head_revision(path: str | Path) -> str | None:
    """The commit sha of the working tree's HEAD, or None outside git."""
    if not inside_work_tree(path):
        return None  # no need to load gitpython to learn that
    import git

    try:
        repo = git.Repo(Path(path).resolve(), search_parent_directories=True)
        return repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None


def inside_work_tree(path: str | Path) -> bool:
    """Whether ``path`` or a directory above it holds a ``.git`` (a directory, or the file
    a worktree or submodule has): where gitpython would look for a repository."""
    start = Path(path).resolve()
    return any((directory / ".git").exists() for directory in (start, *start.parents))


def load_ref_or_path(spec: str, policy_path: str | Path) -> tuple[LoadResult, PolicyRef]:
    """``spec`` is a directory (loaded as is) or a git revision of ``policy_path``."""
    if Path(spec).exists():
        return load_paths([spec]), PolicyRef(spec, None)
    try:
        return load_at_revision(policy_path, spec)
    except GitSourceError as exc:
        # Not a file location: the error is about the argument, so it names no line.
        raise GitSourceError(f"{exc} (and no directory {spec} exists)") from None
