"""What every command shares: loading a policy, printing load errors, exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import typer
from rich.console import Console
from rich.markup import escape

from routectl.core.policy import Policy, resolve
from routectl.loader.yaml_source import LoadError, LoadResult, SourceDocument, load_paths


class Exit(IntEnum):
    """Exit codes are interface: they never depend on --format."""

    OK = 0
    FAILED = 1  # findings, failed tests, violated gates, apply errors
    USAGE = 2  # bad arguments, unreadable input, tool errors (lint/test/simulate)


stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class LoadedPolicy:
    documents: list[SourceDocument]
    policy: Policy
    files: list[str]


def print_load_errors(errors: Sequence[LoadError]) -> None:
    for error in errors:
        # A path that is not there has no line to point at.
        where = error.location.file if error.code == "RC001" else str(error.location)
        stderr.print(f"[bold red]error:[/] {escape(where)}: {escape(error.message)}", markup=True)
        if error.hint:
            stderr.print(f"      [dim]fix: {error.hint}[/]")


def require_policy(result: LoadResult, exit_code: int = Exit.USAGE) -> LoadedPolicy:
    """The resolved policy, or the located load errors and a non-zero exit."""
    if result.errors:
        print_load_errors(result.errors)
        stderr.print(f"{len(result.errors)} error(s) while loading the policy")
        raise typer.Exit(exit_code)
    if not result.documents:
        where = escape(", ".join(result.files)) or "the given paths"
        stderr.print(
            f"[bold red]error:[/] no manifests found in {where} (expected *.yaml or *.yml "
            "documents with apiVersion: routectl.dev/v1)",
            markup=True,
        )
        raise typer.Exit(exit_code)
    policy = resolve(d.doc for d in result.documents)
    if policy.semantic:  # intents with examples: build their encoders (scikit-learn, HTTP)
        from routectl.detect import DetectorError, attach

        try:
            attach(policy)
        except DetectorError as exc:
            stderr.print(f"[bold red]error[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(exit_code) from None
    return LoadedPolicy(result.documents, policy, result.files)


def load_policy(paths: Sequence[str], exit_code: int = Exit.USAGE) -> LoadedPolicy:
    return require_policy(load_paths(paths), exit_code)


def is_terminal() -> bool:
    return sys.stdout.isatty()
