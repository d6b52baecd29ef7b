"""``routectl plan / apply / drift / diff``: reconcile a gateway with Git.

Exit codes: plan --detailed-exitcode 0 no changes, 1 error, 2 changes; apply
0 applied or nothing to do, 1 error (nothing written); drift 0 in sync, 1
error, 2 drifted; diff --detailed-exitcode like plan. Every error, whatever
its cause (manifests, gateway, plan file, secrets), is one located line on
stderr and exit 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from routectl.admin.client import (
    AdminBackend,
    Conflict,
    GatewayError,
    backend_for,
)
from routectl.cli.common import Exit, print_load_errors, require_policy, stderr, stdout
from routectl.core.state import Resource, address, desired_state
from routectl.loader.git_source import GitSourceError, load_at_revision, load_ref_or_path
from routectl.loader.yaml_source import LoadResult, load_paths
from routectl.project import (
    SettingsError,
    default_store_path,
    load_settings,
    prepare_state_dir,
)
from routectl.reconcile.apply import apply_plan, default_author
from routectl.reconcile.drift import compute_drift
from routectl.reconcile.plan import (
    OptionsDoc,
    PlanDoc,
    PlanFileError,
    SourceDoc,
    load_plan,
    looks_like_plan_file,
    save_plan,
)
from routectl.reconcile.planner import default_owner, make_plan, read_live, with_pushed_secrets
from routectl.reconcile.render.json import plan_json
from routectl.reconcile.render.markdown import plan_markdown
from routectl.reconcile.render.reports import drift_doc, print_drift, print_semantic
from routectl.reconcile.render.text import print_plan
from routectl.reconcile.secrets import SecretError
from routectl.reconcile.semantic import semantic_diff

DETAILED_CHANGES = 2


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Failure(Exception):
    """A one-line error for the user: printed, exit 1."""


ONE_LINE = (Failure, GatewayError, PlanFileError, SecretError, GitSourceError, SettingsError)


@contextmanager
def one_line_errors() -> Iterator[None]:
    try:
        yield
    except ONE_LINE as exc:
        stderr.print(Text("error: ", style="bold red") + Text(str(exc)))
        raise typer.Exit(Exit.FAILED) from None


GATEWAY_OPT = typer.Option(
    None,
    "--gateway",
    envvar="ROUTECTL_GATEWAY",
    help="Admin URL of a routectl gateway [env: ROUTECTL_GATEWAY].",
    show_envvar=False,
)
STORE_OPT = typer.Option(
    None,
    "--store",
    help="Local store used when no --gateway is given [default: sqlite:///<git root>/"
    ".routectl/gateway.db, or ./.routectl/gateway.db outside git; .routectl/ ignores itself].",
    show_default=False,
)
OWNER_OPT = typer.Option(
    None,
    "--owner",
    help="Namespace owning the resources [default: owner in .routectl.yaml, else the git "
    "repository + the policy's path].",
    show_default=False,
)
TOKEN_OPT = typer.Option(
    None,
    "--token",
    envvar=["ROUTECTL_ADMIN_TOKEN", "ROUTECTL_TOKEN"],
    help="The gateway's admin token [env: ROUTECTL_ADMIN_TOKEN, the gateway's own, or "
    "ROUTECTL_TOKEN].",
    show_envvar=False,
)
TIMEOUT_OPT = typer.Option(
    30.0, "--timeout", help="Seconds to wait for the gateway's answer to each request.", min=0.1
)
REF_OPT = typer.Option(None, "--ref", help="Read the manifests at this git revision.")
WRITE_CONFIG_OPT = typer.Option(
    None,
    "--write-config",
    help="Config-file gateways: write the --target's compiled files to this directory.",
)
RELOAD_OPT = typer.Option(None, "--reload-cmd", help="With --write-config: run after writing.")
APPROX_OPT = typer.Option(
    False, "--allow-approximate", help="With --write-config: compile approximations."
)


def _locator(gateway: str | None, store: str | None, policy_path: str) -> str:
    if gateway and not gateway.startswith(("http://", "https://")):
        raise Failure(
            f"--gateway '{gateway}' is not an http(s) URL; pass e.g. http://127.0.0.1:8080 "
            "(or use --store for a local store)"
        )
    if gateway:
        return gateway
    if store:
        return store
    return f"sqlite:///{default_store_path(policy_path)}"


def _sqlite_file(locator: str) -> Path | None:
    return Path(locator.removeprefix("sqlite:///")) if locator.startswith("sqlite:///") else None


def _backend(
    locator: str, token: str | None = None, timeout: float = 30.0, writes: bool = False
) -> AdminBackend:
    """The gateway, or the embedded store: created only by a command that writes to it."""
    token = token or os.environ.get("ROUTECTL_TOKEN")
    store_file = _sqlite_file(locator)
    if store_file is not None and not store_file.exists():
        if not writes:
            # Nothing applied yet: an empty store, read without creating a file.
            stderr.print(
                Text(
                    f"note: the embedded store {store_file} does not exist yet; reading it as "
                    "empty (routectl apply creates it)",
                    style="dim",
                )
            )
            empty = backend_for("sqlite:///:memory:", None)
            empty.name = f"embedded store {locator} (not created yet)"  # type: ignore[union-attr]
            return empty
        prepare_state_dir(store_file)
    return backend_for(locator, token, timeout)


def _desired(
    path: str, ref: str | None, owner: str | None
) -> tuple[dict[str, Resource], str, SourceDoc]:
    """The manifests' desired state; load or lint errors print located and exit 1."""
    if ref:
        result, where = load_at_revision(path, ref)
        source = SourceDoc(path=path, revision=where.revision)
    else:
        result = load_paths([path])
        source = SourceDoc(path=path)
    loaded = require_policy(result, Exit.FAILED)
    _refuse_lint_errors(result, path)
    the_owner = owner or load_settings(path).owner or default_owner(path)
    return desired_state((d.doc for d in loaded.documents), the_owner), the_owner, source


