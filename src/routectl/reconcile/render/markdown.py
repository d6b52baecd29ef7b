"""The markdown rendering of a plan, for a pull-request comment (templates/plan.md.j2)."""

from __future__ import annotations

from routectl.reconcile.apply import summary_line
from routectl.reconcile.plan import PlanDoc
from routectl.reconcile.render import created_fields, field_text
from routectl.report.markdown import code, render

ICON = {"create": "➕ create", "update": "✏️ update", "delete": "🗑️ delete"}


def plan_markdown(plan: PlanDoc, max_rows: int | None = None) -> str:
    """The plan as markdown; ``max_rows`` lists that many changes and counts the rest."""
    source = plan.source.path + (f"@{plan.source.revision[:12]}" if plan.source.revision else "")
    rows = []
    for change in plan.resource_changes:
        fields = [code(field_text(f)) for f in change.changed_fields]
        if change.action == "create":
            fields = [code(line) for line in created_fields(change.after)]
        if change.action == "update" and change.unchanged_fields:
            fields.append(f"_{change.unchanged_fields} unchanged fields hidden_")
        rows.append({"action": ICON[change.action], "address": change.address, "fields": fields})
    more = 0
    if max_rows is not None and len(rows) > max_rows:
        rows, more = rows[:max_rows], len(rows) - max_rows
    return render(
        "plan.md.j2", plan=plan, source=source, rows=rows, more=more, summary=summary_line(plan)
    ).rstrip("\n")
