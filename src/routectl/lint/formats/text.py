"""Findings for people: grouped by file, one line each, with the fix underneath."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from routectl.lint.findings import LintReport, Severity

STYLE = {Severity.error: "bold red", Severity.warning: "yellow", Severity.info: "cyan"}


def render(report: LintReport, console: Console, elapsed: float) -> None:
    for file, findings in report.by_file().items():
        console.print(f"[bold underline]{escape(file)}[/]")
        for f in findings:
            where = f"{f.location.line}:{f.location.col}"
            style = STYLE[f.severity]
            console.print(
                f"  {where:<8} [{style}]{f.severity.value:<7}[/] [bold]{f.code}[/]  "
                f"{escape(f.message)}"
            )
            if f.hint:
                console.print(f"  {'':<8} {'':<7} {'':<5}  [dim]fix: {escape(f.hint)}[/]")
            for related in f.related:
                console.print(
                    f"  {'':<8} {'':<7} {'':<5}  [dim]see {related.location}: "
                    f"{escape(related.message)}[/]"
                )
        console.print()
    counts = {s: report.count(s) for s in Severity}
    files = len(report.files)
    if not report.findings:
        console.print(
            f"[bold green]no problems[/] in {files} file(s), "
            f"{report.documents} document(s) ({elapsed:.2f}s)"
        )
        return
    parts = [f"[{STYLE[s]}]{n} {s.value}(s)[/]" for s, n in counts.items() if n]
    console.print(f"{', '.join(parts)} in {files} file(s) ({elapsed:.2f}s)")
