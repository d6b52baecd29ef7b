"""``routectl lint`` and ``routectl rules``: check a policy; explain the checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.table import Table

from routectl.cli.common import Exit, stderr, stdout
from routectl.lint import (
    ConfigError,
    LintConfig,
    Severity,
    all_rules,
    find_config,
    find_rule,
    lint_paths,
    load_config,
)
from routectl.lint.formats import Format, github, json_report, junit, sarif, text


def _config(explicit: Path | None, paths: list[str]) -> LintConfig:
    if explicit is not None:
        if not explicit.is_file():
            stderr.print(f"[bold red]error:[/] --config {explicit}: no such file")
            raise typer.Exit(Exit.USAGE)
        found: Path | None = explicit
    else:
        found = find_config([Path(p) for p in paths[:1]] + [Path.cwd()])
    if found is None:
        return LintConfig()
    try:
        return load_config(found)
    except ConfigError as exc:
        stderr.print(f"[bold red]error:[/] {exc.location}: {exc.message}", markup=True)
        stderr.print(f"      [dim]fix: {exc.hint}[/]", markup=True)
        raise typer.Exit(Exit.USAGE) from None


def _compile_findings(paths: list[str], targets: list[str]) -> dict[str, list]:
    """Per target, what each policy in ``paths`` uses that the target cannot express exactly."""
    if not targets:
        return {}
    from routectl.compile import TARGETS, check
    from routectl.core.policy import resolve
    from routectl.loader.yaml_source import load_paths

    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        stderr.print(f"[bold red]error[/] --target {unknown[0]!r}: not one of {', '.join(TARGETS)}")
        raise typer.Exit(Exit.USAGE)
    directories = [p for p in paths if Path(p).is_dir()]
    files = [p for p in paths if not Path(p).is_dir()]
    groups = [[d] for d in directories] + ([files] if files else [])
    found: dict[str, list] = {t: [] for t in targets}
    for group in groups:
        result = load_paths(group)
        if result.errors or not result.documents:
            continue  # lint reports why
        policy = resolve(d.doc for d in result.documents)
        for name in targets:
            found[name].extend(check(result.documents, policy, name))
    return found


def _print_compile_findings(found: dict[str, list], console) -> None:
    for findings in found.values():
        for finding in findings:
            label = "[bold red]error[/]" if finding.is_error else "[yellow]warning[/]"
            console.print(f"{label} {finding.message()}", markup=True, highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("lint")
    def lint(
        paths: list[str] = typer.Argument(..., help="Policy directories or manifest files."),
        output_format: Format = typer.Option(Format.text, "--format", help="Report format."),
        fail_severity: Severity = typer.Option(
            None,
            "--fail-severity",
            help="Exit 1 on findings at or above this severity [default: error, "
            "or lint.failSeverity from the config file].",
            show_default=False,
        ),
        config_file: Path = typer.Option(
            None, "--config", help="Config file [default: nearest .routectl.yaml]."
        ),
        targets: list[str] = typer.Option(
            [], "--target", help="Also report what a compile target cannot express (repeatable)."
        ),
    ) -> None:
        """Check a policy: schema, references, sovereignty, routing logic, secrets.

        Exit 0 clean, 1 findings at or above --fail-severity (or a feature a
        --target cannot express), 2 usage or tool error.
        """
        started = time.perf_counter()
        config = _config(config_file, paths)
        threshold = fail_severity or config.fail_severity or Severity.error
        report = lint_paths(paths, config)
        elapsed = time.perf_counter() - started
        if report.usage_errors:
            for error in report.usage_errors:
                stderr.print(f"[bold red]error:[/] {error}", markup=True)
            raise typer.Exit(Exit.USAGE)
        compile_findings = _compile_findings(paths, targets)
        cannot = any(f.is_error for found in compile_findings.values() for f in found)
        if output_format is Format.text:
            text.render(report, stdout, elapsed)
            _print_compile_findings(compile_findings, stdout)
        elif output_format is Format.json:
            payload = json.loads(json_report.render(report))
            if targets:
                payload["compile"] = {
                    t: [f.as_dict() for f in found] for t, found in compile_findings.items()
                }
            typer.echo(json.dumps(payload, indent=2))
        elif output_format is Format.sarif:
            typer.echo(sarif.render(report, config))
        elif output_format is Format.github:
            rendered = github.render(report)
            if rendered:
                typer.echo(rendered)
        else:
            typer.echo(junit.render(report, threshold))
        if output_format not in (Format.text, Format.json):
            _print_compile_findings(compile_findings, stderr)
        failed = report.fails(threshold) or cannot
        raise typer.Exit(Exit.FAILED if failed else Exit.OK)

    @app.command("rules")
    def rules(
        code: str = typer.Argument(None, help="A rule code (RT005) or name to explain."),
        output_format: str = typer.Option(
            "text", "--format", help="text, json or markdown (docs/rules.md)."
        ),
    ) -> None:
        """List the lint rules, or explain one: what it checks, options, examples."""
        if output_format not in ("text", "json", "markdown"):
            stderr.print(f"error: --format must be text, json or markdown, not '{output_format}'")
            raise typer.Exit(Exit.USAGE)
        if output_format == "markdown":
            from routectl.lint.registry import rules_markdown

            typer.echo(rules_markdown(), nl=False)
            return
        if code is None:
            selected = list(all_rules().values())
        else:
            rule = find_rule(code)
            if rule is None:
                stderr.print(
                    f"[bold red]error:[/] no rule '{code}'; 'routectl rules' lists them",
                    markup=True,
                )
                raise typer.Exit(Exit.USAGE)
            selected = [rule]
        if output_format == "json":
            payload = [
                {
                    "code": r.code,
                    "name": r.name,
                    "severity": r.severity.value,
                    "summary": r.summary,
                    "source": "loader" if r.from_loader else "rule",
                    "help": r.help_command,
                    "doc": r.help_page,
                    "description": r.description,
                }
                for r in selected
            ]
            typer.echo(json.dumps(payload if code is None else payload[0], indent=2))
            return
        if code is not None:
            rule = selected[0]
            stdout.print(f"[bold]{rule.code}[/] {rule.name} ({rule.severity.value})")
            stdout.print(rule.summary)
            # Plain text, not rendered: the YAML examples stay copy-pastable.
            typer.echo(f"\n{rule.description}\n\nAlso in routectl's repository: {rule.help_page}")
            return
        table = Table(box=None, pad_edge=False)
        for column in ("code", "name", "severity", "checks"):
            table.add_column(column)
        for r in selected:
            table.add_row(r.code, r.name, r.severity.value, r.summary)
        stdout.print(table)
        stdout.print("[dim]routectl rules CODE explains one rule, with examples[/]")
