"""The ``routectl`` command. Each command lives in its own module and registers itself.

Command modules are imported only when their command runs: ``routectl lint``
need not pay for the HTTP client, git, DuckDB or the ASGI server that other
commands use, and ``routectl --help`` lists the commands from the summaries
below without importing any of them.
"""

from __future__ import annotations

import errno
import gc
import importlib
import os
import sys
from functools import cache
from typing import Any

import click
import typer
from typer.core import TyperGroup

# Command name -> the module whose register(app) defines it.
COMMANDS: dict[str, str] = {
    "lint": "routectl.cli.lint_cmd",
    "rules": "routectl.cli.lint_cmd",
    "test": "routectl.cli.test_cmd",
    "explain": "routectl.cli.explain_cmd",
    "schema": "routectl.cli.schema_cmd",
    "fmt": "routectl.cli.fmt_cmd",
    "init": "routectl.cli.init_cmd",
    "simulate": "routectl.cli.simulate_cmd",
    "plan": "routectl.cli.reconcile_cmd",
    "apply": "routectl.cli.reconcile_cmd",
    "drift": "routectl.cli.reconcile_cmd",
    "diff": "routectl.cli.reconcile_cmd",
    "gateway": "routectl.cli.gateway_cmd",
    "pr-comment": "routectl.cli.pr_cmd",
    "compile": "routectl.cli.compile_cmd",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))

# What `routectl --help` lists; tests/prgate/test_cli_polish.py checks each against the
# first line of its command's own help, so the two cannot drift apart.
SUMMARIES: dict[str, str] = {
    "lint": "Check a policy: schema, references, sovereignty, routing logic, secrets.",
    "rules": "List the lint rules, or explain one: what it checks, options, examples.",
    "test": "Run policy tests.",
    "explain": "Explain the routing decision for one request.",
    "schema": "Print the JSON Schema of routectl manifests (for editors and CI).",
    "fmt": "Lay out manifests canonically, keeping comments.",
    "init": "Create a starter policy repository that lints, tests and simulates clean.",
    "simulate": "Replay recorded traffic through the policy: cost, models, shifts, what-ifs.",
    "plan": "Show what apply would change on the gateway, in dependency order.",
    "apply": "Apply the manifests (or a saved plan) to the gateway, atomically.",
    "drift": "Report changes made on the gateway outside routectl, with who and when.",
    "diff": "What a change to the manifests means: splits, prices, jurisdictions, chains.",
    "gateway": "Run routectl's gateway.",
    "pr-comment": "Build the one routectl comment of a pull request, then create or update it.",
    "compile": "Compile the policy into another gateway's native configuration.",
}

# How option values read in --help ("--gateway URL", not "--gateway <str>").
METAVARS: dict[str, str] = {
    "gateway": "URL",
    "store": "URL",
    "api_url": "URL",
    "out": "FILE",
    "config_file": "FILE",
    "lint": "FILE",
    "test": "FILE",
    "simulate": "FILE",
    "plan": "FILE",
    "log": "FILE",
    "traffic": "FILE",
    "target": "KIND/NAME",
    "exclude": "KIND/NAME",
    "owner": "NAME",
    "name": "NAME",
    "ref": "REF",
    "base": "REF",
    "head": "REF",
    "commit": "SHA",
    "repo": "OWNER/NAME",
    "pr": "NUMBER",
    "token": "TOKEN",
    "timeout": "SECONDS",
    "mapping": "FEATURE=COLUMN",
    "constants": "FEATURE=VALUE",
    "outage": "TARGET[@START..END]",
    "price_change": "MODEL=CHANGE",
    "max_cost_increase": "PCT",
    "max_shift": "PCT",
    "failed_checks": "NAME=DETAIL",
    "host": "HOST",
    "port": "PORT",
    "action": "OWNER/REPO",
    "action_ref": "REF",
    "title": "TEXT",
}


def _polish(command: Any) -> None:
    """Help that reads as the user types it: no <bool>/<list[str]>, brackets kept."""
    if command.help:
        command.help = command.help.replace("[", "\\[")
    for param in command.params:
        if getattr(param, "help", None):
            param.help = param.help.replace("[", "\\[")
        kind = getattr(param, "param_type_name", "")
        descriptor = getattr(param, "type_descriptor", None)
        if kind == "option" and param.is_flag:
            param.metavar = ""
        elif kind == "option" and param.metavar is None:
            if descriptor is not None and descriptor.is_choice:
                continue  # typer shows the choices: <text|json|markdown>
            param.metavar = METAVARS.get(param.name or "", (param.name or "value").upper())
        elif kind == "argument" and param.metavar is None:
            param.metavar = METAVARS.get(param.name or "", (param.name or "arg").upper())
            param.display_type_rich = lambda ctx: None  # the name says it: no <list[str]>
    if not getattr(command, "_polished_help_option", False):
        original = command.get_help_option

        def help_option(ctx: Any, _original: Any = original) -> Any:
            option = _original(ctx)
            if option is not None:
                option.metavar = ""  # a flag: no <bool>
            return option

        command.get_help_option = help_option
        command._polished_help_option = True
    for sub in getattr(command, "commands", {}).values():
        _polish(sub)


@cache
def _module_group(module_name: str) -> click.Group:
    sub = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode="rich")
    importlib.import_module(module_name).register(sub)
    group = typer.main.get_group(sub)
    for command in group.commands.values():
        _polish(command)
    _started()
    return group


_collecting_after_start_up = False


def _started() -> None:
    """The command is imported: set what start-up made aside for good, collect again."""
    global _collecting_after_start_up
    if _collecting_after_start_up:
        gc.freeze()
        gc.enable()
        _collecting_after_start_up = False


class LazyCommands(TyperGroup):
    listing = False  # while the root help is printed: summaries only, no imports

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        if self.listing:
            return click.Command(cmd_name, help=SUMMARIES[cmd_name])
        return _module_group(module_name).get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _polish(self)
        LazyCommands.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            LazyCommands.listing = False


app = typer.Typer(
    name="routectl",
    cls=LazyCommands,
    help="LLM routing policy as code: lint, test, explain, simulate, plan and apply.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from routectl import __version__

        typer.echo(f"routectl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print routectl's version and exit.",
    ),
) -> None:
    """LLM routing policy as code: lint, test, explain, simulate, plan and apply.

    Exit codes: 0 success, 1 findings, failed tests or gates, or an error talking to a
    gateway, 2 usage or input error (each command's --help says exactly).
    """


class _ClosedPipeQuiet:
    """stdout that, once its reader goes away (``routectl … | head``), drops what follows.

    The command then runs to its end and exits with its own code, rather than 1 for
    the broken pipe; the file descriptor is pointed at /dev/null so that nothing
    complains about the lost output at exit either.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _closed(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    global _collecting_after_start_up
    # Start-up makes objects that live as long as the process (modules, pydantic models):
    # collecting cycles again and again while they are made is a tenth of start-up spent
    # for nothing. Collection resumes once the command is imported (``_started``).
    if gc.isenabled():
        gc.disable()
        _collecting_after_start_up = True
    if not isinstance(sys.stdout, _ClosedPipeQuiet):
        sys.stdout = _ClosedPipeQuiet(sys.stdout)  # type: ignore[assignment]
    try:
        app()
    except OSError as exc:  # pragma: no cover - a closed pipe outside our writes
        if exc.errno != errno.EPIPE:
            raise


if __name__ == "__main__":
    main()
