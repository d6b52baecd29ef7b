"""``routectl schema``: the JSON Schema of manifest documents."""

from __future__ import annotations

import json

import typer

from routectl.core.manifest import json_schema


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema() -> None:
        """Print the JSON Schema of routectl manifests (for editors and CI)."""
        typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
