"""Compute a plan: manifests' desired state vs the gateway's live state.

Also where a policy's owner comes from: by default the git repository and the
policy's path inside it (``git:github.com/acme/policies//prod``), so two
checkouts of one repository manage the same resources and two policies in one
repository never touch each other's.
"""

from __future__ import annotations

import re
from pathlib import Path

import git

from routectl.admin.client import AdminBackend
from routectl.core.state import Resource, address
from routectl.reconcile.diff import compute_changes
from routectl.reconcile.normalize import LiveResource, live_from_wire, with_secret_fields
from routectl.reconcile.plan import OptionsDoc, PlanDoc, SourceDoc, build_plan, manifests_hash
from routectl.reconcile.secrets import fingerprints, resolve_all


def read_live(backend: AdminBackend) -> tuple[int, dict[str, LiveResource]]:
    config = backend.get_config()
    live = {
        address(r.kind, r.name): live_from_wire(r.model_dump(mode="json")) for r in config.resources
    }
    return config.revision, live


def with_pushed_secrets(
    desired: dict[str, Resource],
) -> tuple[dict[str, Resource], dict[str, dict[str, str]]]:
    """Secret references replaced by the fingerprints of their values (read now)."""
    out: dict[str, Resource] = {}
    refs: dict[str, dict[str, str]] = {}
    for addr, resource in desired.items():
        values = resolve_all(resource)
        if not values:
            out[addr] = resource
            continue
        spec = resource.spec
        refs[addr] = {"/".join(p): _at(spec, p) for p in values}
        out[addr] = with_secret_fields(resource, fingerprints(values))
    return out, refs


def _at(spec: object, path: tuple[str, ...]) -> str:
    for key in path:
        spec = spec[key]  # type: ignore[index]
    return str(spec)


def make_plan(
    backend: AdminBackend,
    gateway: str,
    desired: dict[str, Resource],
    owner: str,
    source: SourceDoc,
    options: OptionsDoc,
) -> PlanDoc:
    desired_hash = manifests_hash(desired)
    refs: dict[str, dict[str, str]] = {}
    if options.push_secrets:
        desired, refs = with_pushed_secrets(desired)
    revision, live = read_live(backend)
    changes, skipped = compute_changes(
        desired,
        live,
        owner,
        no_delete=options.no_delete,
        targets=options.targets,
        excludes=options.excludes,
    )
    return build_plan(
        gateway=gateway,
        base_revision=revision,
        owner=owner,
        source=source,
        desired_hash=desired_hash,
        options=options,
        changes=changes,
        skipped=skipped,
        secret_refs=refs,
    )


def default_owner(policy_path: str | Path) -> str:
    """``git:<origin or repo dir>//<path in repo>``, or ``dir:<absolute path>`` outside git."""
    target = Path(policy_path).resolve()
    base = target if target.is_dir() else target.parent
    try:
        repo = git.Repo(base, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return f"dir:{target.as_posix()}"
    root = Path(repo.working_dir).resolve()
    relative = target.relative_to(root).as_posix()
    return f"git:{_repo_id(repo, root)}//{'' if relative == '.' else relative}"


def _repo_id(repo: git.Repo, root: Path) -> str:
    """The origin's host/path without credentials or .git, else the repository's folder name."""
    try:
        url = repo.remotes.origin.url
    except (AttributeError, IndexError, ValueError):
        return root.name
    url = re.sub(r"^[a-z+]+://", "", url)  # scheme
    url = re.sub(r"^[^@/]*@", "", url)  # user[:password]@
    url = url.replace(":", "/", 1) if re.match(r"^[^/]+:[^/0-9]", url) else url  # scp-style
    return url.removesuffix(".git").rstrip("/")
