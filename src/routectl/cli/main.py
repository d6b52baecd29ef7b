"""The ``routectl`` command. Each command lives in its own module and registers itself.

Command modules are imported only when their command runs: ``routectl lint``
need not pay for the HTTP client, git, DuckDB or the ASGI server that other
commands use. ``routectl --help`` imports them all to list them.
"""

from __future__ import annotations

import importlib
from functools import cache

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
    "simulate": "routectl.cli.simulate_cmd",
    "plan": "routectl.cli.reconcile_cmd",
    "apply": "routectl.cli.reconcile_cmd",
    "drift": "routectl.cli.reconcile_cmd",
    "diff": "routectl.cli.reconcile_cmd",
    "gateway": "routectl.cli.gateway_cmd",
    "compile": "routectl.cli.compile_cmd",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


@cache
def _module_group(module_name: str) -> click.Group:
    sub = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode="rich")
    importlib.import_module(module_name).register(sub)
    return typer.main.get_group(sub)


class LazyCommands(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        return _module_group(module_name).get_command(ctx, cmd_name)


app = typer.Typer(
    name="routectl",
    cls=LazyCommands,
    help="LLM routing policy as code: lint, test, explain, simulate, plan and apply.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root() -> None:
    """LLM routing policy as code: lint, test, explain, simulate, plan and apply."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
