"""``routectl compile``: native configuration for another gateway, or the support matrix.

Exit 0 compiled (warnings for allowed approximations), 1 the policy uses a
feature the target cannot express (or only approximates, without
--allow-approximate; nothing is written), 2 usage or load errors.
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer

from routectl.cli.common import Exit, load_policy, stderr, stdout


def routectl_version() -> str:
    try:
        return version("routectl")
    except PackageNotFoundError:
        return "unknown"


def policy_revision(paths: list[str]) -> str:
    """The git commit of the policy (``+dirty`` with local changes), or ``none``."""
    try:
        import git

        repo = git.Repo(Path(paths[0]).resolve(), search_parent_directories=True)
        sha = repo.head.commit.hexsha
        root = Path(repo.working_tree_dir or ".")
        rel = [os.path.relpath(Path(p).resolve(), root) for p in paths]
        dirty = bool(repo.git.status("--porcelain", "--", *rel))
        return sha + ("+dirty" if dirty else "")
    except Exception:  # outside git, or git unusable: the header says so
        return "none"


def support_matrix_markdown() -> str:
    from routectl.compile import FEATURES, TARGETS, support_matrix, target

    symbols = {"exact": "yes", "approximate": "approx.", "unsupported": "no"}
    head = "| feature | " + " | ".join(target(t).title for t in TARGETS) + " |"
    rule = "| --- | " + " | ".join("---" for _ in TARGETS) + " |"
    rows = [head, rule]
    for feature, levels in support_matrix().items():
        cells = " | ".join(symbols[levels[t].support.value] for t in TARGETS)
        rows.append(f"| `{feature}` ({FEATURES[feature]}) | {cells} |")
    return "\n".join(rows) + "\n"


def write_files(directory: Path, files: dict[str, str]) -> None:
    """Write every file or none: each goes to a temporary file first, then all are renamed."""
    directory.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            staged.append((tmp, directory / name))
    except OSError:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)


def register(app: typer.Typer) -> None:
    @app.command("compile")
    def compile_cmd(
        paths: list[str] = typer.Argument(None, help="Policy directories or manifest files."),
        target_name: str = typer.Option(
            None,
            "--target",
            "-t",
            help="litellm, portkey, envoy, tensorzero, kong, envoy-ai-gateway.",
        ),
        out_dir: Path = typer.Option(None, "--output", "-o", help="Write the files here."),
        allow_approximate: bool = typer.Option(
            False, "--allow-approximate", help="Compile approximations, listed as warnings."
        ),
        output_format: str = typer.Option("text", "--format", help="text or json."),
        matrix: bool = typer.Option(
            False, "--support-matrix", help="Print what each target expresses, and exit."
        ),
    ) -> None:
        """Compile the policy into another gateway's native configuration."""
        from routectl.compile import TARGETS, Header, compile_policy, support_matrix

        if output_format not in ("text", "json", "markdown"):
            stderr.print(f"[bold red]error[/] --format must be text or json, not {output_format!r}")
            raise typer.Exit(Exit.USAGE)
        if matrix:
            if output_format == "json":
                doc = {
                    feature: {
                        t: {"support": lv.support.value, "note": lv.note} for t, lv in row.items()
                    }
                    for feature, row in support_matrix().items()
                }
                typer.echo(json.dumps(doc, indent=2))
            else:
                typer.echo(support_matrix_markdown(), nl=False)
            raise typer.Exit(Exit.OK)
        if not paths:
            stderr.print("[bold red]error[/] give a policy PATH (or --support-matrix)")
            raise typer.Exit(Exit.USAGE)
        if target_name not in TARGETS:
            stderr.print(
                f"[bold red]error[/] --target must be one of {', '.join(TARGETS)}"
                + (f", not {target_name!r}" if target_name else "")
            )
            raise typer.Exit(Exit.USAGE)
        loaded = load_policy(paths)
        header = Header(" ".join(paths), policy_revision(paths), routectl_version())
        result = compile_policy(
            loaded.documents, loaded.policy, target_name, header, allow_approximate
        )
        if output_format == "json":
            typer.echo(
                json.dumps(
                    {
                        "target": target_name,
                        "ok": result.ok,
                        "errors": [f.as_dict() for f in result.errors],
                        "warnings": [f.as_dict() for f in result.warnings],
                        "files": sorted(result.files) if out_dir else result.files,
                    },
                    indent=2,
                )
            )
        for finding in result.errors:
            stderr.print(f"[bold red]error[/] {finding.message()}", markup=True, highlight=False)
        for finding in result.warnings:
            stderr.print(f"[yellow]warning[/] {finding.message()}", markup=True, highlight=False)
        if not result.ok:
            approx = [f for f in result.errors if not f.is_error]
            if approx and len(approx) == len(result.errors):
                stderr.print("only approximations: --allow-approximate compiles them as warnings")
            raise typer.Exit(Exit.FAILED)
        if out_dir is not None:
            try:
                write_files(out_dir, result.files)
            except OSError as exc:
                stderr.print(f"[bold red]error[/] cannot write to {out_dir}: {exc.strerror}")
                raise typer.Exit(Exit.USAGE) from None
            if output_format != "json":
                for name in result.files:
                    stdout.print(f"wrote {out_dir / name}", highlight=False)
        elif output_format != "json":
            many = len(result.files) > 1
            for name, text in result.files.items():
                if many:
                    typer.echo(f"# ==> {name} <==")
                typer.echo(text, nl=False)
        raise typer.Exit(Exit.OK)
