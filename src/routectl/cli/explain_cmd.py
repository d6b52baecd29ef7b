"""``routectl explain``: where one request would go, and why."""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from routectl.cli.common import Exit, load_policy, stdout
from routectl.core.evaluator import decide
from routectl.core.request import Decision, Request, decision_as_dict


class ExplainFormat(StrEnum):
    text = "text"
    json = "json"


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        out[key] = value
    return out


def register(app: typer.Typer) -> None:
    @app.command("explain")
    def explain(
        paths: list[str] = typer.Argument(..., help="Policy directories or manifest files."),
        intent: str = typer.Option(None, "--intent", help="The request's intent."),
        classification: str = typer.Option(
            None, "--classification", help="Data classification (missing: the strictest)."
        ),
        language: str = typer.Option(None, "--language", help="ISO 639-1 language code."),
        consumer: str = typer.Option(None, "--consumer", help="Calling consumer."),
        input_tokens: int = typer.Option(1000, "--input-tokens", min=0),
        output_tokens: int = typer.Option(256, "--output-tokens", min=0),
        metadata: list[str] = typer.Option([], "--metadata", help="KEY=VALUE, repeatable."),
        request_id: str = typer.Option(None, "--request-id", help="Sticky key for splits."),
        prompt: str = typer.Option(None, "--prompt", help="Prompt text for intent rules."),
        budget_used: str = typer.Option(
            None,
            "--budget-used",
            help="Share of the consumer's budgets spent, e.g. 85%; needs --consumer.",
        ),
        output_format: ExplainFormat = typer.Option(ExplainFormat.text, "--format"),
    ) -> None:
        """Explain the routing decision for one request.

        Exit 0 when the request is routable, 1 when it is not, 2 on bad input.
        """
        loaded = load_policy(paths)
        budget = None
        if budget_used is not None:
            budget = _budget_state(loaded.policy, consumer, budget_used)
        request = Request(
            intent=intent,
            classification=classification,
            language=language,
            consumer=consumer,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            metadata=parse_pairs(metadata, "--metadata"),
            request_id=request_id,
            prompt=prompt,
            budget=budget,
        )
        decision = decide(loaded.policy, request)
        if output_format is ExplainFormat.json:
            typer.echo(json.dumps(decision_as_dict(decision), indent=2))
        else:
            _print_text(decision)
        raise typer.Exit(Exit.OK if decision.routable else Exit.FAILED)


def _budget_state(policy, consumer: str | None, text: str):
    from routectl.core.budgets import state_at

    try:
        fraction = float(text.strip().rstrip("%")) / 100.0
    except ValueError:
        raise typer.BadParameter(
            f"expected a percentage such as 85%, got {text!r}", param_hint="--budget-used"
        ) from None
    if consumer is None or consumer not in policy.consumers:
        raise typer.BadParameter(
            "names the share of a consumer's budgets: pass --consumer with a defined consumer",
            param_hint="--budget-used",
        )
    if not policy.consumers[consumer].budgets:
        raise typer.BadParameter(f"consumer {consumer} has no budget", param_hint="--budget-used")
    return state_at(policy.consumers[consumer].budgets, fraction)


def _print_text(decision: Decision) -> None:
    if decision.routable:
        stdout.print(f"[bold green]→ {decision.primary}[/]  via route [bold]{decision.route}[/]")
        if decision.fallbacks:
            stdout.print(
                f"  fallbacks: {' → '.join(decision.fallbacks)}  "
                f"(on {', '.join(sorted(decision.triggers))})"
            )
        if decision.shadows:
            stdout.print(f"  shadow copies: {', '.join(decision.shadows)}")
        if decision.experiment:
            stdout.print(f"  experiment {decision.experiment}: arm {decision.arm}")
    else:
        stdout.print(f"[bold red]✗ unroutable[/]: {decision.unroutable_reason}")
    stdout.print("[dim]trace:[/]")
    for index, step in enumerate(decision.trace, 1):
        stdout.print(f"  {index}. {step.detail}", markup=False)
