"""``routectl explain``: where one request would go, and why."""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from routectl.cli.common import Exit, load_policy, stdout
from routectl.core.evaluator import decide
from routectl.core.failover import Walk, down_models, outage, walk
from routectl.core.manifest import Capability
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
        input_tokens: int = typer.Option(
            1000, "--input-tokens", min=0, help="Prompt tokens (cost, context window)."
        ),
        output_tokens: int = typer.Option(
            256, "--output-tokens", min=0, help="Expected answer tokens (cost)."
        ),
        metadata: list[str] = typer.Option([], "--metadata", help="KEY=VALUE, repeatable."),
        request_id: str = typer.Option(None, "--request-id", help="Sticky key for splits."),
        session: str = typer.Option(None, "--session", help="Session key for sticky splits."),
        prompt: str = typer.Option(None, "--prompt", help="Prompt text for intent rules."),
        budget_used: str = typer.Option(
            None,
            "--budget-used",
            help="Share of the consumer's budgets spent, e.g. 85%; needs --consumer.",
        ),
        requires: list[str] = typer.Option(
            [],
            "--requires",
            help="A capability the request needs (vision, tools, json, ...); repeatable.",
        ),
        model: str = typer.Option(
            None, "--model", help="The model the client asks for (name or alias; 'auto': any)."
        ),
        down: list[str] = typer.Option(
            [], "--down", help="A provider or model that is down; repeatable."
        ),
        output_format: ExplainFormat = typer.Option(
            ExplainFormat.text, "--format", help="Output format."
        ),
    ) -> None:
        """Explain the routing decision for one request.

        Exit 0 when the request is routable (and, with --down, something answers), 1 when
        it is not, 2 on bad input.
        """
        needs = _capabilities(requires)
        loaded = load_policy(paths)
        budget = None
        if budget_used is not None:
            budget = _budget_state(loaded.policy, consumer, budget_used)
        unknown = [n for n in down if n not in loaded.policy.models]
        unknown = [n for n in unknown if n not in loaded.policy.providers]
        if unknown:
            raise typer.BadParameter(
                f"no provider or model named {', '.join(unknown)}", param_hint="--down"
            )
        request = Request(
            intent=intent,
            classification=classification,
            language=language,
            consumer=consumer,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            metadata=parse_pairs(metadata, "--metadata"),
            request_id=request_id,
            session=session,
            prompt=prompt,
            budget=budget,
            requires=needs,
            model=model,
        )
        decision = decide(loaded.policy, request)
        walked = None
        if down and decision.routable:
            walked = walk(
                decision.chain(), decision.triggers, outage(down_models(loaded.policy, down))
            )
        if output_format is ExplainFormat.json:
            payload = decision_as_dict(decision)
            if down:
                payload["down"] = sorted(down)
                payload["served_by"] = walked.answered if walked is not None else None
                payload["failed"] = (
                    [{"model": m, "outcome": o.kind.value} for m, o in walked.failed]
                    if walked is not None
                    else []
                )
            typer.echo(json.dumps(payload, indent=2))
        else:
            _print_text(decision, walked)
        served = decision.routable and (walked is None or walked.answered is not None)
        raise typer.Exit(Exit.OK if served else Exit.FAILED)


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


def _capabilities(values: list[str]) -> frozenset[str]:
    known = {c.value for c in Capability}
    needs = {item.strip() for value in values for item in value.split(",") if item.strip()}
    wrong = sorted(needs - known)
    if wrong:
        raise typer.BadParameter(
            f"unknown capability {', '.join(wrong)} (one of {', '.join(sorted(known))})",
            param_hint="--requires",
        )
    return frozenset(needs)


def _print_text(decision: Decision, walked: Walk | None) -> None:
    if decision.routable:
        stdout.print(f"[bold green]→ {decision.primary}[/]  via route [bold]{decision.route}[/]")
        if decision.fallbacks:
            triggers = ", ".join(sorted(decision.triggers))
            if any(step.code == "strategy.cascade" for step in decision.trace):
                triggers += "; and on an answer failing the route's cascade checks"
            stdout.print(f"  fallbacks: {' → '.join(decision.fallbacks)}  (on {triggers})")
        if decision.shadows:
            stdout.print(f"  shadow copies: {', '.join(decision.shadows)}")
        if decision.experiment:
            stdout.print(f"  experiment {decision.experiment}: arm {decision.arm}")
        elif decision.arm not in (None, "primary"):
            stdout.print(f"  arm: {decision.arm}")
        if walked is not None:
            for model, outcome in walked.failed:
                stdout.print(f"  {model}: {outcome.kind.value}", markup=False)
            if walked.answered is not None:
                stdout.print(f"[bold green]  served by {walked.answered}[/]")
            else:
                stdout.print(f"[bold red]  ✗ nothing answers[/]: {walked.reason}")
    else:
        stdout.print(f"[bold red]✗ unroutable[/]: {decision.unroutable_reason}")
    stdout.print("[dim]trace:[/]")
    for index, step in enumerate(decision.trace, 1):
        stdout.print(f"  {index}. {step.detail}", markup=False)