def _refuse_lint_errors(result: LoadResult, path: str) -> None:
    """Refuse to plan a policy that lint's error-level rules reject (the same rules as lint)."""
    try:
        from routectl.lint import ConfigError, Severity, find_config, lint_loaded, load_config
    except ImportError:  # an installation without lint
        return
    try:
        found = find_config([Path(path)])
        report = lint_loaded(result, load_config(found) if found else None)
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    errors = [f for f in report.findings if f.severity is Severity.error]
    if not errors:
        return
    for finding in errors:
        stderr.print(
            Text("error: ", style="bold red")
            + Text(f"{finding.location}: {finding.code} {finding.message}")
        )
        if finding.hint:
            stderr.print(Text(f"      fix: {finding.hint}", style="dim"))
    stderr.print(f"{len(errors)} lint error(s): fix them (routectl lint {path}) before planning")
    raise typer.Exit(Exit.FAILED)


def status(output_format: Format) -> Console:
    """Where apply's closing line goes: stderr when stdout carries a JSON document."""
    return stderr if output_format is Format.json else stdout


def _emit(plan: PlanDoc, output_format: Format) -> None:
    if output_format is Format.json:
        typer.echo(plan_json(plan))
    elif output_format is Format.markdown:
        typer.echo(plan_markdown(plan))
    else:
        print_plan(plan, stdout)


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_cmd(
        path: str = typer.Argument(..., help="Policy directory or manifest file."),
        gateway: str = GATEWAY_OPT,
        store: str = STORE_OPT,
        out: Path = typer.Option(None, "--out", help="Save the plan for routectl apply PLAN."),
        detailed_exitcode: bool = typer.Option(
            False, "--detailed-exitcode", help="Exit 0 no changes, 1 error, 2 changes."
        ),
        output_format: Format = typer.Option(Format.text, "--format", help="Output format."),
        target: list[str] = typer.Option([], "--target", help="Only KIND/NAME (glob ok)."),
        exclude: list[str] = typer.Option([], "--exclude", help="Leave out KIND/NAME."),
        no_delete: bool = typer.Option(False, "--no-delete", help="Plan no deletes."),
        push_secrets: bool = typer.Option(
            False, "--push-secrets", help="Compare secret values (by fingerprint), not references."
        ),
        owner: str = OWNER_OPT,
        ref: str = REF_OPT,
        token: str = TOKEN_OPT,
        timeout: float = TIMEOUT_OPT,
        write_config: str = WRITE_CONFIG_OPT,
        allow_approximate: bool = APPROX_OPT,
    ) -> None:
        """Show what apply would change on the gateway, in dependency order.

        Read-only: the embedded store is not created. With --detailed-exitcode:
        exit 0 in sync, 2 changes or skipped resources (not in sync), 1 error.
        """
        if write_config is not None:
            from routectl.cli import config_file_cmd

            config_file_cmd.run(
                path,
                target,
                write_config,
                apply=False,
                allow_approximate=allow_approximate,
                detailed_exitcode=detailed_exitcode,
            )
        with one_line_errors():
            locator = _locator(gateway, store, path)
            desired, the_owner, source = _desired(path, ref, owner)
            options = OptionsDoc(
                no_delete=no_delete,
                push_secrets=push_secrets,
                targets=list(target),
                excludes=list(exclude),
            )
            backend = _backend(locator, token, timeout)
            try:
                plan = make_plan(backend, locator, desired, the_owner, source, options)
            finally:
                backend.close()
            if out is not None:
                save_plan(plan, out)
        _emit(plan, output_format)
        if out is not None and output_format is Format.text:
            stdout.print(Text(f"\nSaved the plan to {out}; apply exactly it with: "))
            stdout.print(Text(f"  routectl apply {out}"))
        if plan.foreign and output_format is Format.text:
            _ownership_hint(plan)
        raise typer.Exit(DETAILED_CHANGES if detailed_exitcode and not plan.in_sync else Exit.OK)

    @app.command("apply")
    def apply_cmd(
        source: str = typer.Argument(..., help="Policy directory, manifest file or saved plan."),
        gateway: str = GATEWAY_OPT,
        store: str = STORE_OPT,
        auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask."),
        no_delete: bool = typer.Option(False, "--no-delete", help="Create and update only."),
        push_secrets: bool = typer.Option(
            False, "--push-secrets", help="Resolve secret references here and send the values."
        ),
        ref: str = REF_OPT,
        owner: str = OWNER_OPT,
        target: list[str] = typer.Option([], "--target", help="Only KIND/NAME (glob ok)."),
        exclude: list[str] = typer.Option([], "--exclude", help="Leave out KIND/NAME."),
        output_format: Format = typer.Option(Format.text, "--format", help="Output format."),
        token: str = TOKEN_OPT,
        timeout: float = TIMEOUT_OPT,
        write_config: str = WRITE_CONFIG_OPT,
        reload_cmd: str = RELOAD_OPT,
        allow_approximate: bool = APPROX_OPT,
    ) -> None:
        """Apply the manifests (or a saved plan) to the gateway, atomically.

        Exit 0 applied (or nothing to do), 1 error: nothing was written.
        """
        if write_config is not None:
            from routectl.cli import config_file_cmd

            config_file_cmd.run(
                source,
                target,
                write_config,
                apply=True,
                reload_cmd=reload_cmd,
                gateway=gateway,
                allow_approximate=allow_approximate,
            )
            raise typer.Exit(Exit.OK)
        with one_line_errors():
            from_file = looks_like_plan_file(source)
            if from_file:
                flags = {
                    "--no-delete": no_delete,
                    "--push-secrets": push_secrets,
                    "--ref": ref,
                    "--owner": owner,
                    "--target": target,
                    "--exclude": exclude,
                }
                plan = _saved_plan(source, gateway, [name for name, v in flags.items() if v])
                locator = plan.gateway
            else:
                locator = _locator(gateway, store, source)
                desired, the_owner, src = _desired(source, ref, owner)
                options = OptionsDoc(
                    no_delete=no_delete,
                    push_secrets=push_secrets,
                    targets=list(target),
                    excludes=list(exclude),
                )
            backend = _backend(locator, token, timeout, writes=True)
            try:
                if not from_file:
                    plan = make_plan(backend, locator, desired, the_owner, src, options)
                _emit(plan, output_format)
                if not plan.has_changes:
                    status(output_format).print(Text("Nothing to apply; the gateway is unchanged."))
                    raise typer.Exit(Exit.OK)
                if not from_file and not auto_approve:
                    _confirm(plan)
                try:
                    result = apply_plan(backend, plan, default_author())
                except Conflict as exc:
                    raise Failure(_conflict_message(exc, plan, from_file, source)) from None
            finally:
                backend.close()
        s = plan.summary
        status(output_format).print(
            Text(
                f"Apply complete: {s.add} added, {s.change} changed, {s.destroy} destroyed; "
                f"gateway at revision {result.revision}.",
                style="bold green",
            )
        )

    @app.command("drift")
    def drift_cmd(
        path: str = typer.Argument(..., help="Policy directory or manifest file."),
        gateway: str = GATEWAY_OPT,
        store: str = STORE_OPT,
        owner: str = OWNER_OPT,
        ref: str = REF_OPT,
        push_secrets: bool = typer.Option(
            False, "--push-secrets", help="Secrets are pushed: compare value fingerprints."
        ),
        output_format: Format = typer.Option(Format.text, "--format", help="Output format."),
        token: str = TOKEN_OPT,
        timeout: float = TIMEOUT_OPT,
    ) -> None:
        """Report changes made on the gateway outside routectl, with who and when.

        Exit 0 in sync, 2 drifted, 1 error.
        """
        with one_line_errors():
            locator = _locator(gateway, store, path)
            desired, the_owner, _ = _desired(path, ref, owner)
            if push_secrets:
                desired, _ = with_pushed_secrets(desired)
            backend = _backend(locator, token, timeout)
            try:
                revision, live = read_live(backend)
                history = backend.history(1000)
            finally:
                backend.close()
        drifts = compute_drift(desired, live, the_owner, history)
        if output_format is Format.json:
            typer.echo(json.dumps(drift_doc(drifts, revision, locator), indent=2))
        else:
            print_drift(drifts, revision, locator, stdout, output_format is Format.markdown)
        raise typer.Exit(DETAILED_CHANGES if drifts else Exit.OK)

    @app.command("diff")
    def diff_cmd(
        path: str = typer.Argument(..., help="Policy directory (in a git repository for refs)."),
        base: str = typer.Option(..., "--base", help="Git ref or directory to compare from."),
        head: str = typer.Option(
            None, "--head", help="Git ref or directory to compare to (default: PATH as is)."
        ),
        output_format: Format = typer.Option(Format.text, "--format", help="Output format."),
        detailed_exitcode: bool = typer.Option(
            False, "--detailed-exitcode", help="Exit 0 no differences, 1 error, 2 differences."
        ),
    ) -> None:
        """What a change to the manifests means: splits, prices, jurisdictions, chains."""
        with one_line_errors():
            old = _version(base, path)
            new = _version(head, path) if head else _version(path, path, plain=True)
        changes = semantic_diff(old, new)
        if output_format is Format.json:
            doc = [
                {"address": address(c.kind, c.name), "status": c.status, "lines": c.lines}
                for c in changes
            ]
            typer.echo(json.dumps({"base": base, "head": head or path, "changes": doc}, indent=2))
        else:
            print_semantic(changes, base, head or path, stdout, output_format is Format.markdown)
        raise typer.Exit(DETAILED_CHANGES if changes and detailed_exitcode else Exit.OK)


