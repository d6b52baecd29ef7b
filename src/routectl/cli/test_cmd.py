"""``routectl test``: run the PolicyTest documents of a policy."""

from __future__ import annotations

import json
import time
from enum import StrEnum

import typer

from routectl.cli.common import Exit, load_policy, stdout
from routectl.core.policytest import run_tests


class TestFormat(StrEnum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    @app.command("test")
    def test(
        paths: list[str] = typer.Argument(..., help="Policy directories or manifest files."),
        output_format: TestFormat = typer.Option(
            TestFormat.text, "--format", help="text for people, json for scripts."
        ),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="List passing cases too."),
    ) -> None:
        """Run policy tests. Exit 0 all passed, 1 any failed (or none found), 2 bad input."""
        started = time.perf_counter()
        loaded = load_policy(paths)
        sources = [d for d in loaded.documents if d.kind == "PolicyTest"]
        results = []
        for source in sources:
            for result in run_tests(loaded.policy, [source.doc]):
                results.append((source, result))
        elapsed = time.perf_counter() - started
        passed = sum(1 for _, r in results if r.passed)
        failed = len(results) - passed
        if output_format is TestFormat.json:
            payload = {
                "passed": passed,
                "failed": failed,
                "cases": [
                    {
                        "test": r.test,
                        "case": r.case,
                        "location": str(s.locate(*r.path)),
                        "passed": r.passed,
                        "failures": list(r.failures),
                        "primary": r.decision.primary,
                        "route": r.decision.route,
                        "arm": r.decision.arm,
                        "shadows": list(r.decision.shadows),
                        "served_by": r.served.answered if r.served is not None else None,
                    }
                    for s, r in results
                ],
            }
            typer.echo(json.dumps(payload, indent=2))
        else:
            for source, result in results:
                where = source.locate(*result.path)
                if result.passed:
                    if verbose:
                        stdout.print(f"[green]PASSED[/] {result.test}::{result.case}")
                    continue
                stdout.print(f"[red]FAILED[/] {result.test}::{result.case}  [dim]{where}[/]")
                for failure in result.failures:
                    stdout.print(f"    {failure}", markup=False)
            colour = "red" if failed or not results else "green"
            summary = f"{passed} passed, {failed} failed"
            stdout.print(f"[bold {colour}]{summary}[/] in {elapsed:.2f}s")
        if not results:
            stdout.print("no policy tests found (kind: PolicyTest)")
            raise typer.Exit(Exit.FAILED)
        raise typer.Exit(Exit.FAILED if failed else Exit.OK)
