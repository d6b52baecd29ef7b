"""The ``routectl`` command. Each command lives in its own module and registers itself."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="routectl",
    help="LLM routing policy as code: lint, test, explain, simulate, plan and apply.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# One module per command family; each exposes register(app).
COMMAND_MODULES = (
    "routectl.cli.explain_cmd",
    "routectl.cli.lint_cmd",
    "routectl.cli.test_cmd",
    "routectl.cli.schema_cmd",
    "routectl.cli.reconcile_cmd",
    "routectl.cli.gateway_cmd",
    "routectl.cli.simulate_cmd",
)

for module_name in COMMAND_MODULES:
    importlib.import_module(module_name).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
