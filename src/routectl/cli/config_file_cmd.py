"""plan and apply with ``--write-config``: see routectl.reconcile.config_file."""

from __future__ import annotations

import os

import typer
from rich.text import Text

from routectl.cli.common import Exit, load_policy, stderr, stdout

DETAILED_CHANGES = 2


def compiled_files(path: str, targets: list[str], allow_approximate: bool) -> tuple[str, dict]:
    from routectl.cli.compile_cmd import policy_revision, routectl_version
    from routectl.compile import TARGETS, Header, compile_policy

    if len(targets) != 1 or targets[0] not in TARGETS:
        stderr.print(
            "[bold red]error[/] --write-config needs exactly one --target, one of "
            + ", ".join(TARGETS)
        )
        raise typer.Exit(Exit.FAILED)
    loaded = load_policy([path], Exit.FAILED)
    header = Header(path, policy_revision([path]), routectl_version())
    result = compile_policy(loaded.documents, loaded.policy, targets[0], header, allow_approximate)
    for finding in result.errors:
        stderr.print(Text("error ", style="bold red") + Text(finding.message()))
    for finding in result.warnings:
        stderr.print(Text("warning ", style="yellow") + Text(finding.message()))
    if not result.ok:
        raise typer.Exit(Exit.FAILED)
    return targets[0], result.files


def run(
    path: str,
    targets: list[str],
    directory: str,
    apply: bool,
    reload_cmd: str | None = None,
    gateway: str | None = None,
    allow_approximate: bool = False,
    detailed_exitcode: bool = False,
) -> None:
    from pathlib import Path

    from routectl.reconcile.config_file import (
        ConfigFileError,
        plan_files,
        reload,
        verify,
        write,
    )

    target, files = compiled_files(path, targets, allow_approximate)
    plan = plan_files(Path(directory), files)
    for change in plan.changes:
        stdout.print(Text(f"{change.status} {plan.directory / change.name}", style="bold"))
        typer.echo(change.diff, nl=False)
    if not plan.has_changes:
        stdout.print(Text(f"No changes: {directory} holds the compiled {target} config."))
        raise typer.Exit(Exit.OK)
    if not apply:
        stdout.print(Text(f"{len(plan.changes)} file(s) to write."))
        raise typer.Exit(DETAILED_CHANGES if detailed_exitcode else Exit.OK)
    try:
        write(plan)
        if reload_cmd:
            reload(reload_cmd)
        served = None
        if gateway:
            served = verify(target, gateway, os.environ.get("LITELLM_MASTER_KEY"), files)
    except ConfigFileError as exc:
        stderr.print(Text("error: ", style="bold red") + Text(str(exc)))
        raise typer.Exit(Exit.FAILED) from None
    done = f"Apply complete: {len(plan.changes)} file(s) written to {directory}"
    if served is not None:
        done += f"; {gateway} serves the {served} compiled deployments"
    stdout.print(Text(done + ".", style="bold green"))
