"""``routectl fmt``: lay manifests out canonically (key order, indentation, quoting).

Exit 0 formatted (or already canonical), 1 with --check when a file would
change, 2 bad input (a missing path, invalid YAML); nothing is written when
any file has an error.
"""

from __future__ import annotations

import typer
from rich.text import Text

from routectl.cli.common import Exit, stderr, stdout


def register(app: typer.Typer) -> None:
    @app.command("fmt")
    def fmt(
        paths: list[str] = typer.Argument(..., help="Manifest files or policy directories."),
        check: bool = typer.Option(
            False, "--check", help="Change nothing; list the files that would change, exit 1."
        ),
        diff: bool = typer.Option(False, "--diff", help="Show what would change, as a diff."),
    ) -> None:
        """Lay out manifests canonically, keeping comments.

        Key order follows the schema, indentation is two spaces, strings are
        quoted only where a YAML reader could take them for something else.
        Files that are not routectl manifests are left alone. Exit 0 done,
        1 --check found files to change, 2 bad input.
        """
        from routectl.fmt import FormatError, format_file, manifest_files, write

        try:
            results = [r for r in map(format_file, manifest_files(paths)) if r is not None]
        except FormatError as exc:
            stderr.print(Text("error: ", style="bold red") + Text(str(exc)))
            raise typer.Exit(Exit.USAGE) from None
        changed = [r for r in results if r.changed]
        for result in changed:
            if diff:
                typer.echo(result.diff(), nl=False)
            if check:
                stdout.print(Text(f"would reformat {result.path}"))
            else:
                try:
                    write(result)
                except FormatError as exc:
                    stderr.print(Text("error: ", style="bold red") + Text(str(exc)))
                    raise typer.Exit(Exit.USAGE) from None
                stdout.print(Text(f"reformatted {result.path}"))
        kept = len(results) - len(changed)
        verb = "would be reformatted" if check else "reformatted"
        stderr.print(f"{len(changed)} file(s) {verb}, {kept} already canonical")
        raise typer.Exit(Exit.FAILED if check and changed else Exit.OK)