def _ownership_hint(plan: PlanDoc) -> None:
    stderr.print(
        Text(
            f"note: {len(plan.foreign)} resource(s) skipped are managed by another owner, so "
            f"the gateway does not match these manifests. This policy's owner is {plan.owner}. "
            "If those resources were this policy's before it moved, declare its owner in "
            ".routectl.yaml (owner: NAME) so that it does not depend on the folder's path.",
            style="yellow",
        )
    )


def _version(spec: str, path: str, plain: bool = False) -> dict[str, Resource]:
    result = load_paths([spec]) if plain else load_ref_or_path(spec, path)[0]
    if result.errors:
        print_load_errors(result.errors)
        stderr.print(f"{len(result.errors)} error(s) while loading {spec}")
        raise typer.Exit(Exit.FAILED)
    return desired_state(d.doc for d in result.documents)


def _saved_plan(source: str, gateway: str | None, flags: list[str]) -> PlanDoc:
    """A saved plan applies as it was saved: to its gateway, with its options."""
    if flags:
        raise Failure(
            f"{', '.join(flags)} cannot change a saved plan; pass them to routectl plan --out"
        )
    plan = load_plan(source)
    if gateway and gateway.rstrip("/") != plan.gateway.rstrip("/"):
        raise Failure(
            f"{source} was planned for gateway {plan.gateway}, not {gateway}; "
            "re-run plan against this gateway"
        )
    return plan


def _confirm(plan: PlanDoc) -> None:
    if not sys.stdin.isatty():
        raise Failure(
            "refusing to ask for confirmation without a terminal; pass --auto-approve, "
            "or apply a saved plan (routectl plan --out PLAN, then routectl apply PLAN)"
        )
    stdout.print(Text("\nDo you want to perform these actions? Only 'yes' will be accepted."))
    answer = typer.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise Failure("apply cancelled; nothing was written")


def _conflict_message(exc: Conflict, plan: PlanDoc, from_file: bool, source: str) -> str:
    now = f"revision {exc.current}" if exc.current is not None else "a newer revision"
    if from_file:
        return (
            f"stale plan: {source} was computed against revision {plan.base_revision} but "
            f"gateway {plan.gateway} is now at {now}; nothing was written; run plan again"
        )
    return (
        f"conflict: this apply was planned against revision {plan.base_revision} but another "
        f"apply moved gateway {plan.gateway} to {now} first; nothing was written; "
        "re-run apply to plan against the new revision"
    )
