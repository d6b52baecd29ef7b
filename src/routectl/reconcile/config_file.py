"""plan and apply for gateways configured by files: compile, diff, write, reload, verify.

``routectl apply PATH --target litellm --write-config DIR [--reload-cmd CMD]
[--gateway litellm+http://HOST:PORT]`` compiles the policy, writes the files
that changed atomically (all or none), runs the reload command, and, for a
gateway with a read endpoint (LiteLLM's ``/model/info``), waits until the
gateway serves exactly the compiled deployments. ``plan`` shows the native
diff. Same policy, same bytes: a second apply finds nothing to change.

LiteLLM's database mode (reconciling through ``/model/new`` and friends) needs
Prisma query engines that LiteLLM downloads at start; with no internet access
they cannot be had, so LiteLLM is reconciled in config-file mode.
"""

from __future__ import annotations

import difflib
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# gateway scheme -> how to read what it serves (a set of deployment ids)
READERS: dict[str, Callable[[str, str | None], set[str]]] = {}
RELOAD_TIMEOUT_S = 300.0


class ConfigFileError(Exception):
    """A one-line error for the user."""


@dataclass
class FileChange:
    name: str
    status: str  # create | update
    diff: str


@dataclass
class ConfigPlan:
    directory: Path
    files: dict[str, str]
    changes: list[FileChange] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)


def plan_files(directory: Path, files: dict[str, str]) -> ConfigPlan:
    plan = ConfigPlan(directory, files)
    for name, text in files.items():
        path = directory / name
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old == text:
            continue
        diff = "".join(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path} (current)" if old is not None else "/dev/null",
                tofile=f"{path} (compiled)",
            )
        )
        plan.changes.append(FileChange(name, "update" if old is not None else "create", diff))
    return plan


def reload(command: str) -> None:
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigFileError(f"--reload-cmd {command!r} failed: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        raise ConfigFileError(
            f"--reload-cmd {command!r} exited {done.returncode}: {tail[0]}; "
            "the files are written, the gateway may still run the old configuration"
        )


def litellm_deployments(url: str, key: str | None) -> set[str]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(f"{url.rstrip('/')}/model/info", headers=headers, timeout=10)
    response.raise_for_status()
    return {m["model_info"]["id"] for m in response.json()["data"]}


READERS["litellm"] = litellm_deployments


def expected_deployments(target: str, files: dict[str, str]) -> set[str]:
    """What the gateway should serve once it runs ``files`` (deployment ids)."""
    import yaml

    if target == "litellm":
        config = yaml.safe_load(files["config.yaml"])
        return {m["model_info"]["id"] for m in config["model_list"]}
    return set()


def verify(target: str, gateway: str, key: str | None, files: dict[str, str]) -> int:
    """Wait until the gateway serves exactly the compiled deployments; their count."""
    scheme, _, url = gateway.partition("+")
    reader = READERS.get(scheme)
    if reader is None or scheme != target:
        raise ConfigFileError(
            f"--gateway {gateway!r}: config-file gateways verify through "
            f"{', '.join(f'{s}+http://HOST:PORT' for s in READERS)}"
        )
    wanted = expected_deployments(target, files)
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            served = reader(url, key)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if served == wanted:
                return len(served)
            last = f"serves {len(served)} deployments, {len(served ^ wanted)} differ"
        time.sleep(0.5)
    raise ConfigFileError(f"{gateway} did not converge on the written config: {last}")


def write(plan: ConfigPlan) -> None:
    from routectl.cli.compile_cmd import write_files

    changed = {c.name: plan.files[c.name] for c in plan.changes}
    try:
        write_files(plan.directory, changed)
    except OSError as exc:
        raise ConfigFileError(f"cannot write to {plan.directory}: {exc.strerror}") from None
