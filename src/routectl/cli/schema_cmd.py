"""``routectl schema``: the JSON Schema of manifest documents."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.text import Text

from routectl.cli.common import Exit, stderr, stdout
from routectl.core.manifest import json_schema

SCHEMA_FILE = "routectl.schema.json"


def _repository_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema(
        write: bool = typer.Option(
            False,
            "--write",
            help=f"Write the schema to a file ({SCHEMA_FILE} at the repository root, or --out) "
            "instead of printing it.",
        ),
        out: Path = typer.Option(
            None, "--out", help="Where --write puts the schema.", show_default=False
        ),
    ) -> None:
        """Print the JSON Schema of routectl manifests (for editors and CI).

        With --write, write it to a file that manifests anywhere in the
        repository can point to, and show the line that does it.
        """
        text = json.dumps(json_schema(), indent=2, sort_keys=True)
        if not write and out is None:
            typer.echo(text)
            return
        target = out or _repository_root(Path.cwd()) / SCHEMA_FILE
        try:
            target.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            stderr.print(
                Text("error: ", style="bold red") + Text(f"cannot write {target}: {exc.strerror}")
            )
            raise typer.Exit(Exit.USAGE) from None
        relative = os.path.relpath(target.resolve(), Path.cwd())
        stdout.print(Text(f"wrote {target}"))
        stdout.print(
            Text(
                "Point a manifest to it with this first line (the path relative to the "
                f"manifest):\n  # yaml-language-server: $schema={relative}"
            )
        )
