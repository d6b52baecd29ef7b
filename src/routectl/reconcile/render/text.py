"""The terminal rendering of a plan, in the spirit of ``terraform plan``."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from routectl.reconcile.apply import summary_line
from routectl.reconcile.plan import PlanDoc
from routectl.reconcile.render import created_fields, field_text

SYMBOL = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}


def print_plan(plan: PlanDoc, console: Console) -> None:
    source = plan.source.path + (f"@{plan.source.revision[:12]}" if plan.source.revision else "")
    console.print(
        Text(f"{source} -> {plan.gateway} (revision {plan.base_revision}), owner {plan.owner}")
    )
    console.print()
    for change in plan.resource_changes:
        symbol, style = SYMBOL[change.action]
        line = Text(f"  {symbol} {change.address}", style=style)
        if change.action == "update" and change.unchanged_fields:
            line.append(f"  ({change.unchanged_fields} unchanged fields hidden)", style="dim")
        console.print(line)
        for field in change.changed_fields:
            console.print(Text(f"      {field_text(field)}"))
        if change.action == "create":
            for line in created_fields(change.after):
                console.print(Text(f"      {line}", style="green"))
    for skip in plan.skipped:
        console.print(Text(f"  ! {skip.address}: {skip.action} skipped: {skip.reason}", "magenta"))
    if plan.resource_changes or plan.skipped:
        console.print()
    if not plan.in_sync:
        console.print(Text(summary_line(plan), style="bold" if plan.has_changes else "bold yellow"))
    else:
        console.print(
            Text(
                f"No changes. The gateway (revision {plan.base_revision}) matches the manifests.",
                style="bold green",
            )
        )
