"""``routectl simulate``: replay recorded traffic through the policy (and a base version).

Heavy modules (DuckDB, Arrow, the engine) are imported inside the command, so
that other commands start fast.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import StrEnum

import typer

from routectl.cli.common import Exit, load_policy, require_policy, stderr, stdout


class SimulateFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class OnError(StrEnum):
    fail = "fail"
    skip = "skip"


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        path: str = typer.Argument(..., help="The policy directory (head)."),
        traffic: list[str] = typer.Option(
            ...,
            "--traffic",
            help="Traffic: .csv/.jsonl/.parquet (optionally .gz) or a traffic spec .yaml. "
            "Repeatable.",
        ),
        base: str = typer.Option(
            None, "--base", help="Compare with this git ref of PATH, or a policy directory."
        ),
        output_format: SimulateFormat = typer.Option(
            SimulateFormat.text, "--format", help="text, json, or markdown for a PR comment."
        ),
        mapping: list[str] = typer.Option(
            [], "--map", help="FEATURE=COLUMN: where a feature is in the traffic. Repeatable."
        ),
        constants: list[str] = typer.Option(
            [], "--set", help="FEATURE=VALUE for a feature the traffic lacks, e.g. intent=code."
        ),
        outage: list[str] = typer.Option(
            [],
            "--outage",
            help="PROVIDER_OR_MODEL[@START..END]: down in that window (ISO times or +10m "
            "offsets from the trace start). Repeatable.",
        ),
        price_change: list[str] = typer.Option(
            [], "--price-change", help="MODEL=+20% (or -10%, x1.5). Repeatable."
        ),
        max_cost_increase: float = typer.Option(
            None, "--max-cost-increase", help="Gate: exit 1 if cost grows by more than PCT."
        ),
        fail_on_unroutable: bool = typer.Option(
            False, "--fail-on-unroutable", help="Gate: exit 1 if any request is unroutable."
        ),
        max_shift: float = typer.Option(
            None, "--max-shift", help="Gate: exit 1 if more than PCT of requests change model."
        ),
        on_error: OnError = typer.Option(
            OnError.fail, "--on-error", help="Bad traffic lines: fail (exit 2) or skip and count."
        ),
        spend: str = typer.Option(
            None,
            "--spend",
            help="Budget spend at the trace's start: a JSON file {budget: USD} or a gateway URL "
            "(its /admin/v1/spend, token from ROUTECTL_ADMIN_TOKEN).",
        ),
        escalation_log: list[str] = typer.Option(
            [],
            "--escalation-log",
            help="A gateway decision log to measure each model's cascade escalation rate "
            "from (else the routes' declared escalationRates). Repeatable.",
        ),
        engine: EngineName = typer.Option(
            EngineName.duckdb,
            "--engine",
            help="Where requests are read and grouped: duckdb (embedded) or spark (traces "
            "beyond one machine; reads globs and hdfs:// or s3a:// URIs).",
        ),
        spark_master: str = typer.Option(
            None,
            "--spark-master",
            help="Spark master URL for --engine spark (default local[*]; 'env': as the "
            "standard Spark environment configures it).",
        ),
        decisions_out: str = typer.Option(
            None,
            "--decisions-out",
            help="Write each request's predicted route, model, arm, shadows and cost under "
            "base and head to FILE (.parquet or .jsonl), streamed.",
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display on stderr."),
    ) -> None:
        """Replay recorded traffic through the policy: cost, models, shifts, what-ifs.

        Exit 0 when every gate passes, 1 when a gate is violated, 2 on bad input
        (arguments, unreadable traffic, policy load errors).
        """
        from routectl.simulate.run import SimulateArgs, SimulateFailed, run

        args = SimulateArgs(
            path=path,
            traffic=traffic,
            base=base,
            mapping=mapping,
            constants=constants,
            outages=outage,
            price_changes=price_change,
            max_cost_increase=max_cost_increase,
            fail_on_unroutable=fail_on_unroutable,
            max_shift=max_shift,
            on_error=on_error.value,
            spend=spend,
            escalation_logs=escalation_log,
            engine=engine.value,
            spark_master=spark_master,
            decisions_out=decisions_out,
        )
        if spark_master is not None and engine is not EngineName.spark:
            stderr.print("[bold red]error[/] --spark-master needs --engine spark")
            raise typer.Exit(Exit.USAGE)
        if (max_cost_increase is not None or max_shift is not None) and base is None:
            stderr.print(
                "[bold red]error:[/] --max-cost-increase and --max-shift compare with a base; "
                "pass --base REF_OR_PATH"
            )
            raise typer.Exit(Exit.USAGE)
        head = load_policy([path])
        base_loaded = None
        base_ref = None
        if base is not None:
            from routectl.loader.git_source import GitSourceError, load_ref_or_path

            try:
                result, base_ref = load_ref_or_path(base, path)
            except GitSourceError as exc:
                stderr.print(f"[bold red]error:[/] --base: {_escape(str(exc))}")
                stderr.print("      [dim]fix: pass a git ref of PATH or a policy directory[/]")
                raise typer.Exit(Exit.USAGE) from None
            base_loaded = require_policy(result)
        try:
            with _progress(not quiet and sys.stderr.isatty()) as step:
                report = run(args, head, base_loaded, base_ref, step)
        except SimulateFailed as exc:
            for line in exc.lines:
                stderr.print(f"[bold red]error:[/] {_escape(line)}")
            if exc.hint:
                stderr.print(f"      [dim]fix: {_escape(exc.hint)}[/]")
            raise typer.Exit(Exit.USAGE) from None

        from routectl.simulate import render

        if output_format is not SimulateFormat.text:  # the text report says it itself
            for warning in report.get("warnings", []):
                stderr.print(f"[yellow]warning:[/] {_escape(warning['message'])}")
                stderr.print(f"      [dim]fix: {_escape(warning['fix'])}[/]")
        if output_format is SimulateFormat.json:
            typer.echo(render.to_json(report))
        elif output_format is SimulateFormat.markdown:
            typer.echo(render.to_markdown(report), nl=False)
        else:
            render.print_text(report, stdout)
        passed = all(gate["passed"] for gate in report["gates"])
        raise typer.Exit(Exit.OK if passed else Exit.FAILED)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


PROGRESS_AFTER_S = 2.0
STAGES = ("reading traffic", "planning request groups", "writing decisions", "aggregating")


@contextmanager
def _progress(enabled: bool):
    """Stages and elapsed time on stderr, shown only once a replay has run for
    ``PROGRESS_AFTER_S`` (a short replay prints nothing); off in CI logs and pipes."""
    if not enabled:
        yield lambda _message: None
        return
    import threading

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )
    task = progress.add_task("replaying", total=len(STAGES))
    timer = threading.Timer(PROGRESS_AFTER_S, progress.start)
    timer.daemon = True
    timer.start()

    def step(message: str) -> None:
        done = STAGES.index(message) if message in STAGES else 0
        progress.update(task, description=message, completed=done)

    try:
        yield step
    finally:
        timer.cancel()
        timer.join()
        progress.stop()
