"""``routectl init``: scaffold a policy repository. Exit 0 written, 2 the directory is not empty."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from routectl.cli.common import Exit, stderr, stdout


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        directory: Path = typer.Argument(Path("."), help="Where to create the repository."),
        action: str = typer.Option(
            "routectl/routectl", "--action", help="OWNER/REPO of the routectl GitHub Action."
        ),
        action_ref: str = typer.Option(
            "",
            "--action-ref",
            help="Tag or commit of the action the workflow pins [default: this version's tag].",
            show_default=False,
        ),
    ) -> None:
        """Create a starter policy repository that lints, tests and simulates clean.

        Providers, models with dated prices, classifications, intents, tiers,
        routes, policy tests, sample traffic, .routectl.yaml, a GitHub workflow
        and a pre-commit config.

        Nothing is overwritten: exit 2 when any of the files exists.
        """
        from routectl.init import InitError, scaffold, write_scaffold

        try:
            written = write_scaffold(directory, scaffold(action, action_ref))
        except InitError as exc:
            stderr.print(Text("error: ", style="bold red") + Text(str(exc)))
            raise typer.Exit(Exit.USAGE) from None
        for path in written:
            stdout.print(Text(f"created {path}"))
        where = str(directory)
        stdout.print(
            Text(
                f"\nNext: routectl lint {where}/policy && routectl test {where}/policy && "
                f"routectl simulate {where}/policy --traffic {where}/traffic/sample.csv"
            )
        )
